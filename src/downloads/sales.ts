import { and, eq, gte, inArray, lt, sql } from 'drizzle-orm'
import { adapters } from '../catalog'
import { adapterVersions } from '../publishing'
import { downloads } from './tables'
import { requireScope } from '../identity'
import { loadTeamAs } from '../identity'
import type { ServiceContext } from '../lib/context'
import { entitlements, orders } from '../commerce'

const money = {
  currency: orders.currency,
  orders: sql<number>`count(*)::int`,
  gross: sql<number>`coalesce(sum(${orders.amount}), 0)::int`,
  fees: sql<number>`coalesce(sum(${orders.feeAmount}), 0)::int`,
  refunds: sql<number>`coalesce(sum(${orders.refundedAmount}), 0)::int`,
}
const withNet = <T extends { gross: number; fees: number; refunds: number }>(row: T) => ({ ...row, net: row.gross - row.fees - row.refunds })

/**
 * What a seller team sold: paid orders (later refunded or disputed ones included, with their
 * refunds) per currency, per day (UTC, by payment date), per adapter and per base model, how many
 * entitlements each kind of offer granted, and granted downloads per day (UTC, from the audit
 * rows). Amounts are in minor units.
 */
export async function getSalesReport(ctx: ServiceContext, teamSlug: string, query: { from?: string; to?: string }) {
  const caller = requireScope(ctx.principal, 'read')
  const { team } = await loadTeamAs(ctx.db, caller, teamSlug)
  // Whole UTC days: from its first instant to the instant after the last day.
  const since = query.from ? new Date(`${query.from}T00:00:00Z`) : undefined
  const until = query.to ? new Date(new Date(`${query.to}T00:00:00Z`).getTime() + 86_400_000) : undefined
  const sold = and(
    eq(orders.sellerTeamId, team.id),
    inArray(orders.status, ['paid', 'refunded', 'disputed']),
    since ? gte(orders.paidAt, since) : undefined,
    until ? lt(orders.paidAt, until) : undefined,
  )
  const day = sql<string>`to_char(${orders.paidAt} at time zone 'UTC', 'YYYY-MM-DD')`
  const downloadDay = sql<string>`to_char(${downloads.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`
  // An adapter fits several bases; its sales count under each base its tensors fit.
  const base = sql<string>`fits.base`
  const [totals, byDay, byAdapter, byBaseModel, granted, versionDownloads, downloadsByDay] = await Promise.all([
    ctx.db.select(money).from(orders).where(sold).groupBy(orders.currency).orderBy(orders.currency),
    ctx.db.select({ day, ...money }).from(orders).where(sold).groupBy(day, orders.currency).orderBy(day, orders.currency),
    ctx.db
      .select({ adapter: adapters.slug, downloads: adapters.downloads, ...money })
      .from(orders)
      .innerJoin(adapters, eq(adapters.id, orders.adapterId))
      .where(sold)
      .groupBy(adapters.slug, adapters.downloads, orders.currency)
      .orderBy(adapters.slug, orders.currency),
    ctx.db
      .select({ baseModel: base, ...money })
      .from(orders)
      .innerJoin(adapters, eq(adapters.id, orders.adapterId))
      .innerJoin(sql`lateral unnest(${adapters.compatKeys}) as fits(base)`, sql`position('|' in fits.base) = 0`)
      .where(sold)
      .groupBy(base, orders.currency)
      .orderBy(base, orders.currency),
    ctx.db
      .select({ source: entitlements.source, count: sql<number>`count(*)::int` })
      .from(entitlements)
      .innerJoin(adapters, eq(adapters.id, entitlements.adapterId))
      .where(eq(adapters.teamId, team.id))
      .groupBy(entitlements.source),
    ctx.db
      .select({ adapter: adapters.slug, version: adapterVersions.version, downloads: adapterVersions.downloads })
      .from(adapterVersions)
      .innerJoin(adapters, eq(adapters.id, adapterVersions.adapterId))
      .where(and(eq(adapters.teamId, team.id), eq(adapterVersions.status, 'published')))
      .orderBy(adapters.slug, adapterVersions.version),
    ctx.db
      .select({ day: downloadDay, downloads: sql<number>`count(*)::int` })
      .from(downloads)
      .innerJoin(adapters, eq(adapters.id, downloads.adapterId))
      .where(
        and(
          eq(adapters.teamId, team.id),
          since ? gte(downloads.createdAt, since) : undefined,
          until ? lt(downloads.createdAt, until) : undefined,
        ),
      )
      .groupBy(downloadDay)
      .orderBy(downloadDay),
  ])
  const grantedBy = (source: string) => granted.find((row) => row.source === source)?.count ?? 0
  return {
    team: team.slug,
    from: query.from ?? null,
    to: query.to ?? null,
    totals: totals.map(withNet),
    byDay: byDay.map(withNet),
    byAdapter: byAdapter.map((row) => withNet({ ...row, adapter: `${team.slug}/${row.adapter}` })),
    byBaseModel: byBaseModel.map(withNet),
    entitlements: { free: grantedBy('free'), accessRequests: grantedBy('access_request'), orders: grantedBy('order') },
    /** All-time downloads of each published version (counted within seconds of the grant). */
    downloadsByVersion: versionDownloads.map((row) => ({ ...row, adapter: `${team.slug}/${row.adapter}` })),
    downloadsByDay,
  }
}
