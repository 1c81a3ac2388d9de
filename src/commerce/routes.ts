import { createRoute, z } from '@hono/zod-openapi'
import { AdapterParamsSchema } from '../catalog'
import { TeamParamSchema } from '../identity'
import { serviceContext } from '../lib/context'
import { bearer, createRouter, json, jsonBody, noCredential, optionalBearer, problems } from '../lib/openapi'
import { decideAccessRequest, listAccessRequests } from './access-requests'
import { checkout } from './checkout'
import { listEntitlements } from './entitlements'
import { createOffer, listOffers, updateOffer } from './offers'
import { startPayoutOnboarding } from './payouts'
import { AccessRequestListQuerySchema, AccessRequestSchema, CheckoutResultSchema, CheckoutSchema, CreateOfferSchema, DecisionSchema, EntitlementSchema, IdParamSchema, RejectedPaymentSchema, RejectedPaymentsQuerySchema, OfferParamsSchema, OfferSchema, OnboardingSchema, UpdateOfferSchema, CreateReviewSchema, ReviewListQuerySchema, ReviewListSchema, ReviewParamsSchema, ReviewSchema, UpdateReviewSchema } from './schemas'
import { listRejectedPayments, receiveStripeEvent } from './webhooks'
import { createReview, deleteReview, listReviews, updateReview } from './reviews'
import { VersionParamsSchema } from '../publishing'

const tags = ['commerce']

const createOfferRoute = createRoute({
  method: 'post',
  path: '/v1/adapters/{team}/{slug}/offers',
  operationId: 'createOffer',
  tags,
  summary: 'Offer the adapter free, for a one-time price, or on request (409 offer_exists for a second active offer on the same terms)',
  security: bearer('publish'),
  request: { params: AdapterParamsSchema, body: jsonBody(CreateOfferSchema) },
  responses: { 201: json(OfferSchema, 'Offer created'), ...problems(404, 409, 413, 422) },
})

const updateOfferRoute = createRoute({
  method: 'patch',
  path: '/v1/adapters/{team}/{slug}/offers/{offerId}',
  operationId: 'updateOffer',
  tags,
  summary: 'Withdraw an offer, put it back, or change a one-time price (team owners and admins; licences already granted stay)',
  security: bearer('publish'),
  request: { params: OfferParamsSchema, body: jsonBody(UpdateOfferSchema) },
  responses: { 200: json(OfferSchema, 'The offer as it is now'), ...problems(404, 409, 413, 422) },
})

const listOffersRoute = createRoute({
  method: 'get',
  path: '/v1/adapters/{team}/{slug}/offers',
  operationId: 'listOffers',
  security: optionalBearer,
  tags,
  summary: 'The ways to get this adapter',
  request: { params: AdapterParamsSchema },
  responses: { 200: json(z.object({ items: z.array(OfferSchema) }), 'Active offers (for the seller team, withdrawn ones too)'), ...problems(404) },
})

const checkoutRoute = createRoute({
  method: 'post',
  path: '/v1/checkout',
  operationId: 'checkout',
  tags,
  summary: 'Get an adapter through an offer: an entitlement, a Stripe Checkout page, or an access request',
  security: bearer('purchase'),
  request: { body: jsonBody(CheckoutSchema) },
  responses: {
    200: json(CheckoutResultSchema, 'Already entitled, or the open order'),
    201: json(CheckoutResultSchema, 'Entitled, checkout started, or request filed'),
    ...problems(404, 409, 413, 422),
  },
})

const rejectedPaymentsRoute = createRoute({
  method: 'get',
  path: '/v1/operator/rejected-payments',
  operationId: 'listRejectedPayments',
  tags,
  summary: 'Paid Checkout sessions stored but not applied to any order (platform operators only)',
  security: bearer('admin'),
  request: { query: RejectedPaymentsQuerySchema },
  responses: { 200: json(z.object({ items: z.array(RejectedPaymentSchema) }), 'Newest first'), ...problems(422) },
})

const webhookRoute = createRoute({
  method: 'post',
  path: '/v1/stripe/webhook',
  operationId: 'stripeWebhook',
  security: noCredential,
  tags,
  summary: 'Stripe events (signed); each is processed exactly once',
  request: { headers: z.object({ 'stripe-signature': z.string().optional() }) },
  responses: { 200: json(z.object({ received: z.literal(true), id: z.string() }), 'Stored; a queued job applies it exactly once'), ...problems(413) },
})

const listAccessRequestsRoute = createRoute({
  method: 'get',
  path: '/v1/teams/{team}/access-requests',
  operationId: 'listAccessRequests',
  tags,
  summary: 'Requests for the team’s on-request offers',
  security: bearer('read'),
  request: { params: TeamParamSchema, query: AccessRequestListQuerySchema },
  responses: { 200: json(z.object({ items: z.array(AccessRequestSchema) }), 'Requests, newest first'), ...problems(404, 422) },
})

const decisionRoute = (decision: 'approve' | 'reject') =>
  createRoute({
    method: 'post',
    path: `/v1/access-requests/{id}/${decision}`,
    operationId: decision === 'approve' ? 'approveAccessRequest' : 'rejectAccessRequest',
    tags,
    summary: decision === 'approve' ? 'Approve a request: the requester is entitled' : 'Reject a request',
    security: bearer('publish'),
    request: { params: IdParamSchema, body: { required: false, content: { 'application/json': { schema: DecisionSchema } } } },
    responses: { 200: json(AccessRequestSchema, 'Decided'), ...problems(404, 409, 422) },
  })

const listEntitlementsRoute = createRoute({
  method: 'get',
  path: '/v1/me/entitlements',
  operationId: 'listEntitlements',
  tags,
  summary: 'Adapters you (or your teams) may download',
  security: bearer('read'),
  responses: { 200: json(z.object({ items: z.array(EntitlementSchema) }), 'Entitlements, newest first'), ...problems() },
})

const onboardingRoute = createRoute({
  method: 'post',
  path: '/v1/teams/{team}/payouts/onboarding',
  operationId: 'startPayoutOnboarding',
  tags,
  summary: 'Connect the team to Stripe to be paid (Express onboarding link)',
  security: bearer('admin'),
  request: { params: TeamParamSchema },
  responses: { 200: json(OnboardingSchema, 'Open the link to finish onboarding'), ...problems(404) },
})


export const commerceRoutes = createRouter()
  .openapi(createOfferRoute, async (c) => {
    const { team, slug } = c.req.valid('param')
    return c.json(await createOffer(serviceContext(c), team, slug, c.req.valid('json')), 201)
  })
  .openapi(updateOfferRoute, async (c) => {
    const { team, slug, offerId } = c.req.valid('param')
    return c.json(await updateOffer(serviceContext(c), team, slug, offerId, c.req.valid('json')), 200)
  })
  .openapi(listOffersRoute, async (c) => {
    const { team, slug } = c.req.valid('param')
    return c.json(await listOffers(serviceContext(c), team, slug), 200)
  })
  .openapi(checkoutRoute, async (c) => {
    const { status, body } = await checkout(serviceContext(c), c.req.valid('json'))
    return c.json(body, status)
  })
  .openapi(rejectedPaymentsRoute, async (c) => c.json({ items: await listRejectedPayments(serviceContext(c), c.req.valid('query')) }, 200))
  .openapi(webhookRoute, async (c) => {
    const deps = c.get('deps')
    return c.json(await receiveStripeEvent(deps, await c.req.text(), c.req.valid('header')['stripe-signature']), 200)
  })
  .openapi(listAccessRequestsRoute, async (c) => c.json(await listAccessRequests(serviceContext(c), c.req.valid('param').team, c.req.valid('query')), 200))
  // The body is optional: the validator checks it when one is sent as JSON.
  .openapi(decisionRoute('approve'), async (c) =>
    c.json(await decideAccessRequest(serviceContext(c), c.req.valid('param').id, 'approved', c.req.valid('json')?.note), 200),
  )
  .openapi(decisionRoute('reject'), async (c) =>
    c.json(await decideAccessRequest(serviceContext(c), c.req.valid('param').id, 'rejected', c.req.valid('json')?.note), 200),
  )
  .openapi(listEntitlementsRoute, async (c) => c.json(await listEntitlements(serviceContext(c)), 200))
  .openapi(onboardingRoute, async (c) => c.json(await startPayoutOnboarding(serviceContext(c), c.req.valid('param').team), 200))

const createReviewRoute = createRoute({
  method: 'post',
  path: '/v1/adapters/{team}/{slug}/versions/{version}/reviews',
  operationId: 'createReview',
  tags: ['catalog'],
  summary: 'Rate a version (verified buyers only, once per version)',
  security: bearer('purchase'),
  request: { params: VersionParamsSchema, body: jsonBody(CreateReviewSchema) },
  responses: { 201: json(ReviewSchema, 'Review posted'), ...problems(404, 409, 413, 422) },
})

const listReviewsRoute = createRoute({
  method: 'get',
  path: '/v1/adapters/{team}/{slug}/reviews',
  operationId: 'listReviews',
  security: optionalBearer,
  tags: ['catalog'],
  summary: 'Reviews of an adapter, newest first',
  request: { params: AdapterParamsSchema, query: ReviewListQuerySchema },
  responses: { 200: json(ReviewListSchema, 'A page of reviews'), ...problems(404, 422) },
})

const updateReviewRoute = createRoute({
  method: 'patch',
  path: '/v1/reviews/{id}',
  operationId: 'updateReview',
  tags: ['catalog'],
  summary: 'Change your review: its rating, its text, or both',
  security: bearer('purchase'),
  request: { params: ReviewParamsSchema, body: jsonBody(UpdateReviewSchema) },
  responses: { 200: json(ReviewSchema, 'The review as it now reads'), ...problems(404, 413, 422) },
})

const deleteReviewRoute = createRoute({
  method: 'delete',
  path: '/v1/reviews/{id}',
  operationId: 'deleteReview',
  tags: ['catalog'],
  summary: 'Withdraw your review (you may then post a new one for that version)',
  security: bearer('purchase'),
  request: { params: ReviewParamsSchema },
  responses: { 200: json(ReviewSchema, 'The review that was withdrawn'), ...problems(404, 422) },
})

export const reviewRoutes = createRouter()
  .openapi(createReviewRoute, async (c) => {
    const { team, slug, version } = c.req.valid('param')
    return c.json(await createReview(serviceContext(c), team, slug, version, c.req.valid('json')), 201)
  })
  .openapi(listReviewsRoute, async (c) => {
    const { team, slug } = c.req.valid('param')
    return c.json(await listReviews(serviceContext(c), team, slug, c.req.valid('query')), 200)
  })
  .openapi(updateReviewRoute, async (c) => c.json(await updateReview(serviceContext(c), c.req.valid('param').id, c.req.valid('json')), 200))
  .openapi(deleteReviewRoute, async (c) => c.json(await deleteReview(serviceContext(c), c.req.valid('param').id), 200))
