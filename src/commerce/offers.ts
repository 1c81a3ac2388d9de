import { and, asc, eq, inArray, isNull, ne } from 'drizzle-orm'
import type { z } from 'zod'
import { type LoadedAdapter, loadAdapter } from '../catalog'
import { requireScope } from '../identity'
import { loadTeamAs, requireRole } from '../identity'
import type { Deps, ServiceContext } from '../lib/context'
import { ApiError, notFound } from '../lib/errors'
import { formatPrice } from '../lib/format'
import { requirePayments } from './payments'
import { type Currency, type CreateOfferSchema, minimumCharge, type UpdateOfferSchema } from './schemas'
import { adapters } from '../catalog'
import type { Database } from '../db/types'
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
  if (adapter.visibility === 'archived') throw new ApiError('listing_archived', 'Archived listings take no new offers.')
  if (input.kind === 'one_time') {
    if (input.amount !== undefined && input.currency !== undefined) assertChargeable(input.amount, input.currency)
    requirePayments(ctx.payments)
    const [account] = await ctx.db.select().from(payoutAccounts).where(eq(payoutAccounts.teamId, team.id))
    if (!account?.chargesEnabled) {
      throw new ApiError('payouts_not_enabled', `Finish payout onboarding for '${teamSlug}' (startPayoutOnboarding) before selling for a price.`)
    }
  }
  const terms = { kind: input.kind, license: input.license, amount: input.amount ?? null, currency: input.currency ?? null }
  const offer = await ctx.db.transaction(async (tx) => {
    await lockListing(tx, adapter.id)
    await refuseDuplicate(tx, adapter.id, terms, `${teamSlug}/${slug}`)
    const [offer] = await tx.insert(offers).values({ adapterId: adapter.id, ...terms }).returning()
    return offer
  })
  if (!offer) throw new Error('insert returned no offer')
  return toOfferView(offer, `${teamSlug}/${slug}`)
}

type Terms = Pick<OfferRow, 'kind' | 'license' | 'amount' | 'currency'>

/** Offers of a listing change one at a time: the duplicate check below sees every committed one. */
async function lockListing(tx: Database, adapterId: string) {
  await tx.select({ id: adapters.id }).from(adapters).where(eq(adapters.id, adapterId)).for('update')
}

/** Two active offers on the same terms leave a buyer (and `refinery buy`) a choice without a difference. */
async function refuseDuplicate(tx: Database, adapterId: string, terms: Terms, name: string, except?: string) {
  const [same] = await tx
    .select({ id: offers.id })
    .from(offers)
    .where(
      and(
        eq(offers.adapterId, adapterId),
        eq(offers.active, true),
        eq(offers.kind, terms.kind),
        eq(offers.license, terms.license),
        terms.amount === null ? isNull(offers.amount) : eq(offers.amount, terms.amount),
        terms.currency === null ? isNull(offers.currency) : eq(offers.currency, terms.currency),
        except ? ne(offers.id, except) : undefined,
      ),
    )
    .limit(1)
  if (same) {
    throw new ApiError('offer_exists', `${name} already has an active offer on these terms (${same.id}); change or withdraw that one instead.`, { extra: { offerId: same.id } })
  }
}

/** Stripe refuses a charge below its minimum for the currency; better said now than at the buyer's checkout. */
function assertChargeable(amount: number, currency: Currency) {
  const minimum = minimumCharge[currency]
  if (amount < minimum) {
    throw new ApiError('amount_below_minimum', `Stripe's smallest charge in ${currency.toUpperCase()} is ${formatPrice(minimum, currency)} (${minimum} in minor units).`, {
      extra: { minimum: { amount: minimum, currency } },
    })
  }
}

/**
 * Withdraws an offer (`active: false`: no new checkouts, 409 `offer_inactive`), puts it back, or
 * changes a one-time offer's price. Entitlements it already granted are untouched, and a checkout
 * already opened keeps the price it was opened at (its order holds the amount the payment must
 * match); new checkouts pay the new price. Team owners and admins only.
 */
export async function updateOffer(
  ctx: ServiceContext & Pick<Deps, 'searchCache'>,
  teamSlug: string,
  slug: string,
  offerId: string,
  patch: z.infer<typeof UpdateOfferSchema>,
) {
  const caller = requireScope(ctx.principal, 'publish')
  const { adapter } = await loadAdapter(ctx, teamSlug, slug, 'write')
  const { role } = await loadTeamAs(ctx.db, caller, teamSlug)
  requireRole(role, ['owner', 'admin'], 'change offers')
  const name = `${teamSlug}/${slug}`
  const offer = await ctx.db.transaction(async (tx) => {
    await lockListing(tx, adapter.id)
    const [current] = await tx
      .select()
      .from(offers)
      .where(and(eq(offers.id, offerId), eq(offers.adapterId, adapter.id)))
    if (!current) throw notFound(`The offer ${offerId} of '${name}'`)
    const repriced = patch.amount !== undefined || patch.currency !== undefined
    if (repriced && current.kind !== 'one_time') {
      throw new ApiError('offer_not_priced', `A ${current.kind} offer has no price; create a one_time offer to sell for one.`)
    }
    const next = { ...current, active: patch.active ?? current.active, amount: patch.amount ?? current.amount, currency: patch.currency ?? current.currency }
    if (repriced) assertChargeable(next.amount!, next.currency as Currency)
    if (next.active) await refuseDuplicate(tx, adapter.id, next, name, current.id)
    const [updated] = await tx
      .update(offers)
      .set({ active: next.active, amount: next.amount, currency: next.currency, updatedAt: ctx.clock() })
      .where(eq(offers.id, current.id))
      .returning()
    return updated!
  })
  ctx.searchCache?.clear() // search shows prices (and filters by them)
  return toOfferView(offer, name)
}

/** Buyers see the active offers; the seller team sees withdrawn ones too (`active: false`), to put them back. */
export async function listOffers(ctx: ServiceContext, teamSlug: string, slug: string) {
  return offersOf(ctx, await loadAdapter(ctx, teamSlug, slug, 'read'))
}

/** `listOffers` of a listing already loaded, and access-checked, by `loadAdapter` (as the same caller). */
export async function offersOf(ctx: ServiceContext, listing: Pick<LoadedAdapter, 'adapter' | 'team' | 'isMember'>) {
  const { adapter, team, isMember } = listing
  const rows = await ctx.db
    .select()
    .from(offers)
    .where(and(eq(offers.adapterId, adapter.id), isMember ? undefined : eq(offers.active, true)))
    .orderBy(asc(offers.createdAt))
  return { items: rows.map((offer) => toOfferView(offer, `${team.slug}/${adapter.slug}`)) }
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
