import { and, desc, eq } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import { adapters } from '../catalog'
import { requireScope } from '../identity'
import { teams, users } from '../identity'
import { loadTeamAs } from '../identity'
import type { ServiceContext } from '../lib/context'
import { ApiError, notFound } from '../lib/errors'
import { grantEntitlement, type Holder } from './entitlements'
import { accessRequests } from './tables'

type AccessRequestRow = typeof accessRequests.$inferSelect

export const accessRequestView = (request: AccessRequestRow, adapter: string, requester: typeof users.$inferSelect, requesterTeam: string | null) => ({
  id: request.id,
  adapter,
  offerId: request.offerId,
  license: request.license,
  requester: { userId: requester.id, name: requester.name, email: requester.email, team: requesterTeam },
  message: request.message,
  status: request.status,
  decisionNote: request.decisionNote,
  decidedAt: request.decidedAt?.toISOString() ?? null,
  createdAt: request.createdAt.toISOString(),
})

/** Requests for the team's on_request offers, newest first; any member may read them. */
export async function listAccessRequests(ctx: ServiceContext, teamSlug: string, query: { status?: AccessRequestRow['status'] }) {
  const caller = requireScope(ctx.principal, 'read')
  const { team } = await loadTeamAs(ctx.db, caller, teamSlug)
  const rows = await selectRequests(ctx)
    .where(and(eq(accessRequests.sellerTeamId, team.id), query.status ? eq(accessRequests.status, query.status) : undefined))
    .orderBy(desc(accessRequests.createdAt))
    .limit(500)
  return { items: rows.map(toView) }
}

/**
 * Approves (granting the entitlement in the same transaction) or rejects a pending request.
 * Only members of the seller team with the publish scope decide; a decision is final.
 */
export async function decideAccessRequest(ctx: ServiceContext, id: string, decision: 'approved' | 'rejected', note: string | undefined) {
  const caller = requireScope(ctx.principal, 'publish')
  const [row] = await selectRequests(ctx).where(eq(accessRequests.id, id))
  if (!row) throw notFound('The access request')
  await loadTeamAs(ctx.db, caller, row.sellerTeam) // 403 for anyone outside the seller team
  const now = ctx.clock()
  const decided = await ctx.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(accessRequests)
      .set({ status: decision, decidedByUserId: caller.userId, decidedAt: now, decisionNote: note ?? null, updatedAt: now })
      .where(and(eq(accessRequests.id, id), eq(accessRequests.status, 'pending')))
      .returning()
    if (!updated) return undefined
    if (decision === 'approved') {
      const holder: Holder = updated.requesterTeamId ? { kind: 'team', teamId: updated.requesterTeamId } : { kind: 'user', userId: updated.requesterUserId }
      await grantEntitlement(tx, { adapterId: updated.adapterId, holder, license: updated.license, source: 'access_request', sourceId: updated.id })
    }
    return updated
  })
  if (!decided) throw new ApiError('access_request_decided', `This request was already ${row.request.status}.`)
  return toView({ ...row, request: decided })
}

const requesterTeams = alias(teams, 'requester_teams')

function selectRequests(ctx: ServiceContext) {
  return ctx.db
    .select({ request: accessRequests, requester: users, sellerTeam: teams.slug, slug: adapters.slug, requesterTeam: requesterTeams.slug })
    .from(accessRequests)
    .innerJoin(users, eq(users.id, accessRequests.requesterUserId))
    .innerJoin(adapters, eq(adapters.id, accessRequests.adapterId))
    .innerJoin(teams, eq(teams.id, accessRequests.sellerTeamId))
    .leftJoin(requesterTeams, eq(requesterTeams.id, accessRequests.requesterTeamId))
}

type Selected = { request: AccessRequestRow; requester: typeof users.$inferSelect; sellerTeam: string; slug: string; requesterTeam: string | null }
const toView = (row: Selected) => accessRequestView(row.request, `${row.sellerTeam}/${row.slug}`, row.requester, row.requesterTeam)
