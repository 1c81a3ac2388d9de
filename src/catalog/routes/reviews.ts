import { createRoute } from '@hono/zod-openapi'
import { serviceContext } from '../../lib/context'
import { bearer, createRouter, json, jsonBody, optionalBearer, problems } from '../../lib/openapi'
import { createReview, deleteReview, listReviews, updateReview } from '../reviews'
import {
  AdapterParamsSchema,
  CreateReviewSchema,
  ReviewListQuerySchema,
  ReviewListSchema,
  ReviewParamsSchema,
  ReviewSchema,
  UpdateReviewSchema,
  VersionParamsSchema,
} from '../schemas'

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
