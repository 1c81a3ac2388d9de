import { createRoute, z } from '@hono/zod-openapi'
import { listCompatibleAdaptersJson } from '../search'
import { CompatibleAdaptersQuerySchema, CompatibleAdaptersSchema } from '../search'
import { publicReadContext, serviceContext } from '../lib/context'
import { ApiError } from '../lib/errors'
import { bearer, createRouter, json, jsonBody, optionalBearer, problems, sendJson } from '../lib/openapi'
import { checkCompatibility, inspectSafetensors } from './check'
import { getBaseModel, listBaseModels, registerBaseModel, toBaseModelView } from '../registry'
import { listPendingBaseModels, reviewBaseModel } from './review'
import { BaseModelDetailSchema, BaseModelReviewResultSchema, ListPendingBaseModelsQuerySchema, PendingBaseModelSchema, ReviewBaseModelSchema, BaseModelParamsSchema, BaseModelSchema, CheckCompatibilitySchema, CompatReportSchema, InspectionSchema, ListBaseModelsQuerySchema, RegisterBaseModelSchema } from './schemas'

const tags = ['compat']

const listBaseModelsRoute = createRoute({
  method: 'get',
  path: '/v1/base-models',
  operationId: 'listBaseModels',
  security: optionalBearer,
  tags,
  summary: 'Every base model adapters are checked against',
  request: { query: ListBaseModelsQuerySchema },
  responses: {
    200: json(z.object({ items: z.array(BaseModelSchema), nextCursor: z.string().nullable() }), 'The registry'),
    ...problems(422),
  },
})

const getBaseModelRoute = createRoute({
  method: 'get',
  path: '/v1/base-models/{owner}/{name}',
  operationId: 'getBaseModel',
  security: optionalBearer,
  tags,
  summary: 'A base model’s architecture facts and its shape twins',
  request: { params: BaseModelParamsSchema },
  responses: { 200: json(BaseModelDetailSchema, 'The base model'), ...problems(404, 422) },
})

const registerBaseModelRoute = createRoute({
  method: 'post',
  path: '/v1/base-models',
  operationId: 'registerBaseModel',
  tags,
  summary: 'Register a base model from its config.json: pending (usable by your team only) until an operator reviews it',
  security: bearer('publish'),
  request: { body: jsonBody(RegisterBaseModelSchema) },
  responses: { 201: json(BaseModelSchema, 'Registered'), ...problems(404, 409, 413, 422) },
})

const listPendingRoute = createRoute({
  method: 'get',
  path: '/v1/base-models/pending',
  operationId: 'listPendingBaseModels',
  tags,
  summary: 'Registrations waiting for review (platform operators only)',
  security: bearer('admin'),
  request: { query: ListPendingBaseModelsQuerySchema },
  responses: {
    200: json(z.object({ items: z.array(PendingBaseModelSchema), nextCursor: z.string().nullable() }), 'Pending registrations, oldest id first'),
    ...problems(422),
  },
})

const reviewRoute = createRoute({
  method: 'post',
  path: '/v1/base-models/{owner}/{name}/review',
  operationId: 'reviewBaseModel',
  tags,
  summary: 'Verify, reject or merge a pending registration (platform operators only)',
  security: bearer('admin'),
  request: { params: BaseModelParamsSchema, body: jsonBody(ReviewBaseModelSchema) },
  responses: { 200: json(BaseModelReviewResultSchema, 'The decision'), ...problems(404, 409, 413, 422) },
})

const listCompatibleAdaptersRoute = createRoute({
  method: 'get',
  path: '/v1/base-models/{owner}/{name}/adapters',
  operationId: 'listCompatibleAdapters',
  security: optionalBearer,
  tags,
  summary: 'Published adapters whose tensors fit this base model',
  request: { params: BaseModelParamsSchema, query: CompatibleAdaptersQuerySchema },
  responses: { 200: json(CompatibleAdaptersSchema, 'Compatible adapters'), ...problems(404, 422) },
})

const inspectRoute = createRoute({
  method: 'post',
  path: '/v1/compat/inspect',
  operationId: 'inspectSafetensors',
  security: optionalBearer,
  tags,
  summary: 'Validate a safetensors file (or its first 8 + header-length bytes with X-File-Size) and list its tensors',
  request: {
    headers: z.object({
      'x-file-size': z.coerce.number().int().min(0).optional().openapi({ description: 'The whole file’s size when the body is only a prefix' }),
    }),
    body: { required: true, content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
  },
  responses: { 200: json(InspectionSchema, 'The header is valid'), ...problems(415, 422) },
})

const checkRoute = createRoute({
  method: 'post',
  path: '/v1/compat/check',
  operationId: 'checkCompatibility',
  security: optionalBearer,
  tags,
  summary: 'Does this adapter load on this base model, and on which serving engines?',
  request: { body: jsonBody(CheckCompatibilitySchema) },
  responses: { 200: json(CompatReportSchema, 'The verdict with every finding'), ...problems(404, 413, 422) },
})

export const compatRoutes = createRouter()
  .openapi(listBaseModelsRoute, async (c) => {
    const items = await listBaseModels(publicReadContext(c), c.req.valid('query'))
    return c.json({ items: items.map(toBaseModelView), nextCursor: null }, 200)
  })
  .openapi(registerBaseModelRoute, async (c) => {
    const base = await registerBaseModel(serviceContext(c), c.req.valid('json'))
    return c.json(toBaseModelView(base), 201)
  })
  .openapi(listPendingRoute, async (c) => c.json(await listPendingBaseModels(serviceContext(c), c.req.valid('query')), 200))
  .openapi(reviewRoute, async (c) => {
    const { owner, name } = c.req.valid('param')
    return c.json(await reviewBaseModel(serviceContext(c), `${owner}/${name}`, c.req.valid('json')), 200)
  })
  .openapi(getBaseModelRoute, async (c) => {
    const { owner, name } = c.req.valid('param')
    return c.json(await getBaseModel(publicReadContext(c), `${owner}/${name}`), 200)
  })
  .openapi(listCompatibleAdaptersRoute, async (c) => {
    const { owner, name } = c.req.valid('param')
    return sendJson(c, await listCompatibleAdaptersJson(publicReadContext(c), `${owner}/${name}`, c.req.valid('query')), 200)
  })
  .openapi(inspectRoute, async (c) => {
    const type = c.req.header('Content-Type') ?? ''
    if (!type.startsWith('application/octet-stream')) {
      throw new ApiError('unsupported_media_type', 'Send the file as application/octet-stream.')
    }
    return c.json(await inspectSafetensors(c.req.raw.body, c.req.valid('header')['x-file-size']), 200)
  })
  .openapi(checkRoute, async (c) => c.json(await checkCompatibility(serviceContext(c), c.req.valid('json')), 200))
