import { eq, sql } from 'drizzle-orm'
import type { Database } from '../db/types'
import type { Deps, ServiceContext } from '../lib/context'
import { ApiError } from '../lib/errors'
import { requireScope } from './principal'
import { users } from './tables'

/**
 * How long this process trusts a user's token version read from the database. Logout through
 * this process takes effect at once (it updates the memory); through another process (a second
 * Node server), a revoked token may work here for at most this long. Without the memory every
 * request with an access token — every download — would cost a database round trip.
 */
export const TOKEN_VERSION_MEMORY_MS = 5_000
/** Users remembered per database client (oldest forgotten first); about 1 MB. */
const VERSIONS_KEPT = 10_000

type Memory = Map<string, { version: number; readAt: number }>
// Per database client, like the prepared download query: on Workers a client lives for one request.
const memories = new WeakMap<Database, Memory>()

function memoryOf(db: Database): Memory {
  let memory = memories.get(db)
  if (!memory) memories.set(db, (memory = new Map()))
  return memory
}

/** Versions only grow: a read that raced a logout cannot bring the old version back. */
function remember(memory: Memory, userId: string, version: number, now: number) {
  const previous = memory.get(userId)
  memory.delete(userId)
  if (memory.size >= VERSIONS_KEPT) memory.delete(memory.keys().next().value!)
  const entry = { version: Math.max(version, previous?.version ?? version), readAt: now }
  memory.set(userId, entry)
  return entry
}

export const tokenRevoked = () => new ApiError('token_revoked', 'This access token was revoked (signed out); log in again.')

/** Throws 401 `token_revoked` when the user signed out after this token was issued. */
export async function assertTokenCurrent(deps: Pick<Deps, 'db' | 'clock'>, userId: string, version: number) {
  const memory = memoryOf(deps.db)
  const now = deps.clock().getTime()
  let known = memory.get(userId)
  if (!known || now - known.readAt >= TOKEN_VERSION_MEMORY_MS || now < known.readAt) {
    const [user] = await deps.db.select({ version: users.tokenVersion }).from(users).where(eq(users.id, userId)).limit(1)
    if (!user) throw tokenRevoked()
    known = remember(memory, userId, user.version, now)
  }
  if (version < known.version) throw tokenRevoked()
}

/**
 * `logout`: revokes every access token of the caller (the storefront's cookie included); API
 * keys are revoked one by one with `revokeApiKey`. Only an access token may sign out: a key,
 * perhaps bound to a team, does not end its user's sessions.
 */
export async function logout(ctx: ServiceContext) {
  const caller = requireScope(ctx.principal, 'read')
  if (caller.via !== 'token') {
    throw new ApiError('access_token_required', 'Sign out with the access token; revoke an API key with revokeApiKey.')
  }
  const [user] = await ctx.db
    .update(users)
    .set({ tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: ctx.clock() })
    .where(eq(users.id, caller.userId))
    .returning({ version: users.tokenVersion })
  if (user) remember(memoryOf(ctx.db), caller.userId, user.version, ctx.clock().getTime())
}
