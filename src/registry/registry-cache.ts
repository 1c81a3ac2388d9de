import { and, asc, eq, gt, ne, or, type SQL, sql } from 'drizzle-orm'
import type { Database } from '../db/types'
import { teamMembers } from '../identity'
import type { Principal } from '../identity'
import type { Deps, ServiceContext } from '../lib/context'
import type { BaseModel } from '../compat'
import { registeredBaseModels } from './tables'
import { type BaseAccess, checkedEntry, findBaseModel, type RegistryEntry, seededEntries, shapeSignature, shapeTwinsOf, toEntry } from './registry'

type Row = typeof registeredBaseModels.$inferSelect

/**
 * The verified registry (seeded bases, operator-verified registrations and merge aliases) held
 * in memory by one process or Worker isolate, so a compatibility check by base id does no I/O.
 * It holds plain data only (no client, no promise), and takes the database per call: safe to
 * keep across requests on Workers.
 *
 * Freshness: a registry write in this process (`registerBaseModel` by an operator,
 * `reviewBaseModel`) calls `invalidate`, and the next read reloads. Writes by other processes
 * are seen within `revalidateSeconds`: after that long, a read compares a fingerprint of the
 * verified rows (how many, and their latest `updated_at`: one aggregate row) and reloads only
 * when it changed. Bounded staleness is safe because the verified set only grows (verify,
 * operator registration, merge): nothing verified is ever unverified or deleted, so a stale copy
 * lacks the newest bases for a few seconds but never offers one that is gone. Pending
 * registrations are never cached: a caller's teams' pending rows, and their rows decided within
 * twice the bound, are read fresh on every read.
 */
export type RegistryCache = {
  /** The verified registry, at most `revalidateSeconds` behind other processes and never behind this one. */
  verified(db: Database, now: Date): Promise<VerifiedRegistry>
  /** A registry write in this process: the next read reloads. */
  invalidate(): void
  readonly revalidateSeconds: number
}

export type VerifiedRegistry = {
  /** Seeded, then registered by id (as `listRegistry`). */
  entries: readonly RegistryEntry[]
  /** By lower-cased id: verified bases, and merged ids resolved to their target. */
  byId: ReadonlyMap<string, RegistryEntry>
  /** Registered verified bases by shape signature. */
  bySignature: ReadonlyMap<string, readonly RegistryEntry[]>
}

export function createRegistryCache(options: { revalidateSeconds: number }): RegistryCache {
  const boundMs = options.revalidateSeconds * 1000
  // Bumped by every write in this process; a load started before a bump is not kept.
  let version = 0
  let current: { registry: VerifiedRegistry; fingerprint: string; version: number; checkedAt: number } | undefined
  return {
    revalidateSeconds: options.revalidateSeconds,
    async verified(db, now) {
      const at = now.getTime()
      // Loads are not shared between concurrent callers: on Workers a promise must not outlive its request.
      if (current && current.version === version) {
        if (at >= current.checkedAt && at - current.checkedAt < boundMs) return current.registry
        const kept = current
        if ((await verifiedFingerprint(db)) === kept.fingerprint) {
          if (current === kept) current = { ...kept, checkedAt: at }
          return kept.registry
        }
      }
      const seen = version
      const loaded = await loadVerified(db)
      if (seen === version) current = { ...loaded, version: seen, checkedAt: at }
      return loaded.registry
    },
    invalidate() {
      version += 1
    },
  }
}

const fingerprintOf = (count: number, latest: Date | string | null) => `${count}|${latest === null ? '' : new Date(latest).getTime()}`

/** What changes whenever a row becomes verified or merged (the set only grows), read in one aggregate row. */
async function verifiedFingerprint(db: Database): Promise<string> {
  const [row] = await db
    .select({ count: sql<number>`count(*)::int`, latest: sql<Date | string | null>`max(${registeredBaseModels.updatedAt})` })
    .from(registeredBaseModels)
    .where(ne(registeredBaseModels.status, 'pending'))
  return fingerprintOf(row?.count ?? 0, row?.latest ?? null)
}

async function loadVerified(db: Database) {
  const rows = await db.select().from(registeredBaseModels).where(ne(registeredBaseModels.status, 'pending')).orderBy(asc(registeredBaseModels.id))
  let latest: Date | null = null
  for (const row of rows) if (!latest || row.updatedAt > latest) latest = row.updatedAt
  const verified = rows.filter((row) => row.status === 'verified').map(toEntry)
  const byId = new Map<string, RegistryEntry>(seededEntries.map((base) => [base.id.toLowerCase(), base]))
  for (const entry of verified) byId.set(entry.id.toLowerCase(), entry)
  for (const row of rows) {
    const target = row.mergedInto === null ? undefined : byId.get(row.mergedInto.toLowerCase())
    if (target && row.id.toLowerCase() !== target.id.toLowerCase()) byId.set(row.id.toLowerCase(), target)
  }
  const bySignature = new Map<string, RegistryEntry[]>()
  for (const entry of verified) bySignature.set(entry.shapeSignature, [...(bySignature.get(entry.shapeSignature) ?? []), entry])
  const registry: VerifiedRegistry = { entries: [...seededEntries, ...verified], byId, bySignature }
  return { registry, fingerprint: fingerprintOf(rows.length, latest) }
}

/** Lookups a read-only verb makes in the registry as its caller may use it. */
export type RegistryReader = {
  find(id: string): Promise<RegistryEntry | undefined>
  /** The usable bases with the same layer shapes as `base` (itself excluded). */
  twinsOf(base: BaseModel): Promise<RegistryEntry[]>
}

/**
 * The registry as `access` sees it, for reads that write nothing. With the cache: the verified
 * registry from memory plus the rows of the caller's own teams read fresh (one small query, none
 * for an anonymous caller or `'verified'`). Without it: the indexed queries of `registry.ts`.
 */
export async function registryReader(ctx: Pick<ServiceContext, 'db' | 'clock'> & Pick<Deps, 'registry'>, access: BaseAccess): Promise<RegistryReader> {
  if (!ctx.registry) return { find: (id) => findBaseModel(ctx.db, id, access), twinsOf: (base) => shapeTwinsOf(ctx.db, base, access) }
  const now = ctx.clock()
  const verified = await ctx.registry.verified(ctx.db, now)
  // Decisions older than twice the bound are in every process's copy; newer ones are read with the pending rows.
  const own = await ownRows(ctx.db, access, new Date(now.getTime() - 2 * ctx.registry.revalidateSeconds * 1000))
  const ownById = new Map(own.map((row) => [row.id.toLowerCase(), row]))
  const find = (id: string): RegistryEntry | undefined => {
    const key = id.toLowerCase()
    const row = ownById.get(key)
    if (!row) return verified.byId.get(key)
    if (row.mergedInto === null) return toEntry(row)
    // A merged id resolves to its target (always a verified base), fresh when the target is the team's own.
    const target = row.mergedInto.toLowerCase()
    if (target === key) return undefined
    const ownTarget = ownById.get(target)
    return ownTarget ? (ownTarget.mergedInto === null ? toEntry(ownTarget) : undefined) : verified.byId.get(target)
  }
  return {
    find: async (id) => {
      const entry = find(id)
      return entry && checkedEntry(entry)
    },
    twinsOf: async (base) => {
      // A registry entry carries its signature; a base built from a config sent with the request is hashed here.
      const signature = 'shapeSignature' in base && typeof base.shapeSignature === 'string' ? base.shapeSignature : shapeSignature(base)
      const registered = new Map<string, RegistryEntry>()
      for (const entry of verified.bySignature.get(signature) ?? []) registered.set(entry.id, entry)
      for (const row of own) if (row.mergedInto === null && row.shapeSignature === signature) registered.set(row.id, toEntry(row))
      const sorted = [...registered.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      return [...seededEntries.filter((other) => other.shapeSignature === signature), ...sorted].filter((other) => other.id !== base.id)
    },
  }
}

/**
 * The registrations of the teams `access` names that a copy may not have, read fresh: pending
 * ones (capped per team) and those decided since `decidedAfter`, so a team sees its own decisions
 * at once in every process. Older decisions come from the cache, which keeps this read small.
 */
async function ownRows(db: Database, access: BaseAccess, decidedAfter: Date): Promise<Row[]> {
  if (access === 'verified') return []
  const fresh = or(eq(registeredBaseModels.status, 'pending'), gt(registeredBaseModels.updatedAt, decidedAfter)) as SQL
  if ('teamId' in access) return db.select().from(registeredBaseModels).where(and(eq(registeredBaseModels.teamId, access.teamId), fresh))
  const principal: Principal | null = access.principal
  if (!principal) return []
  return db
    .select({ row: registeredBaseModels })
    .from(registeredBaseModels)
    .innerJoin(teamMembers, eq(teamMembers.teamId, registeredBaseModels.teamId))
    .where(and(eq(teamMembers.userId, principal.userId), principal.teamId ? eq(teamMembers.teamId, principal.teamId) : undefined, fresh))
    .then((rows) => rows.map(({ row }) => row))
}
