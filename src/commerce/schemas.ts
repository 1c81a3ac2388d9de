import { z } from '@hono/zod-openapi'
import { queryParam } from '../lib/openapi'
import { AdapterParamsSchema } from '../catalog'
import { SlugSchema } from '../identity'
import { licenseTiers, offerKinds, paymentRejections } from './tables'

/** Currencies Stripe charges in minor units of 1/100 (zero-decimal ones like JPY are left out for now). */
export const currencies = ['usd', 'eur', 'gbp', 'cny', 'cad', 'aud', 'chf', 'sgd', 'hkd'] as const
export type Currency = (typeof currencies)[number]

/**
 * Stripe's minimum charge per currency, in minor units, from its "minimum and maximum charge
 * amounts" table (docs.stripe.com/currencies). CNY is not in that table: a charge in it must
 * convert to at least the platform's settlement minimum (USD 0.50 is about CNY 3.60), so CNY 5.00
 * leaves room for the exchange rate. A new currency must say its minimum here (zero-decimal
 * ones count whole units: JPY 50).
 */
export const minimumCharge = { usd: 50, eur: 50, gbp: 30, cny: 500, cad: 50, aud: 50, chf: 50, sgd: 50, hkd: 400 } as const satisfies Record<Currency, number>

export const CreateOfferSchema = z
  .strictObject({
    kind: z.enum(offerKinds),
    license: z.enum(licenseTiers),
    amount: z.number().int().positive().max(100_000_000).optional().openapi({ description: 'Price in minor units (cents); one_time only', example: 4900 }),
    currency: z
      .string()
      .transform((value) => value.toLowerCase())
      .pipe(z.enum(currencies))
      .optional()
      .openapi({ example: 'usd' }),
  })
  .superRefine((offer, ctx) => {
    if (offer.kind === 'one_time') {
      if (offer.amount === undefined) ctx.addIssue({ code: 'custom', path: ['amount'], message: 'a one_time offer needs an amount above zero' })
      if (offer.currency === undefined) ctx.addIssue({ code: 'custom', path: ['currency'], message: 'a one_time offer needs a currency' })
    } else if (offer.amount !== undefined || offer.currency !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['amount'], message: `a ${offer.kind} offer has no price` })
    }
  })
  .openapi('CreateOffer')

export const OfferSchema = z
  .object({
    id: z.uuid(),
    adapter: z.string().openapi({ example: 'acme-labs/legal-zh' }),
    kind: z.enum(offerKinds),
    license: z.enum(licenseTiers),
    amount: z.number().int().nullable(),
    currency: z.string().nullable(),
    active: z.boolean(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Offer')

export const UpdateOfferSchema = z
  .strictObject({
    active: z.boolean().openapi({ description: 'false withdraws the offer (new checkouts get 409 offer_inactive; entitlements it granted stay); true puts it back' }),
    amount: z.number().int().positive().max(100_000_000).openapi({
      description: 'A one_time offer’s new price in minor units (cents): new checkouts pay it; licences already granted stay, and a checkout already opened keeps its price',
      example: 5900,
    }),
    currency: z
      .string()
      .transform((value) => value.toLowerCase())
      .pipe(z.enum(currencies))
      .openapi({ example: 'usd' }),
  })
  .partial()
  .refine((patch) => Object.keys(patch).length > 0, { message: 'change active, amount or currency' })
  .openapi('UpdateOffer')

export const OfferParamsSchema = AdapterParamsSchema.extend({
  offerId: z.uuid().openapi({ param: { name: 'offerId', in: 'path' } }),
})

export const CheckoutSchema = z
  .strictObject({
    offerId: z.uuid(),
    team: SlugSchema.optional().openapi({ description: 'Buy for this team: every member is entitled' }),
    message: z.string().trim().min(10).max(5000).optional().openapi({ description: 'For on_request offers: who you are and what you will use it for' }),
  })
  .openapi('Checkout')

export const EntitlementSchema = z
  .object({
    id: z.uuid(),
    adapter: z.string(),
    license: z.enum(licenseTiers),
    source: z.enum(['free', 'order', 'access_request']),
    holder: z.object({ kind: z.enum(['user', 'team']), id: z.uuid(), team: z.string().nullable() }),
    grantedAt: z.iso.datetime(),
    revokedAt: z.iso.datetime().nullable(),
    revokeReason: z.string().nullable(),
  })
  .openapi('Entitlement')

export const OrderSchema = z
  .object({
    id: z.uuid(),
    adapter: z.string(),
    status: z.enum(['pending', 'paid', 'refunded', 'disputed', 'expired']),
    amount: z.number().int(),
    currency: z.string(),
    checkoutUrl: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Order')

export const AccessRequestSchema = z
  .object({
    id: z.uuid(),
    adapter: z.string(),
    offerId: z.uuid(),
    license: z.enum(licenseTiers),
    requester: z.object({ userId: z.uuid(), name: z.string(), email: z.string(), team: z.string().nullable() }),
    message: z.string(),
    status: z.enum(['pending', 'approved', 'rejected']),
    decisionNote: z.string().nullable(),
    decidedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('AccessRequest')

// What checkout did, told by `kind`: a licence at once (free, or one the buyer already holds),
// an access request for the seller to decide, or a Stripe Checkout to pay at.
export const CheckoutResultSchema = z
  .discriminatedUnion('kind', [
    z
      .object({ kind: z.literal('entitlement'), entitlement: EntitlementSchema, existing: z.boolean().optional().openapi({ description: 'true: an entitlement the buyer already held' }) })
      .openapi('CheckoutEntitlement'),
    z.object({ kind: z.literal('access_request'), accessRequest: AccessRequestSchema }).openapi('CheckoutAccessRequest'),
    z.object({ kind: z.literal('checkout'), order: OrderSchema, checkoutUrl: z.string() }).openapi('CheckoutPayment'),
  ])
  .openapi('CheckoutResult')

export const DecisionSchema = z.strictObject({ note: z.string().trim().max(2000).optional() }).default({})
export const AccessRequestListQuerySchema = z.object({ status: z.enum(['pending', 'approved', 'rejected']).optional() })
export const IdParamSchema = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) })

export const OnboardingSchema = z
  .object({ url: z.string(), accountId: z.string(), chargesEnabled: z.boolean(), payoutsEnabled: z.boolean() })
  .openapi('PayoutOnboarding')

export const SalesQuerySchema = z.object({
  from: z.iso.date().optional().openapi({ description: 'First day (UTC), inclusive' }),
  to: z.iso.date().optional().openapi({ description: 'Last day (UTC), inclusive' }),
})

const MoneySchema = z.object({ currency: z.string(), orders: z.number().int(), gross: z.number().int(), fees: z.number().int(), refunds: z.number().int(), net: z.number().int() })

export const SalesReportSchema = z
  .object({
    team: z.string(),
    from: z.string().nullable(),
    to: z.string().nullable(),
    totals: z.array(MoneySchema),
    byDay: z.array(MoneySchema.extend({ day: z.string() })),
    byAdapter: z.array(MoneySchema.extend({ adapter: z.string(), downloads: z.number().int() })),
    byBaseModel: z.array(MoneySchema.extend({ baseModel: z.string() })),
    entitlements: z.object({ free: z.number().int(), accessRequests: z.number().int(), orders: z.number().int() }),
    downloadsByVersion: z.array(z.object({ adapter: z.string(), version: z.string(), downloads: z.number().int() })),
    downloadsByDay: z
      .array(z.object({ day: z.string(), downloads: z.number().int() }))
      .openapi({ description: 'Granted downloads of the team’s files per day (UTC) in the period, seller team members’ included; days without any are left out' }),
  })
  .openapi('SalesReport')

export const RejectedPaymentSchema = z
  .object({
    eventId: z.string(),
    type: z.string(),
    reason: z.enum(paymentRejections),
    orderId: z.uuid().nullable(),
    sessionId: z.string().nullable(),
    amount: z.number().int().nullable(),
    currency: z.string().nullable(),
    paymentIntent: z.string().nullable(),
    receivedAt: z.string(),
  })
  .openapi('RejectedPayment')
export const RejectedPaymentsQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) })

export const CreateReviewSchema = z.strictObject({
  rating: z.number().int().min(1).max(5),
  text: z.string().trim().max(10_000).default(''),
  team: SlugSchema.optional().openapi({ description: 'Review for a team that holds the entitlement' }),
})

export const UpdateReviewSchema = z
  .strictObject({ rating: z.number().int().min(1).max(5), text: z.string().trim().max(10_000) })
  .partial()
  .refine((patch) => Object.keys(patch).length > 0, { message: 'change the rating, the text, or both' })
  .openapi('UpdateReview')

export const ReviewParamsSchema = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) })

export const ReviewSchema = z
  .object({
    id: z.uuid(),
    version: z.string(),
    rating: z.number().int(),
    text: z.string(),
    author: z.string(),
    team: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Review')

export const ReviewListQuerySchema = z.object({
  cursor: queryParam(z.string().max(500).optional(), 'cursor'),
  limit: queryParam(z.coerce.number().int().min(1).max(100).default(20), 'limit'),
})

export const ReviewListSchema = z
  .object({ items: z.array(ReviewSchema), ratingAverage: z.number(), ratingCount: z.number().int(), nextCursor: z.string().nullable() })
  .openapi('Reviews')
