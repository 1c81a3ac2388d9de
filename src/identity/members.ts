import { and, count, eq, isNull } from 'drizzle-orm'
import type { ServiceContext } from '../lib/context'
import { ApiError, notFound } from '../lib/errors'
import type { Database } from '../db/types'
import { requireScope } from './principal'
import { loadTeamAs, memberView, requireRole } from './teams'
import type { TeamRole } from './tables'
import { apiKeys, teamMembers, teams, users } from './tables'

type Team = typeof teams.$inferSelect

/**
 * Locks the team for a membership change (so two owners cannot demote or remove each other at
 * once and leave none) and reads the caller's role again under the lock.
 */
async function lockTeam(tx: Database, team: Team, userId: string): Promise<TeamRole> {
  await tx.select({ id: teams.id }).from(teams).where(eq(teams.id, team.id)).for('update')
  const [caller] = await tx
    .select({ role: teamMembers.role })
    .from(teamMembers)
    .where(and(eq(teamMembers.teamId, team.id), eq(teamMembers.userId, userId)))
  if (!caller) throw new ApiError('not_team_member', `You are not a member of the team '${team.slug}'.`)
  return caller.role
}

async function loadMember(tx: Database, team: Team, userId: string) {
  const [row] = await tx
    .select({ user: users, role: teamMembers.role, joinedAt: teamMembers.createdAt })
    .from(teamMembers)
    .innerJoin(users, eq(users.id, teamMembers.userId))
    .where(and(eq(teamMembers.teamId, team.id), eq(teamMembers.userId, userId)))
  if (!row) throw notFound('The member')
  return row
}

/** Refuses a change that would leave the team without an owner. */
async function assertNotLastOwner(tx: Database, team: Team, what: string) {
  const [owners] = await tx
    .select({ n: count() })
    .from(teamMembers)
    .where(and(eq(teamMembers.teamId, team.id), eq(teamMembers.role, 'owner')))
  if ((owners?.n ?? 0) <= 1) {
    throw new ApiError('last_owner', `The team '${team.slug}' needs an owner: make someone else owner before ${what}.`)
  }
}

/**
 * Ends a membership: the row goes, and the team-bound API keys the member created for this team
 * are revoked in the same transaction. Entitlements held by the team stop at once because
 * downloads and entitlement listings read membership on every request.
 */
async function endMembership(tx: Database, team: Team, userId: string, now: Date) {
  await tx.delete(teamMembers).where(and(eq(teamMembers.teamId, team.id), eq(teamMembers.userId, userId)))
  await tx
    .update(apiKeys)
    .set({ revokedAt: now, updatedAt: now })
    .where(and(eq(apiKeys.userId, userId), eq(apiKeys.teamId, team.id), isNull(apiKeys.revokedAt)))
}

/** Changes a member's role: owners and admins; only owners touch owners; the last owner stays. */
export async function updateTeamMember(ctx: ServiceContext, slug: string, userId: string, input: { role: TeamRole }) {
  const caller = requireScope(ctx.principal, 'admin')
  const { team } = await loadTeamAs(ctx.db, caller, slug)
  return ctx.db.transaction(async (tx) => {
    const role = await lockTeam(tx, team, caller.userId)
    requireRole(role, ['owner', 'admin'], 'change roles')
    const member = await loadMember(tx, team, userId)
    if (member.role === 'owner') requireRole(role, ['owner'], "change an owner's role")
    if (input.role === 'owner') requireRole(role, ['owner'], 'make owners')
    if (member.role === 'owner' && input.role !== 'owner') await assertNotLastOwner(tx, team, 'this one steps down')
    const now = ctx.clock()
    await tx
      .update(teamMembers)
      .set({ role: input.role, updatedAt: now })
      .where(and(eq(teamMembers.teamId, team.id), eq(teamMembers.userId, userId)))
    return memberView(member.user, input.role, member.joinedAt)
  })
}

/** Removes a member: owners and admins (only owners remove owners; the last owner stays). */
export async function removeTeamMember(ctx: ServiceContext, slug: string, userId: string) {
  const caller = requireScope(ctx.principal, 'admin')
  const { team } = await loadTeamAs(ctx.db, caller, slug)
  return ctx.db.transaction(async (tx) => {
    const role = await lockTeam(tx, team, caller.userId)
    // Removing yourself is leaving, which any member may do.
    if (userId !== caller.userId) requireRole(role, ['owner', 'admin'], 'remove members')
    const member = await loadMember(tx, team, userId)
    if (member.role === 'owner') {
      requireRole(role, ['owner'], 'remove owners')
      await assertNotLastOwner(tx, team, 'removing this one')
    }
    await endMembership(tx, team, userId, ctx.clock())
    return memberView(member.user, member.role, member.joinedAt)
  })
}

/** The caller leaves the team (the last owner cannot). */
export async function leaveTeam(ctx: ServiceContext, slug: string) {
  const caller = requireScope(ctx.principal, 'admin')
  const { team } = await loadTeamAs(ctx.db, caller, slug)
  return ctx.db.transaction(async (tx) => {
    await lockTeam(tx, team, caller.userId)
    const member = await loadMember(tx, team, caller.userId)
    if (member.role === 'owner') await assertNotLastOwner(tx, team, 'leaving')
    await endMembership(tx, team, caller.userId, ctx.clock())
    return memberView(member.user, member.role, member.joinedAt)
  })
}
