import { and, eq, isNull, sql } from 'drizzle-orm'
import type Stripe from 'stripe'
import type { Database } from '../db/types'
import type { Deps } from '../lib/context'
import { ApiError } from '../lib/errors'
import { grantEntitlement, type Holder, revokeEntitlement } from './entitlements'
import { requirePayments } from './payments'
import { orders, payoutAccounts, stripeEvents } from './tables'

type WebhookDeps = Pick<Deps, 'db' | 'clock' | 'payments'>
type EventRow = typeof stripeEvents.$inferSelect

/**
 * Verifies a Stripe delivery (raw body + Stripe-Signature, with Web Crypto so it runs in
 * workerd), stores the event by id, then processes it. A repeated or concurrent delivery of
 * the same event finds it stored and processed, and changes nothing. A failure while processing
 * leaves the event stored and unprocessed and answers 5xx (503 while the database is down), so
 * Stripe delivers it again.
 */
export async function receiveStripeEvent(deps: WebhookDeps, rawBody: string, signature: string | undefined) {
  const payments = requirePayments(deps.payments)
  if (!payments.webhookSecret) throw new ApiError(503, 'payments_not_configured', 'STRIPE_WEBHOOK_SECRET is not set on this server.')
  if (!signature) throw new ApiError(400, 'invalid_signature', 'The Stripe-Signature header is missing.')
  let event: Stripe.Event
  try {
    event = await payments.stripe.webhooks.constructEventAsync(rawBody, signature, payments.webhookSecret, undefined, payments.crypto)
  } catch (error) {
    throw new ApiError(400, 'invalid_signature', `The Stripe signature does not verify: ${error instanceof Error ? error.message : 'unknown error'}`)
  }
  const [stored] = await deps.db
    .insert(stripeEvents)
    .values({ id: event.id, type: event.type, payload: event as unknown as Record<string, unknown> })
    .onConflictDoNothing({ target: stripeEvents.id })
    .returning({ id: stripeEvents.id })
  // A repeat of an event already applied: answer without the row lock, which would otherwise
  // queue every repeat (each holding a pooled connection) behind the others.
  if (!stored && (await isProcessed(deps.db, event.id))) return { received: true as const, id: event.id }
  await processStripeEvent(deps, event.id)
  return { received: true as const, id: event.id }
}

async function isProcessed(db: Database, eventId: string) {
  const [row] = await db.select({ processedAt: stripeEvents.processedAt }).from(stripeEvents).where(eq(stripeEvents.id, eventId))
  return row?.processedAt != null
}

/** Applies one stored event exactly once; safe to call again and from several places at once. */
export async function processStripeEvent(deps: Pick<Deps, 'db' | 'clock'>, eventId: string): Promise<void> {
  let linkedPaymentIntent: string | undefined
  try {
    await deps.db.transaction(async (tx) => {
      // The row lock serialises racing deliveries; the second sees processed_at and stops.
      const [row] = await tx.select().from(stripeEvents).where(eq(stripeEvents.id, eventId)).for('update')
      if (!row || row.processedAt) return
      const outcome = await apply(tx, row, deps.clock())
      if (outcome.waitFor) {
        await tx.update(stripeEvents).set({ waitingFor: outcome.waitFor, updatedAt: deps.clock() }).where(eq(stripeEvents.id, eventId))
        return
      }
      linkedPaymentIntent = outcome.linked
      await tx.update(stripeEvents).set({ processedAt: deps.clock(), waitingFor: null, updatedAt: deps.clock() }).where(eq(stripeEvents.id, eventId))
    })
  } catch (error) {
    // Bookkeeping only: when the database itself failed this write fails too, and the original
    // error (a 503 for an outage) is what Stripe should see.
    await deps.db
      .update(stripeEvents)
      .set({ attempts: sql`${stripeEvents.attempts} + 1`, lastError: error instanceof Error ? error.message : String(error), updatedAt: deps.clock() })
      .where(eq(stripeEvents.id, eventId))
      .catch(() => {})
    throw error
  }
  // Events that overtook the payment (a refund before the paid event) can apply now.
  if (linkedPaymentIntent) {
    const waiting = await deps.db
      .select({ id: stripeEvents.id })
      .from(stripeEvents)
      .where(and(eq(stripeEvents.waitingFor, linkedPaymentIntent), isNull(stripeEvents.processedAt)))
      .orderBy(stripeEvents.createdAt)
    for (const { id } of waiting) await processStripeEvent(deps, id)
  }
}

/** Stored events not yet processed and not waiting on anything: what a restart retries. */
export async function resumeStripeEvents(deps: Pick<Deps, 'db' | 'clock'>) {
  const rows = await deps.db
    .select({ id: stripeEvents.id })
    .from(stripeEvents)
    .where(and(isNull(stripeEvents.processedAt), isNull(stripeEvents.waitingFor)))
  for (const { id } of rows) await processStripeEvent(deps, id).catch(() => {})
  return rows.length
}

type Outcome = { waitFor?: string; linked?: string }

/** Stripe sends a related object as its id, or expanded. */
const idOf = (value: string | { id: string } | null | undefined) => (typeof value === 'string' ? value : value?.id)

async function apply(tx: Database, row: EventRow, now: Date): Promise<Outcome> {
  const event = row.payload as unknown as Stripe.Event
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const session = event.data.object
      // A delayed payment method completes the session unpaid; its success comes later.
      if (session.payment_status !== 'paid') return {}
      const orderId = session.metadata?.orderId ?? session.client_reference_id
      if (!orderId) return {}
      const [order] = await tx.select().from(orders).where(eq(orders.id, orderId)).for('update')
      if (!order) return {}
      const paymentIntent = idOf(session.payment_intent) ?? null
      const paid = order.status === 'pending' || order.status === 'expired'
      await tx
        .update(orders)
        .set({
          stripeSessionId: session.id,
          stripePaymentIntentId: paymentIntent,
          ...(paid && { status: 'paid' as const, paidAt: now }),
          updatedAt: now,
        })
        .where(eq(orders.id, order.id))
      if (paid) {
        const holder: Holder = order.buyerTeamId ? { kind: 'team', teamId: order.buyerTeamId } : { kind: 'user', userId: order.buyerUserId }
        await grantEntitlement(tx, { adapterId: order.adapterId, holder, license: order.license, source: 'order', sourceId: order.id })
      }
      return { linked: paymentIntent ?? undefined }
    }
    case 'checkout.session.expired': {
      const orderId = event.data.object.metadata?.orderId
      if (orderId) await tx.update(orders).set({ status: 'expired', updatedAt: now }).where(and(eq(orders.id, orderId), eq(orders.status, 'pending')))
      return {}
    }
    case 'charge.refunded': {
      const charge = event.data.object
      const paymentIntent = idOf(charge.payment_intent)
      if (!paymentIntent) return {}
      const [order] = await tx.select().from(orders).where(eq(orders.stripePaymentIntentId, paymentIntent)).for('update')
      if (!order) return { waitFor: paymentIntent }
      const full = charge.refunded || charge.amount_refunded >= charge.amount
      await tx
        .update(orders)
        .set({ refundedAmount: charge.amount_refunded, ...(full && { status: 'refunded' as const, refundedAt: now }), updatedAt: now })
        .where(eq(orders.id, order.id))
      // A partial refund is a gesture; a full one takes the adapter back.
      if (full) await revokeEntitlement(tx, 'order', order.id, 'refunded', now)
      return {}
    }
    case 'charge.dispute.created': {
      const paymentIntent = idOf(event.data.object.payment_intent)
      if (!paymentIntent) return {}
      const [order] = await tx.select().from(orders).where(eq(orders.stripePaymentIntentId, paymentIntent)).for('update')
      if (!order) return { waitFor: paymentIntent }
      await tx.update(orders).set({ status: 'disputed', updatedAt: now }).where(eq(orders.id, order.id))
      await revokeEntitlement(tx, 'order', order.id, 'disputed', now)
      return {}
    }
    case 'account.updated': {
      const account = event.data.object
      await tx
        .update(payoutAccounts)
        .set({ chargesEnabled: account.charges_enabled, payoutsEnabled: account.payouts_enabled, updatedAt: now })
        .where(eq(payoutAccounts.stripeAccountId, account.id))
      return {}
    }
    default:
      return {}
  }
}
