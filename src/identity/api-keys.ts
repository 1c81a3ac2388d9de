import { and, desc, eq, inArray, isNull } from 'drizzle-orm'
import type { ServiceContext } from '../lib/context'
import { base64url, randomBytes, sha256Hex } from '../lib/crypto'
import { ApiError, notFound } from '../lib/errors'
import { isUuid } from '../lib/uuid'
import { requirePrincipal, requireScope } from './principal'
import { loadTeamAs, requireRole } from './teams'
import type { Scope } from './tables'
import { apiKeys, teamMembers, teams } from './tables'

export const API_KEY_PREFIX = 'rfy_'
// What is shown to identify a key after creation: the fixed prefix and 8 random characters.
const VISIBLE_PREFIX_LENGTH = API_KEY_PREFIX.length + 8

type ApiKeyRow = typeof apiKeys.$inferSelect

const toApiKeyView = (key: ApiKeyRow, teamSlug: string | null) => ({
  id: key.id,
  name: key.name,
  prefix: key.prefix,
  scopes: key.scopes,
  team: teamSlug,
  createdAt: key.createdAt.toISOString(),
  lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
  revokedAt: key.revokedAt?.toISOString() ?? null,
})

export async function createApiKey(ctx: ServiceContext, input: { name: string; scopes: Scope[]; team?: string }) {
  const caller = requireScope(ctx.principal, 'admin')
  // A key never mints a key wider than itself.
  if (caller.teamId && !input.team) {
    throw new ApiError('key_team_mismatch', 'A team-bound API key can only create keys for its team.')
  }
  let teamId: string | null = null
  if (input.team) {
    const { team, role } = await loadTeamAs(ctx.db, caller, input.team)
    requireRole(role, ['owner', 'admin'], 'create team API keys')
    teamId = team.id
  }

  const key = API_KEY_PREFIX + base64url(randomBytes(32))
  const [row] = await ctx.db
    .insert(apiKeys)
    .values({
      userId: caller.userId,
      teamId,
      name: input.name.trim(),
      prefix: key.slice(0, VISIBLE_PREFIX_LENGTH),
      keyHash: await sha256Hex(key),
      scopes: [...new Set(input.scopes)],
    })
    .returning()
  if (!row) throw new Error('insert returned no key')
  return { key, apiKey: toApiKeyView(row, input.team ?? null) }
}

/** The caller's keys; a team-bound key sees only its user's keys bound to the same team. */
export async function listApiKeys(ctx: ServiceContext) {
  const caller = requireScope(ctx.principal, 'admin')
  const rows = await ctx.db
    .select({ key: apiKeys, teamSlug: teams.slug })
    .from(apiKeys)
    .leftJoin(teams, eq(teams.id, apiKeys.teamId))
    .where(and(eq(apiKeys.userId, caller.userId), caller.teamId ? eq(apiKeys.teamId, caller.teamId) : undefined))
    .orderBy(desc(apiKeys.createdAt))
  return { items: rows.map((row) => toApiKeyView(row.key, row.teamSlug)) }
}

/**
 * Revokes a key the caller created, or any key of a team the caller owns or administers.
 * Revoking twice answers the same revoked key. Keys the caller may not see are "not found".
 */
export async function revokeApiKey(ctx: ServiceContext, id: string) {
  // Any key may revoke itself (a CLI logging out); revoking others takes the admin scope.
  const caller = ctx.principal?.apiKeyId === id ? requirePrincipal(ctx.principal) : requireScope(ctx.principal, 'admin')
  // Postgres reads a uuid in either case.
  const [row] = isUuid(id.toLowerCase())
    ? await ctx.db
        .select({ key: apiKeys, teamSlug: teams.slug })
        .from(apiKeys)
        .leftJoin(teams, eq(teams.id, apiKeys.teamId))
        .where(eq(apiKeys.id, id))
        .limit(1)
    : []
  if (!row || !(await mayManageKey(ctx, row.key))) throw notFound('The API key')
  if (caller.teamId && row.key.teamId !== caller.teamId) throw notFound('The API key')

  const [revoked] = await ctx.db
    .update(apiKeys)
    .set({ revokedAt: ctx.clock(), updatedAt: ctx.clock() })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning()
  return { apiKey: toApiKeyView(revoked ?? row.key, row.teamSlug) }
}

async function mayManageKey(ctx: ServiceContext, key: ApiKeyRow): Promise<boolean> {
  const userId = ctx.principal?.userId
  if (!userId) return false
  if (key.userId === userId) return true
  if (!key.teamId) return false
  const [membership] = await ctx.db
    .select({ role: teamMembers.role })
    .from(teamMembers)
    .where(
      and(
        eq(teamMembers.teamId, key.teamId),
        eq(teamMembers.userId, userId),
        inArray(teamMembers.role, ['owner', 'admin']),
      ),
    )
    .limit(1)
  return membership !== undefined
}
