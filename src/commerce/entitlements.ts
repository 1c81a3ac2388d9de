import { and, desc, eq, isNull } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import { adapters } from '../catalog'
import type { Database } from '../db/types'
import { teams } from '../identity'
import { type Acting, actingOf, heldByPrincipal, type Holder, type Principal, requireScope } from '../identity'
import type { ServiceContext } from '../lib/context'
import { entitlements, type LicenseTier } from './tables'

type EntitlementRow = typeof entitlements.$inferSelect

export type { Holder }
export const holderKey = (holder: Holder) => (holder.kind === 'user' ? `user:${holder.userId}` : `team:${holder.teamId}`)
const holderColumns = (holder: Holder) => (holder.kind === 'user' ? { userId: holder.userId, teamId: null } : { userId: null, teamId: holder.teamId })

/** Entitlements the principal may use (a team-bound key: only its team's; see `Principal`). */
export const heldBy = (who: Acting) => heldByPrincipal(who, { user: entitlements.userId, team: entitlements.teamId })

/** The caller's live (not revoked) entitlement to an adapter, as the principal rule allows. */
export async function findLiveEntitlement(db: Database, principal: Principal, adapterId: string) {
  const [row] = await db
    .select()
    .from(entitlements)
    .where(and(eq(entitlements.adapterId, adapterId), isNull(entitlements.revokedAt), heldBy(actingOf(principal))))
    .limit(1)
  return row
}

/**
 * A live entitlement of the holder that covers `license` (commercial covers research; none
 * given: any). A user holder uses their own and their teams' entitlements; a team only its own.
 */
export async function findCoveringEntitlement(db: Database, holder: Holder, adapterId: string, license?: LicenseTier) {
  const [row] = await db
    .select()
    .from(entitlements)
    .where(
      and(
        eq(entitlements.adapterId, adapterId),
        isNull(entitlements.revokedAt),
        holder.kind === 'user' ? heldBy({ userId: holder.userId, teamId: null }) : eq(entitlements.teamId, holder.teamId),
        license === 'commercial' ? eq(entitlements.license, 'commercial') : undefined,
      ),
    )
    .limit(1)
  return row
}

/** Grants once per source: granting the same order or request again returns the existing row. */
export async function grantEntitlement(
  db: Database,
  input: { adapterId: string; holder: Holder; license: LicenseTier; source: EntitlementRow['source']; sourceId: string },
): Promise<EntitlementRow> {
  const [inserted] = await db
    .insert(entitlements)
    .values({ adapterId: input.adapterId, ...holderColumns(input.holder), license: input.license, source: input.source, sourceId: input.sourceId })
    .onConflictDoNothing({ target: [entitlements.source, entitlements.sourceId] })
    .returning()
  if (inserted) return inserted
  const [existing] = await db
    .select()
    .from(entitlements)
    .where(and(eq(entitlements.source, input.source), eq(entitlements.sourceId, input.sourceId)))
  if (!existing) throw new Error(`entitlement for ${input.source} ${input.sourceId} vanished`)
  return existing
}

/** Revokes what a source granted (a refunded or disputed order): downloads stop at once. */
export async function revokeEntitlement(db: Database, source: EntitlementRow['source'], sourceId: string, reason: string, now: Date) {
  await db
    .update(entitlements)
    .set({ revokedAt: now, revokeReason: reason, updatedAt: now })
    .where(and(eq(entitlements.source, source), eq(entitlements.sourceId, sourceId), isNull(entitlements.revokedAt)))
}

/** The API view of one entitlement, naming the adapter as `team/slug` and a holding team by slug. */
export async function entitlementView(db: Database, row: EntitlementRow, adapter: string) {
  const [holderTeam] = row.teamId ? await db.select({ slug: teams.slug }).from(teams).where(eq(teams.id, row.teamId)) : []
  return toEntitlementView(row, adapter, holderTeam?.slug ?? null)
}

const toEntitlementView = (row: EntitlementRow, adapter: string, holderTeam: string | null) => ({
  id: row.id,
  adapter,
  license: row.license,
  source: row.source,
  holder: row.teamId ? { kind: 'team' as const, id: row.teamId, team: holderTeam } : { kind: 'user' as const, id: row.userId!, team: null },
  grantedAt: row.createdAt.toISOString(),
  revokedAt: row.revokedAt?.toISOString() ?? null,
  revokeReason: row.revokeReason,
})

const holderTeams = alias(teams, 'holder_teams')

/** Everything the caller may download, as the principal rule allows, revoked ones included (marked). */
export async function listEntitlements(ctx: ServiceContext) {
  const caller = requireScope(ctx.principal, 'read')
  const rows = await ctx.db
    .select({
      entitlement: entitlements,
      sellerTeam: teams.slug,
      slug: adapters.slug,
      holderTeam: holderTeams.slug,
    })
    .from(entitlements)
    .innerJoin(adapters, eq(adapters.id, entitlements.adapterId))
    .innerJoin(teams, eq(teams.id, adapters.teamId))
    .leftJoin(holderTeams, eq(holderTeams.id, entitlements.teamId))
    .where(heldBy(actingOf(caller)))
    .orderBy(desc(entitlements.createdAt))
  return { items: rows.map(({ entitlement, sellerTeam, slug, holderTeam }) => toEntitlementView(entitlement, `${sellerTeam}/${slug}`, holderTeam)) }
}
