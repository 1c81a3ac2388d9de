import { createRoute, z } from '@hono/zod-openapi'
import { VersionParamsSchema } from '../catalog/schemas'
import { TeamParamSchema } from '../identity/schemas'
import { serviceContext } from '../lib/context'
import { ApiError } from '../lib/errors'
import { bearer, createRouter, json, problems } from '../lib/openapi'
import { checkFingerprint, listFingerprintMatches, listFingerprintReviews, overruleFingerprint } from './fingerprints'

const tags = ['publishing']

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
  cursor: z.string().max(500).optional().openapi({ param: { name: 'cursor', in: 'query' } }),
  limit: z.coerce.number().int().min(1).max(100).default(50).openapi({ param: { name: 'limit', in: 'query' } }),
})

const listFingerprintMatchesRoute = createRoute({
  method: 'get',
  path: '/v1/teams/{team}/fingerprint-matches',
  operationId: 'listFingerprintMatches',
  tags,
  summary: "Other teams' uploads that copied (all or part of) this team's versions, newest first",
  security: bearer('read'),
  request: { params: TeamParamSchema, query: FingerprintListQuerySchema },
  responses: { 200: json(FingerprintMatchListSchema, 'Copy attempts'), ...problems(404, 422) },
})

const listFingerprintReviewsRoute = createRoute({
  method: 'get',
  path: '/v1/fingerprint-reviews',
  operationId: 'listFingerprintReviews',
  tags,
  summary: 'Versions rejected as duplicates or flagged as partial copies (platform operators only)',
  security: bearer('admin'),
  request: { query: FingerprintListQuerySchema },
  responses: { 200: json(FingerprintReviewListSchema, 'Newest first'), ...problems(422) },
})

const overruleFingerprintRoute = createRoute({
  method: 'post',
  path: '/v1/adapters/{team}/{slug}/versions/{version}/fingerprint/overrule',
  operationId: 'overruleFingerprint',
  tags,
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
