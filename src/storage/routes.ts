import { createRoute, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { AppEnv } from '../lib/context'
import { ApiError } from '../lib/errors'
import { createRouter, json, noCredential, problems } from '../lib/openapi'
import { base64ToHex, contentDisposition, isAppServed } from './types'

const tags = ['storage']
const TokenParamsSchema = z.object({
  token: z
    .string()
    .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'a signed URL token')
    .openapi({ param: { name: 'token', in: 'path' } }),
})
const binary = (description: string) => ({
  description,
  content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
})

const putRoute = createRoute({
  method: 'put',
  path: '/v1/storage/local/{token}',
  operationId: 'putLocalObject',
  security: noCredential,
  tags,
  summary: 'Upload one file (or one part, with its optional x-amz-checksum-sha256) to a signed URL from createVersion (stores the app serves: the local folder, R2 on Workers)',
  request: { params: TokenParamsSchema, body: { required: true, ...binary('The file’s bytes') } },
  responses: {
    200: json(z.object({ size: z.number().int(), sha256: z.string() }), 'Stored and verified against the declared size and sha256'),
    ...problems(404, 422),
  },
})

const getRoute = createRoute({
  method: 'get',
  path: '/v1/storage/local/{token}',
  operationId: 'getLocalObject',
  security: noCredential,
  tags,
  summary: 'Download a file from a signed URL (stores the app serves: the local folder, R2 on Workers); HEAD and Range are supported',
  request: { params: TokenParamsSchema },
  responses: {
    200: binary('The whole file'),
    206: binary('The requested byte range'),
    ...problems(404, 416),
  },
})

function appServedStore(c: Context<AppEnv>) {
  const store = c.get('deps').store
  if (!isAppServed(store)) throw new ApiError('not_found', 'This deployment stores files in S3; use the URLs the API hands out.')
  return store
}

/** The request body as chunks: Node's own request stream when the Node server gives it to us. */
function bodyOf(c: Context<AppEnv>): ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming
  if (incoming && typeof incoming === 'object' && Symbol.asyncIterator in incoming) return incoming as AsyncIterable<Uint8Array>
  return c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() })
}

/**
 * A part's sha256 as S3 clients send it (base64 `x-amz-checksum-sha256`), in hex. A malformed
 * value is passed on as it is: it matches no digest, so the part is refused as a mismatch.
 */
function partChecksumOf(c: Context<AppEnv>): string | undefined {
  const header = c.req.header('x-amz-checksum-sha256')?.trim()
  if (header === undefined) return undefined
  return /^[A-Za-z0-9+/]{43}=$/.test(header) ? base64ToHex(header) : header
}

/** Upload and download URLs of the stores the app serves (the local folder, R2 through its binding), signed with the store's own key. */
export const localStorageRoutes = createRouter()
  .openapi(putRoute, async (c) => {
    const store = appServedStore(c)
    const length = c.req.header('Content-Length')
    const result = await store.receive(c.req.valid('param').token, bodyOf(c), length === undefined ? undefined : Number(length), partChecksumOf(c))
    return c.json({ size: result.size, sha256: result.sha256 }, 200, { ETag: `"${result.etag ?? result.sha256}"` })
  })
  .openapi(getRoute, async (c) => {
    const store = appServedStore(c)
    const object = await store.open(c.req.valid('param').token, c.req.header('Range'))
    const headers: Record<string, string> = {
      ...object.headers,
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'private, no-store',
      'Content-Type': 'application/octet-stream',
    }
    if (object.filename) headers['Content-Disposition'] = contentDisposition(object.filename)
    if (object.range === 'unsatisfiable') {
      throw new ApiError('range_not_satisfiable', `The file has ${object.size} bytes.`, {
        headers: { 'Content-Range': `bytes */${object.size}` },
      })
    }
    const status = object.range ? 206 : 200
    const length = object.range ? object.range.end - object.range.start + 1 : object.size
    headers['Content-Length'] = String(length)
    if (object.range) headers['Content-Range'] = `bytes ${object.range.start}-${object.range.end}/${object.size}`
    // Hono answers HEAD through this handler and drops the body: don't open the file for it.
    if (c.req.method === 'HEAD') return c.body(null, status, headers)
    return c.body(await object.body(), status, headers)
  })
