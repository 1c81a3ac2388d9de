import { and, eq } from 'drizzle-orm'
import type { z } from 'zod'
import { adapters } from '../catalog'
import { uniqueViolation } from '../db/types'
import { requireScope } from '../identity'
import { teams, users } from '../identity'
import { belongsTo, loadHolder } from '../identity'
import type { Deps, ServiceContext } from '../lib/context'
import { ApiError, notFound } from '../lib/errors'
import { accessRequestView } from './access-requests'
import { entitlementView, findCoveringEntitlement, grantEntitlement, holderKey } from './entitlements'
import { callStripe, requirePayments } from './payments'
import type { CheckoutSchema } from './schemas'
import { accessRequests, offers, orders, payoutAccounts } from './tables'
import { applyEventsWaitingFor } from './webhooks'

type OrderRow = typeof orders.$inferSelect

export const toOrderView = (order: OrderRow, adapter: string) => ({
  id: order.id,
  adapter,
  status: order.status,
  amount: order.amount,
  currency: order.currency,
  checkoutUrl: order.checkoutUrl,
  createdAt: order.createdAt.toISOString(),
})

/**
 * Gets an adapter through one of its offers, for the caller or for one of their teams:
 * free → an entitlement now; on_request → an access request for the seller to decide;
 * one_time → a pending order and a Stripe Checkout page (the entitlement comes with the
 * verified payment event). Holding an entitlement that already covers the offer's licence
 * returns it instead of charging again (status 200, `existing: true`).
 */
export async function checkout(ctx: ServiceContext & Pick<Deps, 'payments' | 'publicUrl' | 'logger'>, input: z.infer<typeof CheckoutSchema>) {
  const caller = requireScope(ctx.principal, 'purchase')
  const [row] = await ctx.db
    .select({ offer: offers, adapter: adapters, sellerTeam: teams })
    .from(offers)
    .innerJoin(adapters, eq(adapters.id, offers.adapterId))
    .innerJoin(teams, eq(teams.id, adapters.teamId))
    .where(eq(offers.id, input.offerId))
  if (!row || row.adapter.visibility === 'draft') throw notFound('The offer')
  const { offer, adapter, sellerTeam } = row
  const adapterName = `${sellerTeam.slug}/${adapter.slug}`
  if (!offer.active) throw new ApiError('offer_inactive', `The seller has withdrawn this offer for ${adapterName}; see its current offers.`)
  if (adapter.visibility === 'archived' || !adapter.latestVersion) {
    throw new ApiError('adapter_not_available', `${adapterName} has no published version on sale.`)
  }
  if (await belongsTo(ctx.db, caller.userId, sellerTeam.id)) {
    throw new ApiError('own_adapter', `You are a member of '${sellerTeam.slug}'; its adapters are already yours.`)
  }

  // For the named team, else a team-bound key's team, else the caller personally.
  const { holder, team: buyerTeam } = await loadHolder(ctx.db, caller, input.team)
  if (buyerTeam?.id === sellerTeam.id) throw new ApiError('own_adapter', 'A team cannot buy its own adapter.')

  const covering = await findCoveringEntitlement(ctx.db, holder, adapter.id, offer.license)
  if (covering) return { status: 200 as const, body: { kind: 'entitlement' as const, entitlement: await entitlementView(ctx.db, covering, adapterName), existing: true } }

  if (offer.kind === 'free') {
    const entitlement = await grantEntitlement(ctx.db, { adapterId: adapter.id, holder, license: offer.license, source: 'free', sourceId: `${offer.id}:${holderKey(holder)}` })
    return { status: 201 as const, body: { kind: 'entitlement' as const, entitlement: await entitlementView(ctx.db, entitlement, adapterName) } }
  }

  if (offer.kind === 'on_request') {
    if (!input.message) throw new ApiError('message_required', 'Say who you are and what you will use the adapter for (`message`, 10 characters or more).')
    try {
      const [request] = await ctx.db
        .insert(accessRequests)
        .values({
          offerId: offer.id,
          adapterId: adapter.id,
          sellerTeamId: sellerTeam.id,
          requesterUserId: caller.userId,
          requesterTeamId: buyerTeam?.id ?? null,
          holder: holderKey(holder),
          license: offer.license,
          message: input.message,
        })
        .returning()
      if (!request) throw new Error('insert returned no access request')
      const [requester] = await ctx.db.select().from(users).where(eq(users.id, caller.userId))
      return { status: 201 as const, body: { kind: 'access_request' as const, accessRequest: accessRequestView(request, adapterName, requester!, buyerTeam?.slug ?? null) } }
    } catch (error) {
      if (uniqueViolation(error) === 'access_requests_open_key') {
        throw new ApiError('access_request_pending', 'You already have a pending request for this offer; the seller will decide on it.')
      }
      throw error
    }
  }

  // one_time: an order first (its id keys Stripe's idempotency), then the Checkout session.
  const payments = requirePayments(ctx.payments)
  const [account] = await ctx.db.select().from(payoutAccounts).where(eq(payoutAccounts.teamId, sellerTeam.id))
  if (!account?.chargesEnabled) throw new ApiError('seller_cannot_accept_payments', `'${sellerTeam.slug}' cannot take payments right now.`)
  const order = await openOrder(ctx.db, {
    offerId: offer.id,
    adapterId: adapter.id,
    sellerTeamId: sellerTeam.id,
    buyerUserId: caller.userId,
    buyerTeamId: buyerTeam?.id ?? null,
    holder: holderKey(holder),
    license: offer.license,
    amount: offer.amount!,
    currency: offer.currency!,
    feeAmount: Math.floor((offer.amount! * payments.feeBps) / 10_000),
  })
  if (order.checkoutUrl) return { status: 200 as const, body: { kind: 'checkout' as const, order: toOrderView(order, adapterName), checkoutUrl: order.checkoutUrl } }

  // A failure leaves the order pending without a session; the next checkout reuses it and its key.
  const session = await callStripe(() =>
    payments.stripe.checkout.sessions.create(
      {
        mode: 'payment',
        line_items: [
          {
            quantity: 1,
            price_data: {
              currency: order.currency,
              unit_amount: order.amount,
              product_data: { name: `${adapter.title} (${offer.license} licence)`, metadata: { adapterId: adapter.id } },
            },
          },
        ],
        client_reference_id: order.id,
        metadata: { orderId: order.id },
        payment_intent_data: {
          application_fee_amount: order.feeAmount,
          transfer_data: { destination: account.stripeAccountId },
          metadata: { orderId: order.id },
        },
        success_url: `${ctx.publicUrl}/v1/orders/${order.id}?checkout=success`,
        cancel_url: `${ctx.publicUrl}/v1/orders/${order.id}?checkout=cancelled`,
      },
      { idempotencyKey: `checkout:${order.id}` },
    ),
  )
  // The session id binds the payment to the order: only an event about this session pays it.
  // (The update waits for a webhook holding the order's lock, so an event that arrived first
  // has recorded that it waits, and is applied here; a crash before that leaves it to a restart.)
  const [linked] = await ctx.db
    .update(orders)
    .set({ stripeSessionId: session.id, checkoutUrl: session.url, updatedAt: ctx.clock() })
    .where(eq(orders.id, order.id))
    .returning()
  await applyEventsWaitingFor(ctx, order.id).catch((error: unknown) => (ctx.logger ?? console).error(`order ${order.id}: applying its waiting Stripe events failed`, error))
  return { status: 201 as const, body: { kind: 'checkout' as const, order: toOrderView(linked!, adapterName), checkoutUrl: session.url! } }
}

/** The holder's pending order for the offer, or a new one (one open order per offer and holder). */
async function openOrder(db: ServiceContext['db'], values: typeof orders.$inferInsert): Promise<OrderRow> {
  const pending = () =>
    db
      .select()
      .from(orders)
      .where(and(eq(orders.offerId, values.offerId), eq(orders.holder, values.holder), eq(orders.status, 'pending')))
  const [existing] = await pending()
  if (existing) return existing
  const [inserted] = await db.insert(orders).values(values).onConflictDoNothing().returning()
  if (inserted) return inserted
  const [raced] = await pending() // a concurrent checkout made it first
  if (!raced) throw new Error('open order vanished')
  return raced
}
