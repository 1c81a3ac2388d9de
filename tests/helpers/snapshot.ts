import { sql } from 'drizzle-orm'
import type { Database } from '../../src/db/types'

/** A digest of every row of every table, minus bookkeeping a refused call may touch (a key's last use). */
export async function databaseSnapshot(db: Database) {
  const tables = (await db.execute(sql`select tablename from pg_tables where schemaname = 'public' order by tablename`)) as unknown as { rows?: { tablename: string }[] } & { tablename: string }[]
  const names = (tables.rows ?? tables).map((row) => row.tablename)
  const state: Record<string, string> = {}
  for (const name of names) {
    const result = (await db.execute(
      sql.raw(`select md5(coalesce(string_agg(x, '|' order by x), '')) as digest from (select (to_jsonb(t) - 'last_used_at')::text as x from "${name}" t) rows`),
    )) as unknown as { rows?: { digest: string }[] } & { digest: string }[]
    state[name] = (result.rows ?? result)[0]!.digest
  }
  return state
}
