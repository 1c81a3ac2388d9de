import type { ContentfulStatusCode } from 'hono/utils/http-status'

/** A failure the API answers with a problem+json body; `code` is stable for clients. */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode
  readonly code: string
  readonly extra: Record<string, unknown> | undefined
  readonly headers: Record<string, string> | undefined

  constructor(
    status: ContentfulStatusCode,
    code: string,
    detail: string,
    options: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(detail)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.extra = options.extra
    this.headers = options.headers
  }
}

const titles: Partial<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

export type Problem = {
  type: string
  title: string
  status: number
  detail: string
  code: string
  requestId?: string
  [key: string]: unknown
}

export function toProblem(error: ApiError, requestId: string | undefined): Problem {
  return {
    type: `urn:refinery:problem:${error.code}`,
    title: titles[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(requestId ? { requestId } : {}),
    ...error.extra,
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} was not found.`)

/** What a request that met a database outage answers: 503 with a retry hint, never a 500. */
export const databaseUnavailable = () =>
  new ApiError(503, 'database_unavailable', 'The database cannot be reached right now; try again shortly.', {
    headers: { 'Retry-After': '5' },
  })
