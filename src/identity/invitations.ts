import { and, count, desc, eq, gt, ne } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import type { Deps, ServiceContext } from '../lib/context'
import { ApiError, notFound } from '../lib/errors'
import type { Principal } from './principal'
import { requireScope } from './principal'
import { normalizeEmail } from './schemas'
import { loadTeamAs, requireRole } from './teams'
import type { TeamRole } from './tables'
import { teamInvitations, teamMembers, teams, users } from './tables'

export const DEFAULT_INVITATION_TTL_DAYS = 7
/** Open invitations a team may have at once: inviting is cheap, the invitees' lists are not theirs to fill. */
export const MAX_PENDING_INVITATIONS = 100
const LISTED_INVITATIONS = 200
const DAY_MS = 86_400_000

type InvitationRow = typeof teamInvitations.$inferSelect
type InviteContext = ServiceContext & Pick<Deps, 'invitationTtlDays'>

const inviter = alias(users, 'inviter')

/** The invitation as both sides see it; a pending one past its expiry reads `expired`. */
const toInvitationView = (row: InvitationRow, team: { slug: string; name: string }, invitedBy: string | null, now: Date) => ({
  id: row.id,
  team: team.slug,
  teamName: team.name,
  email: row.email,
  role: row.role,
  status: row.status === 'pending' && row.expiresAt <= now ? ('expired' as const) : row.status,
  invitedBy,
  expiresAt: row.expiresAt.toISOString(),
  createdAt: row.createdAt.toISOString(),
})

/**
 * `addTeamMember`: invites an email to the team. Nobody joins without accepting, and the answer
 * is the same whether or not the email has an account: no query here reads `users` by the
 * invited email, except the membership check, which tells the inviter only what the member list
 * already does. Inviting the same email again refreshes the open invitation.
 */
export async function inviteTeamMember(ctx: InviteContext, slug: string, input: { email: string; role: TeamRole }) {
  const caller = requireScope(ctx.principal, 'admin')
  const { team, role } = await loadTeamAs(ctx.db, caller, slug)
  requireRole(role, ['owner', 'admin'], 'invite members')
  if (input.role === 'owner') requireRole(role, ['owner'], 'invite owners')
  const email = normalizeEmail(input.email)
  const now = ctx.clock()
  const expiresAt = new Date(now.getTime() + (ctx.invitationTtlDays ?? DEFAULT_INVITATION_TTL_DAYS) * DAY_MS)
  const invitedBy = await nameOf(ctx, caller)

  return ctx.db.transaction(async (tx) => {
    const [member] = await tx
      .select({ userId: teamMembers.userId })
      .from(teamMembers)
      .innerJoin(users, eq(users.id, teamMembers.userId))
      .where(and(eq(teamMembers.teamId, team.id), eq(users.email, email)))
      .limit(1)
    if (member) throw new ApiError('already_member', `${email} is already a member of '${slug}'.`)
    const [open] = await tx
      .select({ n: count() })
      .from(teamInvitations)
      .where(and(eq(teamInvitations.teamId, team.id), eq(teamInvitations.status, 'pending'), gt(teamInvitations.expiresAt, now), ne(teamInvitations.email, email)))
    if ((open?.n ?? 0) >= MAX_PENDING_INVITATIONS) {
      throw new ApiError('too_many_invitations', `A team may have at most ${MAX_PENDING_INVITATIONS} open invitations; revoke some or wait for them to expire.`)
    }
    const [row] = await tx
      .insert(teamInvitations)
      .values({ teamId: team.id, email, role: input.role, invitedBy: caller.userId, expiresAt })
      .onConflictDoUpdate({
        target: [teamInvitations.teamId, teamInvitations.email],
        targetWhere: eq(teamInvitations.status, 'pending'),
        set: { role: input.role, invitedBy: caller.userId, expiresAt, updatedAt: now },
      })
      .returning()
    if (!row) throw new Error('upsert returned no invitation')
    return toInvitationView(row, team, invitedBy, now)
  })
}

async function nameOf(ctx: ServiceContext, caller: Principal) {
  const [user] = await ctx.db.select({ name: users.name }).from(users).where(eq(users.id, caller.userId)).limit(1)
  return user?.name ?? null
}

/** The team's open invitations (expired ones included, marked), newest first; owners and admins. */
export async function listTeamInvitations(ctx: ServiceContext, slug: string) {
  const caller = requireScope(ctx.principal, 'read')
  const { team, role } = await loadTeamAs(ctx.db, caller, slug)
  requireRole(role, ['owner', 'admin'], 'see invitations')
  const rows = await ctx.db
    .select({ invitation: teamInvitations, invitedBy: inviter.name })
    .from(teamInvitations)
    .leftJoin(inviter, eq(inviter.id, teamInvitations.invitedBy))
    .where(and(eq(teamInvitations.teamId, team.id), eq(teamInvitations.status, 'pending')))
    .orderBy(desc(teamInvitations.createdAt), desc(teamInvitations.id))
    .limit(LISTED_INVITATIONS)
  const now = ctx.clock()
  return { items: rows.map((row) => toInvitationView(row.invitation, team, row.invitedBy, now)) }
}

/** Withdraws an open invitation; only owners withdraw an invitation to become owner. */
export async function revokeTeamInvitation(ctx: ServiceContext, slug: string, id: string) {
  const caller = requireScope(ctx.principal, 'admin')
  const { team, role } = await loadTeamAs(ctx.db, caller, slug)
  requireRole(role, ['owner', 'admin'], 'revoke invitations')
  return ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(teamInvitations)
      .where(and(eq(teamInvitations.id, id), eq(teamInvitations.teamId, team.id)))
      .for('update')
    if (!row) throw notFound('The invitation')
    if (row.role === 'owner') requireRole(role, ['owner'], 'revoke invitations to become owner')
    if (row.status !== 'pending') throw notPending(row)
    const now = ctx.clock()
    const [revoked] = await tx
      .update(teamInvitations)
      .set({ status: 'revoked', decidedAt: now, updatedAt: now })
      .where(eq(teamInvitations.id, id))
      .returning()
    return toInvitationView(revoked ?? row, team, null, now)
  })
}

/** Invitations act on the user's own account: a key bound to a team may not take them. */
function requireSelf(principal: Principal | null, scope: 'read' | 'admin') {
  const caller = requireScope(principal, scope)
  if (caller.teamId) throw new ApiError('key_team_mismatch', "A team-bound API key cannot act on its holder's invitations.")
  return caller
}

async function emailOf(ctx: ServiceContext, caller: Principal) {
  const [user] = await ctx.db.select({ email: users.email }).from(users).where(eq(users.id, caller.userId)).limit(1)
  if (!user) throw notFound('The user')
  return user.email
}

/** `listMyInvitations`: the open invitations addressed to the caller's email. */
export async function listMyInvitations(ctx: ServiceContext) {
  const caller = requireSelf(ctx.principal, 'read')
  const email = await emailOf(ctx, caller)
  const now = ctx.clock()
  const rows = await ctx.db
    .select({ invitation: teamInvitations, team: { slug: teams.slug, name: teams.name }, invitedBy: inviter.name })
    .from(teamInvitations)
    .innerJoin(teams, eq(teams.id, teamInvitations.teamId))
    .leftJoin(inviter, eq(inviter.id, teamInvitations.invitedBy))
    .where(and(eq(teamInvitations.email, email), eq(teamInvitations.status, 'pending'), gt(teamInvitations.expiresAt, now)))
    .orderBy(desc(teamInvitations.createdAt), desc(teamInvitations.id))
    .limit(LISTED_INVITATIONS)
  return { items: rows.map((row) => toInvitationView(row.invitation, row.team, row.invitedBy, now)) }
}

function notPending(row: InvitationRow): ApiError {
  return new ApiError('invitation_not_pending', `This invitation was already ${row.status}.`, { extra: { invitationStatus: row.status } })
}

/**
 * Accepts or declines an invitation addressed to the caller's email. Anyone else's invitation is
 * "not found", so ids tell nothing. Accepting adds the membership and closes the invitation in
 * one transaction.
 */
export async function decideInvitation(ctx: ServiceContext, id: string, decision: 'accepted' | 'declined') {
  const caller = requireSelf(ctx.principal, 'admin')
  const email = await emailOf(ctx, caller)
  const now = ctx.clock()
  return ctx.db.transaction(async (tx) => {
    const [found] = await tx
      .select({ invitation: teamInvitations, team: { slug: teams.slug, name: teams.name }, invitedBy: inviter.name })
      .from(teamInvitations)
      .innerJoin(teams, eq(teams.id, teamInvitations.teamId))
      .leftJoin(inviter, eq(inviter.id, teamInvitations.invitedBy))
      .where(and(eq(teamInvitations.id, id), eq(teamInvitations.email, email)))
      .for('update', { of: teamInvitations })
    if (!found) throw notFound('The invitation')
    const { invitation } = found
    if (invitation.status !== 'pending') throw notPending(invitation)
    if (invitation.expiresAt <= now) {
      throw new ApiError('invitation_expired', 'This invitation has expired; ask the team to invite you again.')
    }
    if (decision === 'accepted') {
      // Someone already a member keeps the role they have.
      await tx.insert(teamMembers).values({ teamId: invitation.teamId, userId: caller.userId, role: invitation.role }).onConflictDoNothing()
    }
    const [decided] = await tx
      .update(teamInvitations)
      .set({ status: decision, decidedAt: now, updatedAt: now })
      .where(eq(teamInvitations.id, id))
      .returning()
    return toInvitationView(decided ?? invitation, found.team, found.invitedBy, now)
  })
}
