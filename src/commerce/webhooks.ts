import { and, desc, eq, exists, isNotNull, isNull, lt, or, sql } from 'drizzle-orm'
import { type OperatorContext, requireOperator } from '../identity'
import type Stripe from 'stripe'
import { z } from 'zod'
import { checkStored } from '../db/stored'
import type { Database } from '../db/types'
import type { Deps } from '../lib/context'
import { isUuid } from '../lib/uuid'
import { ApiError } from '../lib/errors'
import { grantEntitlement, type Holder, revokeEntitlement } from './entitlements'
import { requirePayments } from './payments'
import { orders, type PaymentRejection, payoutAccounts, stripeEvents } from './tables'

type WebhookDeps = Pick<Deps, 'db' | 'clock' | 'payments' | 'logger' | 'jobs'>
type ProcessDeps = Pick<Deps, 'db' | 'clock' | 'logger'>
type EventRow = typeof stripeEvents.$inferSelect
type OrderRow = typeof orders.$inferSelect

/**
 * Verifies a Stripe delivery (raw body + Stripe-Signature, with Web Crypto so it runs in
 * workerd), stores the event by id and queues an `apply_stripe_event` job: Stripe gets its 200
 * once the event is stored, however slow applying it is. Storing is the commitment point: a
 * database that cannot store it answers 5xx (503 while down), and a queue that cannot take the
 * job 503, so Stripe delivers it again and the repeat finds the row and queues it again. A repeat
 * of an event already applied is one unlocked read and queues nothing.
 */
export async function receiveStripeEvent(deps: WebhookDeps, rawBody: string, signature: string | undefined) {
  const payments = requirePayments(deps.payments)
  if (!payments.webhookSecret) throw new ApiError('payments_not_configured', 'STRIPE_WEBHOOK_SECRET is not set on this server.')
  if (!signature) throw new ApiError('invalid_signature', 'The Stripe-Signature header is missing.')
  let event: Stripe.Event
  try {
    event = await payments.stripe.webhooks.constructEventAsync(rawBody, signature, payments.webhookSecret, undefined, payments.crypto)
  } catch (error) {
    throw new ApiError('invalid_signature', `The Stripe signature does not verify: ${error instanceof Error ? error.message : 'unknown error'}`)
  }
  const [stored] = await deps.db
    .insert(stripeEvents)
    .values({ id: event.id, type: event.type, payload: event })
    .onConflictDoNothing({ target: stripeEvents.id })
    .returning({ id: stripeEvents.id })
  if (!stored && (await isProcessed(deps.db, event.id))) return { received: true as const, id: event.id }
  try {
    await deps.jobs.enqueue({ kind: 'apply_stripe_event', eventId: event.id })
  } catch (error) {
    ;(deps.logger ?? console).error(`stripe event ${event.id} stored but not queued`, error)
    throw new ApiError('queue_unavailable', 'The event is stored but could not be queued for processing; deliver it again.', { headers: { 'Retry-After': '5' } })
  }
  return { received: true as const, id: event.id }
}

/** What every reader of a stored event relies on: its id, its type and the object it is about. */
const StoredEventSchema = z.object({ id: z.string(), type: z.string(), data: z.object({ object: z.record(z.string(), z.unknown()) }) })

/** The Stripe event a row stores, checked: a damaged payload is a `StoredShapeError` naming the event, not a TypeError in a handler. */
const storedEvent = (row: Pick<EventRow, 'id' | 'payload'>): Stripe.Event => checkStored(row.payload, StoredEventSchema, 'stripe_events.payload', `event ${row.id}`)

async function isProcessed(db: Database, eventId: string) {
  const [row] = await db.select({ processedAt: stripeEvents.processedAt }).from(stripeEvents).where(eq(stripeEvents.id, eventId))
  return row?.processedAt != null
}

/**
 * The `apply_stripe_event` job (the in-process queue on Node, the queue consumer on Workers).
 * A copy of a job already applied is one unlocked read, not a wait behind the row lock; a
 * failure throws, so the queue retries it.
 */
export async function applyStripeEvent(deps: ProcessDeps, eventId: string): Promise<void> {
  if (await isProcessed(deps.db, eventId)) return
  await processStripeEvent(deps, eventId)
}

/** Applies one stored event exactly once; safe to call again and from several places at once. */
export async function processStripeEvent(deps: ProcessDeps, eventId: string): Promise<void> {
  let linkedPaymentIntent: string | undefined
  let rejected: { reason: PaymentRejection; type: string; orderId: string | undefined } | undefined
  try {
    await deps.db.transaction(async (tx) => {
      // The row lock serialises racing deliveries; the second sees processed_at and stops.
      const [row] = await tx.select().from(stripeEvents).where(eq(stripeEvents.id, eventId)).for('update')
      if (!row || row.processedAt) return
      const outcome = await apply(tx, row, deps.clock())
      const orderId = outcome.orderId ?? null
      if (outcome.waitFor) {
        await tx.update(stripeEvents).set({ waitingFor: outcome.waitFor, orderId, updatedAt: deps.clock() }).where(eq(stripeEvents.id, eventId))
        return
      }
      linkedPaymentIntent = outcome.linked
      if (outcome.rejected) rejected = { reason: outcome.rejected, type: row.type, orderId: outcome.orderId }
      await tx
        .update(stripeEvents)
        .set({ processedAt: deps.clock(), waitingFor: null, orderId, rejectedReason: outcome.rejected ?? null, updatedAt: deps.clock() })
        .where(eq(stripeEvents.id, eventId))
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
  if (rejected) {
    ;(deps.logger ?? console).warn(
      `stripe event ${eventId} (${rejected.type}) not applied: ${rejected.reason}${rejected.orderId ? ` (order ${rejected.orderId})` : ''}`,
    )
  }
  // Events that overtook the payment (a refund before the paid event) can apply now.
  if (linkedPaymentIntent) await applyEventsWaitingFor(deps, linkedPaymentIntent)
}

/** Applies, in arrival order, the stored events that waited for `key` (a payment intent or an order id). */
export async function applyEventsWaitingFor(deps: ProcessDeps, key: string) {
  const waiting = await deps.db
    .select({ id: stripeEvents.id })
    .from(stripeEvents)
    .where(and(eq(stripeEvents.waitingFor, key), isNull(stripeEvents.processedAt)))
    .orderBy(stripeEvents.createdAt)
  for (const { id } of waiting) await processStripeEvent(deps, id)
}

/**
 * Stored events not yet processed that can be now: not waiting on anything, or waiting on
 * something that has since arrived (a crash between recording it and applying what waited),
 * oldest first; only those stored before `before`, if given.
 */
async function resumableEvents(db: Database, before?: Date) {
  const arrived = or(
    exists(db.select({ id: orders.id }).from(orders).where(and(sql`${orders.id}::text = ${stripeEvents.waitingFor}`, isNotNull(orders.stripeSessionId)))),
    exists(db.select({ id: orders.id }).from(orders).where(eq(orders.stripePaymentIntentId, stripeEvents.waitingFor))),
  )
  return db
    .select({ id: stripeEvents.id })
    .from(stripeEvents)
    .where(and(isNull(stripeEvents.processedAt), or(isNull(stripeEvents.waitingFor), arrived), before ? lt(stripeEvents.createdAt, before) : undefined))
    .orderBy(stripeEvents.createdAt)
}

/** What a restart runs before serving: applies every resumable stored event. */
export async function resumeStripeEvents(deps: ProcessDeps) {
  const rows = await resumableEvents(deps.db)
  for (const { id } of rows) await processStripeEvent(deps, id).catch(() => {})
  return rows.length
}

/**
 * Upkeep (a timer on Node, the cron on Workers): queues again the resumable events stored before
 * `before`, whose job was lost or gave up (a database outage longer than the queue's retries).
 */
export async function requeueStripeEvents(deps: Pick<Deps, 'db' | 'jobs'>, before: Date) {
  const rows = await resumableEvents(deps.db, before)
  for (const { id } of rows) await deps.jobs.enqueue({ kind: 'apply_stripe_event', eventId: id })
  return rows.length
}

/** Paid sessions stored but not applied (`rejected_reason`), newest first: platform operators only. */
export async function listRejectedPayments(ctx: OperatorContext, options: { limit?: number } = {}) {
  await requireOperator(ctx)
  const rows = await ctx.db
    .select()
    .from(stripeEvents)
    .where(isNotNull(stripeEvents.rejectedReason))
    .orderBy(desc(stripeEvents.createdAt))
    .limit(options.limit ?? 100)
  return rows.map((row) => {
    // Only paid checkout sessions are ever rejected (see `apply`).
    const session = storedEvent(row).data.object as Partial<Stripe.Checkout.Session>
    return {
      eventId: row.id,
      type: row.type,
      reason: row.rejectedReason!, // selected where not null
      orderId: row.orderId,
      sessionId: session.id ?? null,
      amount: session.amount_total ?? null,
      currency: session.currency ?? null,
      paymentIntent: idOf(session.payment_intent) ?? null,
      receivedAt: row.createdAt.toISOString(),
    }
  })
}

type Outcome = { waitFor?: string; linked?: string; orderId?: string; rejected?: PaymentRejection }

/** Stripe sends a related object as its id, or expanded. */
const idOf = (value: string | { id: string } | null | undefined) => (typeof value === 'string' ? value : value?.id)

/** Why a session did not pay for this order (the currency first: amounts in two currencies do not compare), or nothing. */
function moneyMismatch(order: OrderRow, session: Stripe.Checkout.Session): PaymentRejection | undefined {
  if (session.currency?.toLowerCase() !== order.currency.toLowerCase()) return 'currency_mismatch'
  if (session.amount_total !== order.amount) return 'amount_mismatch'
  return undefined
}

/**
 * The order a paid session pays for: the one whose recorded session id it is. A session that only
 * names an order (client_reference_id or metadata, which a Payment Link's payer can set) pays
 * for nothing, unless that order has no session recorded yet: our own session's event may
 * overtake the write of its id, so it waits for it (after checking what it can already).
 */
async function orderPaidBy(tx: Database, session: Stripe.Checkout.Session): Promise<{ order: OrderRow } | Outcome> {
  const [order] = await tx.select().from(orders).where(eq(orders.stripeSessionId, session.id)).for('update')
  if (order) return { order }
  const named = session.metadata?.orderId ?? session.client_reference_id
  const [namedOrder] = isUuid(named) ? await tx.select().from(orders).where(eq(orders.id, named)).for('update') : []
  if (!namedOrder) return { rejected: 'unknown_session' }
  // Checkout recorded this very session while we waited for the order's lock.
  if (namedOrder.stripeSessionId === session.id) return { order: namedOrder }
  if (namedOrder.stripeSessionId) return { rejected: 'session_mismatch', orderId: namedOrder.id }
  const mismatch = moneyMismatch(namedOrder, session)
  if (mismatch) return { rejected: mismatch, orderId: namedOrder.id }
  return { waitFor: namedOrder.id, orderId: namedOrder.id }
}

async function apply(tx: Database, row: EventRow, now: Date): Promise<Outcome> {
  const event = storedEvent(row)
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const session = event.data.object
      // A delayed payment method completes the session unpaid; its success comes later.
      if (session.payment_status !== 'paid') return {}
      const found = await orderPaidBy(tx, session)
      if (!('order' in found)) return found
      const { order } = found
      const mismatch = moneyMismatch(order, session)
      if (mismatch) return { rejected: mismatch, orderId: order.id }
      const paymentIntent = idOf(session.payment_intent) ?? null
      const paid = order.status === 'pending' || order.status === 'expired'
      await tx
        .update(orders)
        .set({
          stripePaymentIntentId: paymentIntent,
          ...(paid && { status: 'paid' as const, paidAt: now }),
          updatedAt: now,
        })
        .where(eq(orders.id, order.id))
      if (paid) {
        const holder: Holder = order.buyerTeamId ? { kind: 'team', teamId: order.buyerTeamId } : { kind: 'user', userId: order.buyerUserId }
        await grantEntitlement(tx, { adapterId: order.adapterId, holder, license: order.license, source: 'order', sourceId: order.id })
      }
      return { linked: paymentIntent ?? undefined, orderId: order.id }
    }
    case 'checkout.session.expired': {
      // Only the session created for the order expires it (not any session naming it).
      await tx
        .update(orders)
        .set({ status: 'expired', updatedAt: now })
        .where(and(eq(orders.stripeSessionId, event.data.object.id), eq(orders.status, 'pending')))
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
