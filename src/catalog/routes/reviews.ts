import { createRoute } from '@hono/zod-openapi'
import { serviceContext } from '../../lib/context'
import { bearer, createRouter, json, jsonBody, problems } from '../../lib/openapi'
import { createReview, listReviews } from '../reviews'
import { AdapterParamsSchema, CreateReviewSchema, ReviewListQuerySchema, ReviewListSchema, ReviewSchema, VersionParamsSchema } from '../schemas'

const createReviewRoute = createRoute({
  method: 'post',
  path: '/v1/adapters/{team}/{slug}/versions/{version}/reviews',
  operationId: 'createReview',
  tags: ['catalog'],
  summary: 'Rate a version (verified buyers only, once per version)',
  security: bearer('purchase'),
  request: { params: VersionParamsSchema, body: jsonBody(CreateReviewSchema) },
  responses: { 201: json(ReviewSchema, 'Review posted'), ...problems(400, 401, 403, 404, 409, 413, 422) },
})

const listReviewsRoute = createRoute({
  method: 'get',
  path: '/v1/adapters/{team}/{slug}/reviews',
  operationId: 'listReviews',
  tags: ['catalog'],
  summary: 'Reviews of an adapter, newest first',
  request: { params: AdapterParamsSchema, query: ReviewListQuerySchema },
  responses: { 200: json(ReviewListSchema, 'A page of reviews'), ...problems(400, 401, 404, 422) },
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
