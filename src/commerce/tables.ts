import { sql } from 'drizzle-orm'
import { type AnyPgColumn, boolean, check, index, integer, jsonb, pgTable, smallint, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import type Stripe from 'stripe'
import { adapters } from '../catalog'
import { adapterVersions } from '../publishing'
import { id, timestamps } from '../db/columns'
import { teams, users } from '../identity'

export const licenseTiers = ['research', 'commercial'] as const
export type LicenseTier = (typeof licenseTiers)[number]

export const entitlementSources = ['free', 'order', 'access_request'] as const
export const offerKinds = ['free', 'one_time', 'on_request'] as const
export type OfferKind = (typeof offerKinds)[number]
export const orderStatuses = ['pending', 'paid', 'refunded', 'disputed', 'expired'] as const
export const accessRequestStatuses = ['pending', 'approved', 'rejected'] as const
/**
 * Why a paid Checkout session was stored but not applied: no order of ours was created for it,
 * the order it names was created for another session, or it paid another amount or currency.
 */
export const paymentRejections = ['unknown_session', 'session_mismatch', 'amount_mismatch', 'currency_mismatch'] as const
export type PaymentRejection = (typeof paymentRejections)[number]

/** A reference that keeps the row it names: deleting that row is refused while this one exists. */
const keeping = (name: string, target: () => AnyPgColumn) => uuid(name).references(target, { onDelete: 'restrict' })

/** The database's own check that `column` holds one of `values` (an enum's values, written once). */
const oneOf = (name: string, column: AnyPgColumn, values: readonly string[]) =>
  check(name, sql`${column} in (${sql.raw(values.map((value) => `'${value}'`).join(', '))})`)

/** What an order or an access request asks for: the offer, its adapter, the team selling it. */
const askedFor = () => ({
  offerId: keeping('offer_id', () => offers.id).notNull(),
  adapterId: keeping('adapter_id', () => adapters.id).notNull(),
  sellerTeamId: keeping('seller_team_id', () => teams.id).notNull(),
})

/** Who would hold the entitlement (`user:<id>` or `team:<id>`), and under which license. */
const heldAs = () => ({
  holder: text('holder').notNull(),
  license: text('license', { enum: licenseTiers }).notNull(),
})

/** One open (pending) order or access request per offer and holder. */
const openPerHolder = (name: string, table: { offerId: AnyPgColumn; holder: AnyPgColumn; status: AnyPgColumn }) =>
  uniqueIndex(name).on(table.offerId, table.holder).where(sql`${table.status} = 'pending'`)

/** How an adapter can be had: free, for a one-time price, or on request (an application the seller decides). */
export const offers = pgTable(
  'offers',
  {
    id: id(),
    adapterId: keeping('adapter_id', () => adapters.id).notNull(),
    kind: text('kind', { enum: offerKinds }).notNull(),
    license: text('license', { enum: licenseTiers }).notNull(),
    /** Minor units (cents) for one_time offers; null otherwise. */
    amount: integer('amount'),
    currency: text('currency'),
    active: boolean('active').notNull().default(true),
    ...timestamps,
  },
  (table) => [
    index('offers_adapter_idx').on(table.adapterId),
    oneOf('offers_kind_check', table.kind, offerKinds),
    oneOf('offers_license_check', table.license, licenseTiers),
    check(
      'offers_price_check',
      sql`(${table.kind} = 'one_time' and ${table.amount} > 0 and ${table.currency} is not null) or (${table.kind} <> 'one_time' and ${table.amount} is null and ${table.currency} is null)`,
    ),
  ],
)

/**
 * A purchase of a one_time offer. Created `pending` before Stripe is called (its id is the
 * idempotency key); the Checkout session id is recorded when Stripe answers, and only a verified
 * event about that session, for the order's amount and currency, makes it `paid`;
 * `refunded`/`disputed` revoke.
 */
export const orders = pgTable(
  'orders',
  {
    id: id(),
    ...askedFor(),
    buyerUserId: keeping('buyer_user_id', () => users.id).notNull(),
    /** Set when bought for a team: the whole team is entitled. */
    buyerTeamId: keeping('buyer_team_id', () => teams.id),
    ...heldAs(),
    amount: integer('amount').notNull(),
    currency: text('currency').notNull(),
    feeAmount: integer('fee_amount').notNull(),
    status: text('status', { enum: orderStatuses }).notNull().default('pending'),
    stripeSessionId: text('stripe_session_id'),
    stripePaymentIntentId: text('stripe_payment_intent_id'),
    checkoutUrl: text('checkout_url'),
    paidAt: timestamp('paid_at', { withTimezone: true }),
    refundedAt: timestamp('refunded_at', { withTimezone: true }),
    refundedAmount: integer('refunded_amount').notNull().default(0),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('orders_stripe_session_key').on(table.stripeSessionId),
    uniqueIndex('orders_stripe_payment_intent_key').on(table.stripePaymentIntentId),
    openPerHolder('orders_open_key', table),
    index('orders_seller_idx').on(table.sellerTeamId, table.createdAt),
    oneOf('orders_status_check', table.status, orderStatuses),
    check('orders_amount_check', sql`${table.amount} > 0 and ${table.feeAmount} >= 0 and ${table.feeAmount} <= ${table.amount}`),
  ],
)

/** An application for an on_request offer, decided by the seller team. */
export const accessRequests = pgTable(
  'access_requests',
  {
    id: id(),
    ...askedFor(),
    requesterUserId: keeping('requester_user_id', () => users.id).notNull(),
    requesterTeamId: keeping('requester_team_id', () => teams.id),
    ...heldAs(),
    message: text('message').notNull(),
    status: text('status', { enum: accessRequestStatuses }).notNull().default('pending'),
    decidedByUserId: keeping('decided_by_user_id', () => users.id),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    decisionNote: text('decision_note'),
    ...timestamps,
  },
  (table) => [
    openPerHolder('access_requests_open_key', table),
    index('access_requests_seller_idx').on(table.sellerTeamId, table.status, table.createdAt),
    oneOf('access_requests_status_check', table.status, accessRequestStatuses),
  ],
)

/** A seller team's Stripe Connect (Express) account. */
export const payoutAccounts = pgTable('payout_accounts', {
  teamId: keeping('team_id', () => teams.id).primaryKey(),
  stripeAccountId: text('stripe_account_id').notNull().unique(),
  chargesEnabled: boolean('charges_enabled').notNull().default(false),
  payoutsEnabled: boolean('payouts_enabled').notNull().default(false),
  ...timestamps,
})

/**
 * Every Stripe event received, stored by its id before it is processed: a repeat delivery finds
 * the row and does nothing; `processed_at` is set in the same transaction as the effect. An
 * event that overtook what it depends on waits with `waiting_for` set (a payment intent id: a
 * refund before its payment; an order id: a payment before the order's session id was recorded)
 * and is applied when that arrives. A paid session that does not match its order is processed
 * without effect: `rejected_reason` says why, for operators to look into.
 */
export const stripeEvents = pgTable(
  'stripe_events',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    /** The event as Stripe signed it; read through `storedEvent` (webhooks.ts). */
    payload: jsonb('payload').$type<Stripe.Event>().notNull(),
    waitingFor: text('waiting_for'),
    processedAt: timestamp('processed_at', { withTimezone: true }),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /** The order the event names (when it names one of ours), applied or not. */
    orderId: keeping('order_id', () => orders.id),
    rejectedReason: text('rejected_reason', { enum: paymentRejections }),
    ...timestamps,
  },
  (table) => [
    index('stripe_events_waiting_idx').on(table.waitingFor).where(sql`${table.processedAt} is null`),
    index('stripe_events_rejected_idx').on(table.createdAt).where(sql`${table.rejectedReason} is not null`),
    oneOf('stripe_events_rejected_reason_check', table.rejectedReason, paymentRejections),
  ],
)

/**
 * The right to download every version of an adapter, held by a user or a whole team.
 * `source`/`source_id` name what granted it (a claimed free offer, a paid order, an approved
 * request) and are unique, so granting the same thing twice cannot create a second row.
 */
export const entitlements = pgTable(
  'entitlements',
  {
    id: id(),
    adapterId: keeping('adapter_id', () => adapters.id).notNull(),
    userId: keeping('user_id', () => users.id),
    teamId: keeping('team_id', () => teams.id),
    license: text('license', { enum: licenseTiers }).notNull(),
    source: text('source', { enum: entitlementSources }).notNull(),
    sourceId: text('source_id').notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokeReason: text('revoke_reason'),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('entitlements_source_key').on(table.source, table.sourceId),
    index('entitlements_user_idx').on(table.userId, table.adapterId),
    index('entitlements_team_idx').on(table.teamId, table.adapterId),
    check('entitlements_holder_check', sql`(${table.userId} is null) <> (${table.teamId} is null)`),
    oneOf('entitlements_license_check', table.license, licenseTiers),
    oneOf('entitlements_source_check', table.source, entitlementSources),
  ],
)

/** A verified buyer's review of a version: one per version per user, or per team when written for one. */
export const reviews = pgTable(
  'reviews',
  {
    id: id(),
    adapterId: uuid('adapter_id')
      .notNull()
      .references(() => adapters.id, { onDelete: 'restrict' }),
    versionId: uuid('version_id')
      .notNull()
      .references(() => adapterVersions.id, { onDelete: 'restrict' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    teamId: uuid('team_id').references(() => teams.id, { onDelete: 'restrict' }),
    rating: smallint('rating').notNull(),
    text: text('text').notNull().default(''),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('reviews_version_user_key').on(table.versionId, table.userId).where(sql`${table.teamId} is null`),
    uniqueIndex('reviews_version_team_key').on(table.versionId, table.teamId).where(sql`${table.teamId} is not null`),
    index('reviews_adapter_idx').on(table.adapterId, table.createdAt),
    check('reviews_rating_check', sql`${table.rating} between 1 and 5`),
  ],
)
