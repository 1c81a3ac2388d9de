import { and, asc, eq, inArray } from 'drizzle-orm'
import type { z } from 'zod'
import { loadAdapter } from '../catalog/adapters'
import { requireScope } from '../identity/principal'
import { loadTeamAs, requireRole } from '../identity/teams'
import type { Deps, ServiceContext } from '../lib/context'
import { ApiError, notFound } from '../lib/errors'
import { formatPrice } from '../lib/format'
import { requirePayments } from './payments'
import { type Currency, type CreateOfferSchema, minimumCharge, type UpdateOfferSchema } from './schemas'
import { offers, payoutAccounts } from './tables'

type OfferRow = typeof offers.$inferSelect

export const toOfferView = (offer: OfferRow, adapter: string) => ({
  id: offer.id,
  adapter,
  kind: offer.kind,
  license: offer.license,
  amount: offer.amount,
  currency: offer.currency,
  active: offer.active,
  createdAt: offer.createdAt.toISOString(),
})

/** Adds a way to get the adapter. Paid offers need payments configured and the team's payouts set up. */
export async function createOffer(
  ctx: ServiceContext & Pick<Deps, 'payments'>,
  teamSlug: string,
  slug: string,
  input: z.infer<typeof CreateOfferSchema>,
) {
  const { adapter, team } = await loadAdapter(ctx, teamSlug, slug, 'write')
  if (adapter.visibility === 'archived') throw new ApiError(409, 'listing_archived', 'Archived listings take no new offers.')
  if (input.kind === 'one_time') {
    if (input.amount !== undefined && input.currency !== undefined) assertChargeable(input.amount, input.currency)
    requirePayments(ctx.payments)
    const [account] = await ctx.db.select().from(payoutAccounts).where(eq(payoutAccounts.teamId, team.id))
    if (!account?.chargesEnabled) {
      throw new ApiError(409, 'payouts_not_enabled', `Finish payout onboarding for '${teamSlug}' (startPayoutOnboarding) before selling for a price.`)
    }
  }
  const [offer] = await ctx.db
    .insert(offers)
    .values({ adapterId: adapter.id, kind: input.kind, license: input.license, amount: input.amount ?? null, currency: input.currency ?? null })
    .returning()
  if (!offer) throw new Error('insert returned no offer')
  return toOfferView(offer, `${teamSlug}/${slug}`)
}

/** Stripe refuses a charge below its minimum for the currency; better said now than at the buyer's checkout. */
function assertChargeable(amount: number, currency: Currency) {
  const minimum = minimumCharge[currency]
  if (amount < minimum) {
    throw new ApiError(422, 'amount_below_minimum', `Stripe's smallest charge in ${currency.toUpperCase()} is ${formatPrice(minimum, currency)} (${minimum} in minor units).`, {
      extra: { minimum: { amount: minimum, currency } },
    })
  }
}

/**
 * Withdraws an offer (`active: false`: no new checkouts, 409 `offer_inactive`) or puts it back.
 * Entitlements it already granted are untouched. Team owners and admins only.
 */
export async function updateOffer(
  ctx: ServiceContext & Pick<Deps, 'searchCache'>,
  teamSlug: string, slug: string, offerId: string, patch: z.infer<typeof UpdateOfferSchema>) {
  const caller = requireScope(ctx.principal, 'publish')
  const { adapter } = await loadAdapter(ctx, teamSlug, slug, 'write')
  const { role } = await loadTeamAs(ctx.db, caller, teamSlug)
  requireRole(role, ['owner', 'admin'], 'change offers')
  const [offer] = await ctx.db
    .update(offers)
    .set({ active: patch.active, updatedAt: ctx.clock() })
    .where(and(eq(offers.id, offerId), eq(offers.adapterId, adapter.id)))
    .returning()
  if (!offer) throw notFound(`The offer ${offerId} of '${teamSlug}/${slug}'`)
  ctx.searchCache?.clear() // search shows prices (and filters by them)
  return toOfferView(offer, `${teamSlug}/${slug}`)
}

/** Buyers see the active offers; the seller team sees withdrawn ones too (`active: false`), to put them back. */
export async function listOffers(ctx: ServiceContext, teamSlug: string, slug: string) {
  const { adapter, isMember } = await loadAdapter(ctx, teamSlug, slug, 'read')
  const rows = await ctx.db
    .select()
    .from(offers)
    .where(and(eq(offers.adapterId, adapter.id), isMember ? undefined : eq(offers.active, true)))
    .orderBy(asc(offers.createdAt))
  return { items: rows.map((offer) => toOfferView(offer, `${teamSlug}/${slug}`)) }
}

export type PriceSummary = { free: boolean; onRequest: boolean; from: { amount: number; currency: string } | null }

/** What each listing costs, for result lists: free, on request, and the lowest one-time price. One query. */
export async function priceSummaries(ctx: ServiceContext, adapterIds: string[]): Promise<Map<string, PriceSummary>> {
  const summaries = new Map<string, PriceSummary>()
  if (adapterIds.length === 0) return summaries
  const rows = await ctx.db
    .select({ adapterId: offers.adapterId, kind: offers.kind, amount: offers.amount, currency: offers.currency })
    .from(offers)
    .where(and(inArray(offers.adapterId, adapterIds), eq(offers.active, true)))
  for (const row of rows) {
    const summary = summaries.get(row.adapterId) ?? { free: false, onRequest: false, from: null }
    if (row.kind === 'free') summary.free = true
    if (row.kind === 'on_request') summary.onRequest = true
    if (row.kind === 'one_time' && row.amount !== null && row.currency && (!summary.from || row.amount < summary.from.amount)) {
      summary.from = { amount: row.amount, currency: row.currency }
    }
    summaries.set(row.adapterId, summary)
  }
  return summaries
}
