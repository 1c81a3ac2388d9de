import type { Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { csrf } from 'hono/csrf'
import { createMiddleware } from 'hono/factory'
import type { JSX } from 'hono/jsx/jsx-runtime'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Principal } from '../identity'
import { type AppEnv, type Deps, publicReadContext, type ServiceContext, serviceContext } from '../lib/context'
import { ApiError, toProblem } from '../lib/errors'
import { unstorable } from '../lib/text'
import { ErrorPage } from './pages/account'
import { sessionPrincipal } from './session'

/** Storefront pages allow their own stylesheet and nothing else: no scripts, no framing. */
const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
}

/**
 * A page that runs our upload script: scripts from this origin only (no inline code), and
 * fetches to this origin and to signed storage URLs (any https origin: an S3 API's host; plain
 * http too while PUBLIC_URL is http, a local setup).
 */
function scriptHeaders(publicUrl: string) {
  const storage = publicUrl.startsWith('https:') ? 'https:' : 'https: http:'
  return {
    ...PAGE_HEADERS,
    'Content-Security-Policy': `${PAGE_HEADERS['Content-Security-Policy']}; script-src 'self'; connect-src 'self' ${new URL(publicUrl).origin} ${storage}`,
  }
}

/** Renders a page; pages that depend on who is signed in are never cached. */
export function page(c: Context<AppEnv>, body: JSX.Element, status: ContentfulStatusCode = 200, options: { script?: boolean } = {}) {
  const headers = options.script ? scriptHeaders(c.get('deps').publicUrl) : PAGE_HEADERS
  return c.html(body, status, { ...headers, 'Cache-Control': 'no-store' })
}

/**
 * The session's principal on the context and the service context the verbs take: pages call
 * the same verbs as the API, as the signed-in user. (Never a `use('*')` middleware: mounted at
 * `/`, it would also run for `/v1` and replace the API's principal.)
 */
export async function webContext(c: Context<AppEnv>, reads: 'fresh' | 'public' = 'fresh'): Promise<ServiceContext & Deps & { principal: Principal | null }> {
  c.set('principal', await sessionPrincipal(c))
  // A page anyone may see reads through `publicDb` while nobody is signed in.
  return reads === 'public' ? publicReadContext(c) : serviceContext(c)
}

/** The signed-in user, or a redirect to sign in that comes back here. */
export async function signedIn(c: Context<AppEnv>) {
  const ctx = await webContext(c)
  if (ctx.principal) return { ctx, principal: ctx.principal, redirect: undefined }
  const url = new URL(c.req.url)
  return { ctx, principal: null, redirect: c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303) }
}

const isOwnOrigin = (origin: string, c: Context<AppEnv>) => origin === new URL(c.req.url).origin || origin === new URL(c.get('deps').publicUrl).origin

/** Form posts must come from our own pages (Origin checked), on top of the SameSite=Lax cookie. */
const sameOrigin = csrf({ origin: (origin, c) => isOwnOrigin(origin, c as Context<AppEnv>) })

/**
 * The upload script's JSON posts: `csrf()` checks only form content types (a cross-site page
 * cannot send JSON without CORS, which this app never grants); these demand our Origin anyway,
 * whatever the content type.
 */
const originRequired = createMiddleware<AppEnv>(async (c, next) => {
  const origin = c.req.header('Origin')
  if (!origin || !isOwnOrigin(origin, c)) throw new ApiError('cross_origin_post', "This address takes posts from Refinery's own pages only.")
  await next()
})

/** A version's declared files, changelog and evals: far below this. */
const scriptLimit = bodyLimit({
  maxSize: 256 * 1024,
  onError: () => {
    throw new ApiError('payload_too_large', 'The request is too large.')
  },
})

/** The guards every post of the upload script passes: our Origin, bounded size. */
export const scriptPost = [originRequired, scriptLimit] as const

/** A storefront route the upload script calls: its result as JSON, a refusal as problem+json (not the HTML error page). */
export async function scriptAnswer(c: Context<AppEnv>, run: () => Promise<{ status: ContentfulStatusCode; body: unknown }>) {
  try {
    const { status, body } = await run()
    return c.json(body, status, { 'Cache-Control': 'no-store' })
  } catch (error) {
    if (!(error instanceof ApiError)) throw error
    return c.body(JSON.stringify(toProblem(error, c.get('requestId'))), error.status, { 'Content-Type': 'application/problem+json', 'Cache-Control': 'no-store' })
  }
}

/** Forms here carry a pasted config.json at most (a few kB); refuse bodies far beyond that. */
const formLimit = bodyLimit({
  maxSize: 256 * 1024,
  onError: () => {
    throw new ApiError('payload_too_large', 'The form is too large; a config.json is a few kilobytes.')
  },
})

/** Text Postgres cannot store (a NUL character, %00) is refused in any field, as the API does. */
const storableText = createMiddleware<AppEnv>(async (c, next) => {
  for (const [name, value] of Object.entries(await c.req.parseBody())) {
    const reason = typeof value === 'string' ? unstorable(value) : undefined
    if (reason) throw new ApiError('validation_failed', `The field ${name} ${reason}.`)
  }
  await next()
})

/** The guards every storefront form post passes: same origin, bounded size, storable text. */
export const formPost = [sameOrigin, formLimit, storableText] as const

/**
 * Where to go back to after signing in: a path on our own origin, or home. Read the way a
 * browser reads it (WHATWG URL: tabs and newlines dropped, backslashes taken as slashes), so a
 * `next` of "/<tab>/evil.example" cannot leave the site; only the path and query are kept
 * (percent-encoded: no raw control character reaches `Location`), and a path that collapsed
 * to `//host` ("/.//evil.example") goes home too.
 */
export function safeNext(next: unknown, publicUrl: string): string {
  if (typeof next !== 'string' || next === '') return '/'
  let url: URL
  try {
    url = new URL(next, publicUrl)
  } catch {
    return '/'
  }
  const path = url.pathname + url.search
  return url.origin === new URL(publicUrl).origin && !path.startsWith('//') ? path : '/'
}

/** The HTML answer to an error on a storefront path (the API keeps problem+json). */
export function errorPage(c: Context<AppEnv>, status: number, title: string, detail: string) {
  return page(c, <ErrorPage title={title} detail={detail} />, status as ContentfulStatusCode)
}

/** Storefront paths: everything outside the API, its document and its docs. */
export const isStorefrontPath = (path: string) => !(path.startsWith('/v1/') || path === '/v1' || path === '/openapi.json' || path === '/health' || path.startsWith('/docs'))
