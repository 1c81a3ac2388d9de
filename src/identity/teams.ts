import { and, eq } from 'drizzle-orm'
import type { ServiceContext } from '../lib/context'
import { ApiError, notFound } from '../lib/errors'
import type { Database } from '../db/types'
import { uniqueViolation } from '../db/types'
import { assertKeyMayActFor, requireScope } from './principal'
import type { Holder, Principal } from './principal'
import type { TeamRole } from './tables'
import { teamMembers, teams, users } from './tables'

export type TeamView = { id: string; slug: string; name: string; createdAt: string }

export const toTeamView = (team: typeof teams.$inferSelect): TeamView => ({
  id: team.id,
  slug: team.slug,
  name: team.name,
  createdAt: team.createdAt.toISOString(),
})

/**
 * Team slugs share the storefront's top-level path space (/{team}/{slug}): these first path
 * segments belong to other pages and to the API, so no team takes them, and the storefront never
 * reads them as a team.
 */
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  'v1', 'api', 'docs', 'health', 'openapi.json', 'login', 'logout', 'signup', 'me', 'teams', 'adapters',
  'base-models', 'admin', 'settings', 'static', 'assets', 'files', 'search', 'new', 'refinery',
])

export async function createTeam(ctx: ServiceContext, input: { slug: string; name: string }) {
  const caller = requireScope(ctx.principal, 'admin')
  if (caller.teamId) throw new ApiError('key_team_mismatch', 'A team-bound API key cannot create teams.')
  if (RESERVED_SLUGS.has(input.slug)) {
    throw new ApiError('team_slug_taken', `The slug '${input.slug}' is reserved.`)
  }
  try {
    return await ctx.db.transaction(async (tx) => {
      const [team] = await tx.insert(teams).values({ slug: input.slug, name: input.name.trim() }).returning()
      if (!team) throw new Error('insert returned no team')
      await tx.insert(teamMembers).values({ teamId: team.id, userId: caller.userId, role: 'owner' })
      return { team: toTeamView(team), role: 'owner' as const }
    })
  } catch (error) {
    if (uniqueViolation(error) !== undefined) {
      throw new ApiError('team_slug_taken', `The team slug '${input.slug}' is taken.`)
    }
    throw error
  }
}

/** The team and the caller's role in it; 404 for an unknown team, 403 for a non-member. */
export async function loadTeamAs(db: Database, principal: Principal, slug: string) {
  const [row] = await db
    .select({ team: teams, role: teamMembers.role })
    .from(teams)
    .leftJoin(teamMembers, and(eq(teamMembers.teamId, teams.id), eq(teamMembers.userId, principal.userId)))
    .where(eq(teams.slug, slug))
    .limit(1)
  if (!row) throw notFound(`The team '${slug}'`)
  if (!row.role) throw new ApiError('not_team_member', `You are not a member of the team '${slug}'.`)
  assertKeyMayActFor(principal, row.team.id)
  return { team: row.team, role: row.role }
}

/**
 * Who a write is for: the team the caller names (loaded as the caller), else a team-bound key's
 * own team, else the user personally. A bound key never writes as its user or another team.
 */
export async function loadHolder(
  db: Database,
  principal: Principal,
  slug: string | undefined,
): Promise<{ holder: Holder; team?: typeof teams.$inferSelect; role?: TeamRole }> {
  let teamSlug = slug
  if (teamSlug === undefined && principal.teamId) {
    const [bound] = await db.select({ slug: teams.slug }).from(teams).where(eq(teams.id, principal.teamId))
    if (!bound) throw notFound('The API key’s team')
    teamSlug = bound.slug
  }
  if (teamSlug === undefined) return { holder: { kind: 'user', userId: principal.userId } }
  const { team, role } = await loadTeamAs(db, principal, teamSlug)
  return { holder: { kind: 'team', teamId: team.id }, team, role }
}

/** Whether the user (whatever key they call with) belongs to the team. */
export async function belongsTo(db: Database, userId: string, teamId: string): Promise<boolean> {
  const [row] = await db
    .select({ userId: teamMembers.userId })
    .from(teamMembers)
    .where(and(eq(teamMembers.teamId, teamId), eq(teamMembers.userId, userId)))
    .limit(1)
  return row !== undefined
}

export function requireRole(role: TeamRole, allowed: readonly TeamRole[], action: string): void {
  if (!allowed.includes(role)) {
    throw new ApiError('insufficient_role', `Your role '${role}' does not allow you to ${action}.`)
  }
}

export async function listTeamMembers(ctx: ServiceContext, slug: string) {
  const caller = requireScope(ctx.principal, 'read')
  const { team } = await loadTeamAs(ctx.db, caller, slug)
  const rows = await ctx.db
    .select({ user: users, role: teamMembers.role, joinedAt: teamMembers.createdAt })
    .from(teamMembers)
    .innerJoin(users, eq(users.id, teamMembers.userId))
    .where(eq(teamMembers.teamId, team.id))
    .orderBy(teamMembers.createdAt, users.email)
  return { items: rows.map((row) => memberView(row.user, row.role, row.joinedAt)) }
}

export const memberView = (user: Pick<typeof users.$inferSelect, 'id' | 'email' | 'name'>, role: TeamRole, joinedAt: Date) => ({
  userId: user.id,
  email: user.email,
  name: user.name,
  role,
  joinedAt: joinedAt.toISOString(),
})
