import { createRoute, z } from '@hono/zod-openapi'
import { serviceContext } from '../../lib/context'
import { bearer, createRouter, json, jsonBody, problems } from '../../lib/openapi'
import { createApiKey, listApiKeys, revokeApiKey } from '../api-keys'
import { ApiKeySchema, ScopeSchema, SlugSchema } from '../schemas'

const createApiKeyRoute = createRoute({
  method: 'post',
  path: '/v1/api-keys',
  operationId: 'createApiKey',
  tags: ['identity'],
  summary: 'Create a scoped API key; the key itself is shown only in this response',
  security: bearer('admin'),
  request: {
    body: jsonBody(
      z.strictObject({
        name: z.string().trim().min(1).max(100),
        scopes: z.array(ScopeSchema).min(1),
        team: SlugSchema.optional().openapi({ description: 'Bind the key to this team (owners and admins)' }),
      }),
    ),
  },
  responses: {
    201: json(z.object({ key: z.string().openapi({ example: 'rfy_…' }), apiKey: ApiKeySchema }), 'Key created'),
    ...problems(404, 413, 422),
  },
})

const listApiKeysRoute = createRoute({
  method: 'get',
  path: '/v1/api-keys',
  operationId: 'listApiKeys',
  tags: ['identity'],
  summary: "The caller's API keys (never the secret)",
  security: bearer('admin'),
  responses: { 200: json(z.object({ items: z.array(ApiKeySchema) }), 'Keys'), ...problems() },
})

const revokeApiKeyRoute = createRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  operationId: 'revokeApiKey',
  tags: ['identity'],
  summary: 'Revoke an API key at once (idempotent); needs the admin scope, except for a key revoking itself',
  security: bearer('admin'),
  request: { params: z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' } }) }) },
  responses: { 200: json(z.object({ apiKey: ApiKeySchema }), 'Key revoked'), ...problems(404) },
})

export const apiKeyRoutes = createRouter()
  .openapi(createApiKeyRoute, async (c) => c.json(await createApiKey(serviceContext(c), c.req.valid('json')), 201))
  .openapi(listApiKeysRoute, async (c) => c.json(await listApiKeys(serviceContext(c)), 200))
  .openapi(revokeApiKeyRoute, async (c) =>
    c.json(await revokeApiKey(serviceContext(c), c.req.valid('param').id), 200),
  )
