import { OpenAPIHono, z } from '@hono/zod-openapi'
import type { Context, TypedResponse } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { JSONParsed } from 'hono/utils/types'
import type { ZodType } from 'zod'
import type { Scope } from '../identity/tables'
import type { AppEnv } from './context'
import { ApiError, type ProblemStatus } from './errors'
import { storable, unstorable } from './text'

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: 'validation_failed' }),
    requestId: z.string().optional(),
  })
  .loose()
  .openapi('Problem')

/** The OpenAPI description of each status a problem is answered with (every status in the registry has one). */
const problemDescriptions: Record<ProblemStatus, string> = {
  400: 'Malformed request',
  401: 'Missing, invalid or expired credentials',
  403: 'Authenticated but not allowed',
  404: 'Not found',
  409: 'Conflicts with existing state',
  410: 'Gone: withdrawn by its seller',
  413: 'Body too large',
  415: 'Unsupported content type',
  416: 'The range starts past the end of the file',
  422: 'The body or parameters failed validation',
  429: 'Rate limited',
  500: 'An unexpected failure (the detail quotes the request id)',
  503: 'A dependency is unavailable, or the server is too busy',
}

/**
 * What any /v1 route may answer, whatever it does: a credential in the URL (400) or a bad one
 * (401), a refusal (403), a rate limit (429), a failure (500), an outage or a busy server (503).
 */
export const EVERY_ROUTE_PROBLEMS = [400, 401, 403, 429, 500, 503] as const satisfies readonly ProblemStatus[]

type ProblemResponse = { description: string; content: { 'application/problem+json': { schema: typeof ProblemSchema } } }

/**
 * The problem+json responses of a /v1 route, for the OpenAPI document: those every route may
 * answer (`EVERY_ROUTE_PROBLEMS`) and the route's own `statuses`. Every route declares its
 * responses through here, so none forgets the shared ones.
 */
export function problems<S extends ProblemStatus>(...statuses: S[]) {
  return Object.fromEntries(
    [...EVERY_ROUTE_PROBLEMS, ...statuses].map((status) => [status, { description: problemDescriptions[status], content: { 'application/problem+json': { schema: ProblemSchema } } }]),
  ) as Record<S | (typeof EVERY_ROUTE_PROBLEMS)[number], ProblemResponse>
}

export const json = <T extends ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})

export const jsonBody = <T extends ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
})

/**
 * The route takes a Bearer credential holding `scope` (OpenAPI 3.1 lets non-OAuth schemes name
 * roles here): the docs show it, and the authorization matrix test reads it.
 */
/** `JSON.stringify` of a `T`, kept as text (a cached answer) so it is not serialised again. */
export type SerialisedJson<T> = string & { readonly json: T }

export const serialiseJson = <T>(value: T) => JSON.stringify(value) as SerialisedJson<T>

/** Sends JSON already serialised, typed for the route as `c.json(value)` would be. */
export const sendJson = <T, S extends ContentfulStatusCode>(c: Context, body: SerialisedJson<T>, status: S) =>
  c.body(body, status, { 'Content-Type': 'application/json' }) as unknown as TypedResponse<JSONParsed<T>, S, 'json'>

export const bearer = (scope: Scope) => [{ bearerAuth: [scope] }]

/**
 * Anyone may call, and a credential, when sent, is checked (a bad one is a 401) and shows the
 * caller's own drafts: OpenAPI's "no requirement, or bearerAuth".
 */
export const optionalBearer: Record<string, string[]>[] = [{}, { bearerAuth: [] }]

/** No credential is read: the request carries its own proof (a password, a signed URL, Stripe's signature) or needs none. */
export const noCredential: Record<string, string[]>[] = []

/** The first key or string in `value` that Postgres could not store, with its path. */
export function unstorablePath(value: unknown): { path: string; message: string } | undefined {
  // Almost every body is storable: answer that without building a path per value; look for the
  // offending path (in the same order as always) only when there is one.
  return allStorable(value) ? undefined : firstUnstorable(value)
}

/** Whether every key and string in `value` is storable, walked without recursion or paths. */
function allStorable(value: unknown): boolean {
  const pending: unknown[] = [value]
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (typeof item === 'string') {
      if (!storable(item)) return false
    } else if (Array.isArray(item)) {
      for (let i = 0; i < item.length; i++) {
        const child: unknown = item[i]
        if (typeof child === 'object' ? child !== null : typeof child === 'string') pending.push(child)
      }
    } else if (typeof item === 'object' && item !== null) {
      const record = item as Record<string, unknown>
      for (const key of Object.keys(record)) {
        if (!storable(key)) return false
        const child = record[key]
        if (typeof child === 'object' ? child !== null : typeof child === 'string') pending.push(child)
      }
    }
  }
  return true
}

function firstUnstorable(value: unknown): { path: string; message: string } | undefined {
  const pending: [unknown, string[]][] = [[value, []]]
  while (pending.length > 0) {
    const [item, path] = pending.pop()!
    if (typeof item === 'string') {
      const message = unstorable(item)
      if (message) return { path: path.join('.'), message }
    } else if (typeof item === 'object' && item !== null) {
      for (const [key, child] of Object.entries(item)) {
        const message = unstorable(key)
        if (message) return { path: [...path, key].join('.'), message }
        pending.push([child, [...path, key]])
      }
    }
  }
  return undefined
}

/** One error per failing path; an unknown field is named by its own path (`license.comercial`). */
function describeIssue(issue: { path: PropertyKey[]; message: string; code?: string; keys?: string[] }) {
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    return issue.keys.map((key) => ({ path: [...issue.path, key].join('.'), message: 'unknown field: this API does not take it (check its spelling)' }))
  }
  return [{ path: issue.path.map(String).join('.'), message: issue.message }]
}

function invalid(errors: { path: string; message: string }[]): never {
  const summary = errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ')
  throw new ApiError('validation_failed', `The request is invalid: ${summary}`, { extra: { errors } })
}

/**
 * A router whose validation failures become 422 problems with every failing path listed. Valid
 * input is refused too when a string in it could not be stored (a NUL character, a lone
 * surrogate): every text we accept may be stored, and Postgres would refuse it with a 500.
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) invalid(result.error.issues.flatMap(describeIssue))
      const refused = unstorablePath(result.data)
      if (refused) invalid([refused])
    },
  })
}

/** A schema read from the query string under `name`. */
export const queryParam = <T extends z.ZodType>(schema: T, name: string) => schema.openapi({ param: { name, in: 'query' } })
