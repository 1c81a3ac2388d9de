import { lt, sql } from 'drizzle-orm'
import type { Database } from '../db/types'
import { sha256Hex } from './crypto'
import type { RateLimiter } from './rate-limit'
import { rateLimitWindows } from './rate-limit-tables'

/**
 * `limit` events per fixed window, counted in Postgres: exact across every process and isolate
 * that reaches the same database. Windows are aligned to the epoch (every process computes the
 * same one from its clock), and each event is one statement: an atomic upsert on the key's row
 * (the first of a window resets the count, later ones add to it only while under the limit, so
 * concurrent events never admit more than `limit`), skipped without a lock when the row already
 * shows the key over its limit. A refused event writes nothing.
 *
 * `db` is called on every event: on Workers each request brings its own database client.
 * `name` tells limiters apart that share a key (it is hashed into the row's key).
 */
export function createPostgresRateLimiter(
  db: () => Database,
  options: { name: string; limit: number; windowSeconds: number; clock?: () => Date },
): RateLimiter {
  const windowMs = options.windowSeconds * 1000
  const now = () => (options.clock ? options.clock().getTime() : Date.now())
  return {
    async take(key) {
      const at = now()
      const endsAt = new Date((Math.floor(at / windowMs) + 1) * windowMs)
      const hashed = await sha256Hex(`${options.name}\n${key}`)
      const admitted = await db()
        .insert(rateLimitWindows)
        // A key already over its limit in this window (as this statement's snapshot sees it) is
        // refused by a plain read: a flood on one key takes no row lock and writes nothing.
        .select(
          sql`select ${hashed}, ${endsAt.toISOString()}::timestamptz, 1 where not exists (
            select 1 from ${rateLimitWindows}
            where ${rateLimitWindows.key} = ${hashed} and ${rateLimitWindows.endsAt} >= ${endsAt.toISOString()}::timestamptz and ${rateLimitWindows.count} >= ${options.limit})`,
        )
        .onConflictDoUpdate({
          target: rateLimitWindows.key,
          set: {
            // A process whose clock lags counts into the newer window the row already holds.
            count: sql`case when excluded.ends_at > ${rateLimitWindows.endsAt} then 1 else ${rateLimitWindows.count} + 1 end`,
            endsAt: sql`greatest(excluded.ends_at, ${rateLimitWindows.endsAt})`,
          },
          setWhere: sql`excluded.ends_at > ${rateLimitWindows.endsAt} or ${rateLimitWindows.count} < ${options.limit}`,
        })
        .returning({ count: rateLimitWindows.count })
      if (admitted.length > 0) return undefined
      return { retryAfterSeconds: Math.max(1, Math.ceil((endsAt.getTime() - at) / 1000)) }
    },
  }
}

/** Upkeep: rows whose window has ended count nothing any more. */
export async function deleteEndedRateLimitWindows(db: Database, now: Date) {
  await db.delete(rateLimitWindows).where(lt(rateLimitWindows.endsAt, now))
}
