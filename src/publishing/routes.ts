import { createRoute } from '@hono/zod-openapi'
import {
  AdapterParamsSchema,
  CompleteVersionSchema,
  CreateVersionResponseSchema,
  CreateVersionSchema,
  UpdateVersionSchema,
  VersionCompatibilitySchema,
  VersionListSchema,
  VersionParamsSchema,
  VersionSchema,
} from '../catalog/schemas'
import { serviceContext } from '../lib/context'
import { bearer, createRouter, json, jsonBody, optionalBearer, problems } from '../lib/openapi'
import { completeVersion, createVersion, getVersion, getVersionCompatibility, listVersions, publishVersion, updateVersion } from './versions'

const tags = ['catalog']
const versionPath = '/v1/adapters/{team}/{slug}/versions/{version}'

const createVersionRoute = createRoute({
  method: 'post',
  path: '/v1/adapters/{team}/{slug}/versions',
  operationId: 'createVersion',
  tags,
  summary: 'Declare a new version and its files; answers with upload URLs',
  security: bearer('publish'),
  request: { params: AdapterParamsSchema, body: jsonBody(CreateVersionSchema) },
  responses: { 201: json(CreateVersionResponseSchema, 'Upload the files, then call completeVersion'), ...problems(404, 409, 413, 422) },
})

const listVersionsRoute = createRoute({
  method: 'get',
  path: '/v1/adapters/{team}/{slug}/versions',
  operationId: 'listVersions',
  security: optionalBearer,
  tags,
  summary: 'The versions of a listing, highest first: published ones, and every version for the seller team',
  request: { params: AdapterParamsSchema },
  responses: { 200: json(VersionListSchema, 'The versions'), ...problems(404, 422) },
})

const getVersionCompatibilityRoute = createRoute({
  method: 'get',
  path: `${versionPath}/compatibility`,
  operationId: 'getVersionCompatibility',
  security: optionalBearer,
  tags,
  summary: 'Every registered base model against this version: verdict, shape twins, serving engines, findings',
  request: { params: VersionParamsSchema },
  responses: { 200: json(VersionCompatibilitySchema, 'The compatibility matrix (empty until validated)'), ...problems(404, 422) },
})

const getVersionRoute = createRoute({
  method: 'get',
  path: versionPath,
  operationId: 'getVersion',
  security: optionalBearer,
  tags,
  summary: 'A version with its status (uploading → validating → ready | rejected → published), files and findings',
  request: { params: VersionParamsSchema },
  responses: { 200: json(VersionSchema, 'The version'), ...problems(404, 422) },
})

const updateVersionRoute = createRoute({
  method: 'patch',
  path: versionPath,
  operationId: 'updateVersion',
  tags,
  summary: 'Change the changelog or eval results before the version is published',
  security: bearer('publish'),
  request: { params: VersionParamsSchema, body: jsonBody(UpdateVersionSchema) },
  responses: { 200: json(VersionSchema, 'The version'), ...problems(404, 409, 413, 422) },
})

const completeVersionRoute = createRoute({
  method: 'post',
  path: `${versionPath}/complete`,
  operationId: 'completeVersion',
  tags,
  summary: 'Finish the uploads (multipart parts by path) and queue validation',
  security: bearer('publish'),
  request: { params: VersionParamsSchema, body: { required: false, content: { 'application/json': { schema: CompleteVersionSchema } } } },
  responses: { 202: json(VersionSchema, 'Validation is queued'), ...problems(404, 409, 413, 422) },
})

const publishVersionRoute = createRoute({
  method: 'post',
  path: `${versionPath}/publish`,
  operationId: 'publishVersion',
  tags,
  summary: 'Make a validated version visible; from now on it never changes',
  security: bearer('publish'),
  request: { params: VersionParamsSchema },
  responses: { 200: json(VersionSchema, 'Published'), ...problems(404, 409, 422) },
})

export const versionRoutes = createRouter()
  .openapi(createVersionRoute, async (c) => {
    const { team, slug } = c.req.valid('param')
    return c.json(await createVersion(serviceContext(c), team, slug, c.req.valid('json')), 201)
  })
  .openapi(listVersionsRoute, async (c) => {
    const { team, slug } = c.req.valid('param')
    return c.json(await listVersions(serviceContext(c), team, slug), 200)
  })
  .openapi(getVersionCompatibilityRoute, async (c) => {
    const { team, slug, version } = c.req.valid('param')
    return c.json(await getVersionCompatibility(serviceContext(c), team, slug, version), 200)
  })
  .openapi(getVersionRoute, async (c) => {
    const { team, slug, version } = c.req.valid('param')
    return c.json(await getVersion(serviceContext(c), team, slug, version), 200)
  })
  .openapi(updateVersionRoute, async (c) => {
    const { team, slug, version } = c.req.valid('param')
    return c.json(await updateVersion(serviceContext(c), team, slug, version, c.req.valid('json')), 200)
  })
  .openapi(completeVersionRoute, async (c) => {
    const { team, slug, version } = c.req.valid('param')
    // The body is optional (single-part uploads need none); without a JSON body nothing was validated.
    const parts = (c.req.valid('json') as Partial<{ parts: Record<string, { partNumber: number; etag: string }[]> }>).parts ?? {}
    return c.json(await completeVersion(serviceContext(c), team, slug, version, { parts }), 202)
  })
  .openapi(publishVersionRoute, async (c) => {
    const { team, slug, version } = c.req.valid('param')
    return c.json(await publishVersion(serviceContext(c), team, slug, version), 200)
  })
