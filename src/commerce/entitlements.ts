import { and, desc, eq, inArray, isNull, or, type Placeholder, sql } from 'drizzle-orm'
import { adapters } from '../catalog/tables'
import type { Database } from '../db/types'
import { teamMembers, teams } from '../identity/tables'
import { requireScope } from '../identity/principal'
import type { ServiceContext } from '../lib/context'
import { entitlements, type LicenseTier } from './tables'

type EntitlementRow = typeof entitlements.$inferSelect

/** Who holds what a purchase grants: the buyer, or a whole team. */
export type Holder = { kind: 'user'; userId: string } | { kind: 'team'; teamId: string }
export const holderKey = (holder: Holder) => (holder.kind === 'user' ? `user:${holder.userId}` : `team:${holder.teamId}`)
const holderColumns = (holder: Holder) => (holder.kind === 'user' ? { userId: holder.userId, teamId: null } : { userId: null, teamId: holder.teamId })

/** The caller's live (not revoked) entitlement to an adapter, held directly or through one of their teams. */
export async function findLiveEntitlement(db: Database, userId: string, adapterId: string) {
  const [row] = await db
    .select()
    .from(entitlements)
    .where(and(eq(entitlements.adapterId, adapterId), isNull(entitlements.revokedAt), heldBy(userId)))
    .limit(1)
  return row
}

/** A live entitlement of the holder that already covers `license` (commercial covers research). */
export async function findCoveringEntitlement(db: Database, holder: Holder, adapterId: string, license: LicenseTier) {
  const [row] = await db
    .select()
    .from(entitlements)
    .where(
      and(
        eq(entitlements.adapterId, adapterId),
        isNull(entitlements.revokedAt),
        holder.kind === 'user' ? heldBy(holder.userId) : eq(entitlements.teamId, holder.teamId),
        license === 'commercial' ? eq(entitlements.license, 'commercial') : undefined,
      ),
    )
    .limit(1)
  return row
}

/** The teams a user belongs to, as a subquery (`userId` may be a prepared-statement placeholder). */
export const teamsOf = (userId: string | Placeholder) => sql`(select ${teamMembers.teamId} from ${teamMembers} where ${teamMembers.userId} = ${userId})`

/** Entitlements held by the user directly or by one of their teams. */
export const heldBy = (userId: string | Placeholder) => sql`(${entitlements.userId} = ${userId} or ${entitlements.teamId} in ${teamsOf(userId)})`

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

/** Everything the caller may download: their own entitlements and their teams’, revoked ones included (marked). */
export async function listEntitlements(ctx: ServiceContext) {
  const caller = requireScope(ctx.principal, 'read')
  const memberOf = await ctx.db.select({ teamId: teamMembers.teamId }).from(teamMembers).where(eq(teamMembers.userId, caller.userId))
  const teamIds = memberOf.map((row) => row.teamId)
  const rows = await ctx.db
    .select({ entitlement: entitlements, sellerTeam: teams.slug, slug: adapters.slug })
    .from(entitlements)
    .innerJoin(adapters, eq(adapters.id, entitlements.adapterId))
    .innerJoin(teams, eq(teams.id, adapters.teamId))
    .where(or(eq(entitlements.userId, caller.userId), teamIds.length > 0 ? inArray(entitlements.teamId, teamIds) : sql`false`))
    .orderBy(desc(entitlements.createdAt))
  const teamSlugs = new Map(
    teamIds.length > 0 ? (await ctx.db.select({ id: teams.id, slug: teams.slug }).from(teams).where(inArray(teams.id, teamIds))).map((t) => [t.id, t.slug]) : [],
  )
  return {
    items: rows.map(({ entitlement, sellerTeam, slug }) =>
      toEntitlementView(entitlement, `${sellerTeam}/${slug}`, entitlement.teamId ? (teamSlugs.get(entitlement.teamId) ?? null) : null),
    ),
  }
}
