import { createRoute, z } from '@hono/zod-openapi'
import { AdapterParamsSchema } from '../catalog'
import { CompleteVersionSchema, CreateVersionResponseSchema, CreateVersionSchema, UpdateVersionSchema, VersionCompatibilitySchema, VersionListSchema, VersionParamsSchema, VersionSchema } from './schemas'
import { serviceContext } from '../lib/context'
import { bearer, createRouter, json, jsonBody, optionalBearer, problems, queryParam } from '../lib/openapi'
import { completeVersion, createVersion, getVersion, getVersionCompatibility, listVersions, publishVersion, updateVersion } from './versions'
import { TeamParamSchema } from '../identity'
import { ApiError } from '../lib/errors'
import { checkFingerprint, listFingerprintMatches, listFingerprintReviews, overruleFingerprint } from './fingerprints'

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

const fingerprintTags = ['publishing']

const MatchFigures = {
  kind: z.enum(['exact', 'function']).openapi({ description: 'exact: the same tensor bytes; function: the same ΔW, re-saved or re-parametrised' }),
  matchedModules: z.number().int(),
  totalModules: z.number().int(),
  share: z.number().openapi({ description: 'Matched modules over the larger of the two module sets' }),
  similarity: z.number().openapi({ description: 'The lowest sketch similarity among matched modules (1 = identical function)' }),
}

const FingerprintCheckSchema = z
  .object({
    fingerprintVersion: z.number().int(),
    modules: z.number().int(),
    verdict: z.enum(['unique', 'duplicate', 'partial']),
    matches: z.array(z.object({ version: z.string(), ...MatchFigures })).openapi({ description: 'Published versions of public listings only' }),
  })
  .openapi('FingerprintCheck')

const FingerprintMatchListSchema = z
  .object({
    items: z.array(
      z.object({
        id: z.uuid(),
        original: z.string().openapi({ description: 'Your version that was copied' }),
        attemptedBy: z.string().openapi({ description: 'The team that uploaded the copy' }),
        verdict: z.enum(['duplicate', 'flagged']),
        outcome: z.enum(['rejected', 'not_rejected']).openapi({ description: 'Whether the copy stands rejected now (operators may overrule)' }),
        at: z.iso.datetime(),
        ...MatchFigures,
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .openapi('FingerprintMatchList')

const FingerprintReviewListSchema = z
  .object({
    items: z.array(
      z.object({
        version: z.string(),
        status: z.string(),
        verdict: z.enum(['unique', 'flagged', 'duplicate', 'overruled']),
        at: z.iso.datetime(),
        matches: z.array(z.object({ version: z.string(), status: z.string(), verdict: z.enum(['duplicate', 'flagged']), ...MatchFigures })),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .openapi('FingerprintReviewList')

const checkFingerprintRoute = createRoute({
  method: 'post',
  path: '/v1/compat/fingerprint',
  operationId: 'checkFingerprint',
  tags: ['compat'],
  summary: 'Before uploading: would this safetensors file be taken for a copy of a published adapter?',
  security: bearer('publish'),
  request: {
    headers: z.object({ 'x-file-size': z.coerce.number().int().min(0).optional().openapi({ description: 'The whole file’s size (required)' }) }),
    body: { required: true, content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
  },
  responses: { 200: json(FingerprintCheckSchema, 'The fingerprint compared with published versions'), ...problems(413, 415, 422) },
})

const FingerprintListQuerySchema = z.object({
  cursor: queryParam(z.string().max(500).optional(), 'cursor'),
  limit: queryParam(z.coerce.number().int().min(1).max(100).default(50), 'limit'),
})

const listFingerprintMatchesRoute = createRoute({
  method: 'get',
  path: '/v1/teams/{team}/fingerprint-matches',
  operationId: 'listFingerprintMatches',
  tags: fingerprintTags,
  summary: "Other teams' uploads that copied (all or part of) this team's versions, newest first",
  security: bearer('read'),
  request: { params: TeamParamSchema, query: FingerprintListQuerySchema },
  responses: { 200: json(FingerprintMatchListSchema, 'Copy attempts'), ...problems(404, 422) },
})

const listFingerprintReviewsRoute = createRoute({
  method: 'get',
  path: '/v1/fingerprint-reviews',
  operationId: 'listFingerprintReviews',
  tags: fingerprintTags,
  summary: 'Versions rejected as duplicates or flagged as partial copies (platform operators only)',
  security: bearer('admin'),
  request: { query: FingerprintListQuerySchema },
  responses: { 200: json(FingerprintReviewListSchema, 'Newest first'), ...problems(422) },
})

const overruleFingerprintRoute = createRoute({
  method: 'post',
  path: '/v1/adapters/{team}/{slug}/versions/{version}/fingerprint/overrule',
  operationId: 'overruleFingerprint',
  tags: fingerprintTags,
  summary: 'Overrule a duplicate rejection or a flag (platform operators only): a rejected version is validated again without the duplicate rule',
  security: bearer('admin'),
  request: { params: VersionParamsSchema },
  responses: {
    200: json(z.object({ version: z.string(), verdict: z.literal('overruled'), status: z.string() }), 'Overruled'),
    ...problems(404, 409, 422),
  },
})

export const fingerprintRoutes = createRouter()
  .openapi(checkFingerprintRoute, async (c) => {
    const type = c.req.header('Content-Type') ?? ''
    if (!type.startsWith('application/octet-stream')) {
      throw new ApiError('unsupported_media_type', 'Send the file as application/octet-stream.')
    }
    return c.json(await checkFingerprint(serviceContext(c), c.req.raw.body, c.req.valid('header')['x-file-size']), 200)
  })
  .openapi(listFingerprintMatchesRoute, async (c) =>
    c.json(await listFingerprintMatches(serviceContext(c), c.req.valid('param').team, c.req.valid('query')), 200),
  )
  .openapi(listFingerprintReviewsRoute, async (c) => c.json(await listFingerprintReviews(serviceContext(c), c.req.valid('query')), 200))
  .openapi(overruleFingerprintRoute, async (c) => {
    const { team, slug, version } = c.req.valid('param')
    return c.json(await overruleFingerprint(serviceContext(c), team, slug, version), 200)
  })
