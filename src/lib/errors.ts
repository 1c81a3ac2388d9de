import { PROBLEMS, type ProblemCode, type ProblemStatus } from './problems'

export type { ProblemCode, ProblemStatus } from './problems'

/**
 * A failure the API answers with a problem+json body. `code` is stable for clients and names an
 * entry of the registry (src/lib/problems.ts), which gives the status and title.
 */
export class ApiError extends Error {
  readonly status: ProblemStatus
  readonly code: ProblemCode
  readonly extra: Record<string, unknown> | undefined
  readonly headers: Record<string, string> | undefined

  constructor(code: ProblemCode, detail: string, options: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {}) {
    super(detail)
    this.name = 'ApiError'
    this.code = code
    this.status = PROBLEMS[code].status
    this.extra = options.extra
    this.headers = options.headers
  }

  get title(): string {
    return PROBLEMS[this.code].title
  }
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
    title: error.title,
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(requestId ? { requestId } : {}),
    ...error.extra,
  }
}

export const notFound = (what: string) => new ApiError('not_found', `${what} was not found.`)

/** What a request that met a database outage answers: 503 with a retry hint, never a 500. */
export const databaseUnavailable = () =>
  new ApiError('database_unavailable', 'The database cannot be reached right now; try again shortly.', {
    headers: { 'Retry-After': '5' },
  })
