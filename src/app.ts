import { createRoute, z } from '@hono/zod-openapi'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import { requestId } from 'hono/request-id'
import type { Context, MiddlewareHandler } from 'hono'
import type { SharedDeps } from './deps'
import type { AppEnv, Deps } from './lib/context'
import { isDatabaseUnavailable } from './db/connection'
import { ApiError, databaseUnavailable, toProblem } from './lib/errors'
import { createRouter, json, noCredential } from './lib/openapi'
import { adapterRoutes } from './catalog'
import { commerceRoutes, reviewRoutes } from './commerce'
import { checksTokenVersionItself, downloadRoutes } from './downloads'
import { compatRoutes } from './compat-api/routes'
import { fingerprintRoutes, versionRoutes } from './publishing'
import { searchRoutes } from './search'
import { localStorageRoutes } from './storage/routes'
import { LOCAL_STORAGE_PATH } from './storage/types'
import { hubAuthorization, hubError, hubRoutes, isHubPath } from './hub'
import { accountRoutes, apiKeyRoutes, authenticate, invitationRoutes, teamRoutes } from './identity'
import { errorPage, isStorefrontPath, webRoutes } from './web'
import { docsRoutes } from './docs'

const DEFAULT_MAX_JSON_BODY_BYTES = 1024 * 1024
const STREAMED_BODY_PATHS = ['/v1/compat/inspect', '/v1/compat/fingerprint', '/v1/storage/local/']
const CREDENTIAL_QUERY_PARAMS = ['token', 'access_token', 'api_key', 'apikey', 'key']

const healthRoute = createRoute({
  method: 'get',
  path: '/health',
  operationId: 'getHealth',
  security: noCredential,
  tags: ['meta'],
  summary: 'Liveness check',
  responses: { 200: json(z.object({ status: z.literal('ok') }), 'The API is up') },
})

const openApiConfig = (serverUrl: string) => ({
  openapi: '3.1.0',
  info: {
    title: 'Refinery API',
    version: '0.1.0',
    description: 'Publish, verify, price and trade LoRA adapters. Errors are RFC 9457 problem+json with a stable `code`.',
    // The text is LICENSE at the repository's root (SPDX LicenseRef-: a licence of our own, not on SPDX's list).
    license: { name: 'Proprietary', identifier: 'LicenseRef-Refinery-Proprietary' },
  },
  servers: [{ url: serverUrl }],
})

/** Every documented route, on any router: the app's and the one `openApiDocument` describes. */
function mountApi(app: ReturnType<typeof createRouter>) {
  app.openapi(healthRoute, (c) => c.json({ status: 'ok' as const }, 200))
  app.route('/', accountRoutes)
  app.route('/', teamRoutes)
  app.route('/', invitationRoutes)
  app.route('/', apiKeyRoutes)
  app.route('/', searchRoutes)
  app.route('/', adapterRoutes)
  app.route('/', versionRoutes)
  app.route('/', fingerprintRoutes)
  app.route('/', reviewRoutes)
  app.route('/', compatRoutes)
  app.route('/', commerceRoutes)
  app.route('/', downloadRoutes)
  app.route('/', localStorageRoutes)

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'An access token from `login`/`signup`, or an API key (`rfy_…`).',
  })
}

/** The OpenAPI document the app serves at /openapi.json, built without a database (for the typed client). */
export function openApiDocument(serverUrl = 'http://localhost:8787') {
  const app = createRouter()
  mountApi(app)
  return app.getOpenAPI31Document(openApiConfig(serverUrl))
}

/**
 * The dependencies of one request, where some cannot outlive it: on Workers each request opens
 * its own Postgres clients and download log (I/O objects are bound to the request that made them).
 */
export type RequestDeps = (c: Context<AppEnv>) => Deps

/**
 * The whole API; the Node entry, the Workers entry and the tests all build it here, once per
 * process or isolate (it keeps verified tokens, limiters and caches between requests).
 */
export function createApp(deps: Deps): ReturnType<typeof createRouter>
export function createApp(deps: SharedDeps, forRequest: RequestDeps): ReturnType<typeof createRouter>
export function createApp(deps: Deps | SharedDeps, forRequest?: RequestDeps) {
  const app = createRouter()
  const log = deps.logger ?? console
  const depsOf = forRequest ?? (() => deps as Deps)

  app.use('*', requestId())
  app.use('*', async (c, next) => {
    c.set('deps', depsOf(c))
    c.set('principal', null)
    await next()
  })
  const jsonBodyLimit = bodyLimit({
    maxSize: deps.maxJsonBodyBytes ?? DEFAULT_MAX_JSON_BODY_BYTES,
    onError: () => {
      throw new ApiError('payload_too_large', 'The request body is too large.')
    },
  })
  // Routes that take files stream their bodies and bound them themselves. GET and HEAD carry no
  // body: asking for one would make @hono/node-server build a full Request for nothing.
  app.use('/v1/*', (c, next) =>
    c.req.method === 'GET' || c.req.method === 'HEAD' || STREAMED_BODY_PATHS.some((prefix) => c.req.path.startsWith(prefix)) ? next() : jsonBodyLimit(c, next),
  )
  const caller =
    (readHeader: (header: string | undefined) => string | undefined = (header) => header): MiddlewareHandler<AppEnv> =>
    async (c, next) => {
      // Credentials travel in the Authorization header only: a URL ends up in logs, caches and Referer headers.
      if (c.req.url.includes('?') && CREDENTIAL_QUERY_PARAMS.some((name) => c.req.query(name) !== undefined)) {
        throw new ApiError('credentials_in_query', 'Send the access token or API key in the Authorization header, never in the URL.')
      }
      const tokenVersion = checksTokenVersionItself(c.req.method, c.req.path) ? 'left-to-verb' : undefined
      c.set('principal', await authenticate(c.get('deps'), readHeader(c.req.header('Authorization')), { tokenVersion }))
      await next()
    }
  const apiCaller = caller()
  const hubCaller = caller(hubAuthorization)
  // Hub clients follow /hf's redirect to a local-store URL on the same host with their `hf_…` token.
  app.use('/v1/*', (c, next) => (c.req.path.startsWith(`${LOCAL_STORAGE_PATH}/`) ? hubCaller(c, next) : apiCaller(c, next)))
  app.use('/hf/*', hubCaller)

  mountApi(app)
  app.doc31('/openapi.json', openApiConfig(deps.publicUrl))
  app.route('/', docsRoutes(deps.docsAssets, deps.publicUrl))
  app.route('/', hubRoutes)
  // The storefront last: its `/{team}/{slug}` pages must not shadow API paths.
  app.route('/', webRoutes)

  app.notFound((c) => {
    throw new ApiError('not_found', `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`)
  })

  app.onError((error, c) => {
    const id = c.get('requestId')
    let apiError: ApiError
    if (error instanceof ApiError) {
      apiError = error
    } else if (error instanceof HTTPException && error.status < 500) {
      apiError = fromHttpException(error)
    } else if (isDatabaseUnavailable(error)) {
      log.warn(`[${id}] database unavailable on ${c.req.method} ${c.req.path}`, error)
      apiError = databaseUnavailable()
    } else {
      log.error(`[${id}] unhandled error on ${c.req.method} ${c.req.path}`, error)
      apiError = new ApiError('internal_error', `Something went wrong on our side; quote request id ${id}.`)
    }
    if (isHubPath(c.req.path)) return hubError(c, apiError, id)
    if (isStorefrontPath(c.req.path)) return errorPage(c, apiError.status, apiError.title, apiError.message)
    return c.body(JSON.stringify(toProblem(apiError, id)), apiError.status, {
      'Content-Type': 'application/problem+json',
      ...apiError.headers,
    })
  })

  return app
}

/**
 * Hono's own refusals as registry problems: a code decides the status. The validator's
 * malformed bodies are 400s; the storefront's `hono/csrf` is the only middleware here that
 * throws a 403 (its message is empty: say why).
 */
function fromHttpException(error: HTTPException): ApiError {
  if (error.status === 403) return new ApiError('cross_origin_post', "This address takes posts from Refinery's own pages only.")
  if (error.status === 413) return new ApiError('payload_too_large', error.message || 'The request body is too large.')
  if (error.status === 415) return new ApiError('unsupported_media_type', error.message)
  if (error.message.startsWith('Malformed JSON')) return new ApiError('invalid_json', error.message)
  return new ApiError('bad_request', error.message)
}

export type App = ReturnType<typeof createApp>
