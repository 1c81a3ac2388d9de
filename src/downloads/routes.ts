import type { Context } from 'hono'
import { createRoute, z } from '@hono/zod-openapi'
import { VersionParamsSchema } from '../publishing'
import { serviceContext } from '../lib/context'
import { bearer, createRouter, json, problems } from '../lib/openapi'
import { downloadFile } from './downloads'
import { getSalesReport } from './sales'
import { TeamParamSchema } from '../identity'
import { SalesQuerySchema, SalesReportSchema } from '../commerce'

const DownloadParamsSchema = VersionParamsSchema.extend({
  path: z
    .string()
    .min(1)
    .max(300)
    .openapi({ param: { name: 'path', in: 'path' }, description: 'The file’s path in the version; a nested path is sent with its / encoded as %2F', example: 'adapter_model.safetensors' }),
})

const DownloadLinkSchema = z
  .object({
    url: z.string().openapi({ description: 'Short-lived; ask again for a fresh one to resume' }),
    expiresAt: z.iso.datetime(),
    sha256: z.string(),
    size: z.number().int(),
    version: z.string(),
    commit: z.string().openapi({ description: 'The version’s commit id (see getVersion)' }),
  })
  .openapi('DownloadLink')

const filePath = '/v1/adapters/{team}/{slug}/versions/{version}/files/{path}'

const downloadRoute = createRoute({
  method: 'get',
  path: filePath,
  operationId: 'downloadFile',
  tags: ['downloads'],
  summary: 'Download a file: 302 to a short-lived signed URL (getDownloadLink gives the link as JSON)',
  description:
    'Answers 302 to a short-lived signed URL; a client that follows it receives the bytes (200, or 206 to a Range). ' +
    'Sent with `Accept: application/json`, it answers the link as JSON instead, as getDownloadLink does (kept for older clients).',
  security: bearer('read'),
  request: { params: DownloadParamsSchema },
  responses: {
    200: { description: 'The file’s bytes, once the redirect is followed', content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
    302: {
      description: 'Redirect to the file; X-Checksum-SHA256 and X-File-Size describe it',
      headers: z.object({ Location: z.string(), 'X-Checksum-SHA256': z.string(), 'X-File-Size': z.string() }),
    },
    ...problems(404, 410),
  },
})

const downloadLinkRoute = createRoute({
  method: 'get',
  path: `${filePath}/link`,
  operationId: 'getDownloadLink',
  tags: ['downloads'],
  summary: 'The short-lived signed URL of a file as JSON, with its expiry, sha256 and size (to resume, or to hand to a serving platform)',
  security: bearer('read'),
  request: { params: DownloadParamsSchema },
  responses: { 200: json(DownloadLinkSchema, 'The link, its expiry and the file’s checksum'), ...problems(404, 410) },
})

const salesRoute = createRoute({
  method: 'get',
  path: '/v1/teams/{team}/sales',
  operationId: 'getSalesReport',
  tags: ['commerce'],
  summary: 'Orders, gross, fees, refunds and net, by day and adapter',
  security: bearer('read'),
  request: { params: TeamParamSchema, query: SalesQuerySchema },
  responses: { 200: json(SalesReportSchema, 'The report'), ...problems(404, 422) },
})

export const downloadRoutes = createRouter()
  .openapi(downloadLinkRoute, async (c) => {
    const link = await downloadFile(serviceContext(c), c.req.valid('param'), downloadClientOf(c))
    return c.json(link, 200, linkHeaders(link))
  })
  .openapi(downloadRoute, async (c) => {
    const link = await downloadFile(serviceContext(c), c.req.valid('param'), downloadClientOf(c))
    const headers = linkHeaders(link)
    if ((c.req.header('Accept') ?? '').includes('application/json')) return c.json(link, 200, headers) as never
    return c.body(null, 302, { ...headers, Location: link.url })
  })
  .openapi(salesRoute, async (c) => c.json(await getSalesReport(serviceContext(c), c.req.valid('param').team, c.req.valid('query')), 200))

/**
 * The requests whose access token version `downloadFile` checks in its own access query (one
 * round trip less per download), so `authenticate` leaves it to it.
 */
export const checksTokenVersionItself = (method: string, path: string) => method === 'GET' && /^\/v1\/adapters\/[^/]+\/[^/]+\/versions\/[^/]+\/files\/[^/]+(?:\/link)?$/.test(path)

/** Who downloads, for the audit row: Cloudflare's CF-Connecting-IP on Workers, the socket's peer on Node (X-Forwarded-For is the client's to forge). */
export function downloadClientOf(c: Context) {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming
  return { address: c.req.header('CF-Connecting-IP') ?? incoming?.socket?.remoteAddress, userAgent: c.req.header('User-Agent') }
}

/** A download link never cached, with what the client needs to verify and resume it. */
export const linkHeaders = (link: { sha256: string; size: number }) => ({ 'Cache-Control': 'no-store', 'X-Checksum-SHA256': link.sha256, 'X-File-Size': String(link.size) })
