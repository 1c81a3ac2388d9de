import type { Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { csrf } from 'hono/csrf'
import { createMiddleware } from 'hono/factory'
import type { JSX } from 'hono/jsx/jsx-runtime'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Principal } from '../identity/principal'
import { type AppEnv, type Deps, publicReadContext, type ServiceContext, serviceContext } from '../lib/context'
import { ApiError } from '../lib/errors'
import { unstorable } from '../lib/text'
import { ErrorPage } from './pages/account'
import { sessionPrincipal } from './session'

/** Storefront pages allow their own stylesheet and nothing else: no scripts, no framing. */
const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
}

/** Renders a page; pages that depend on who is signed in are never cached. */
export function page(c: Context<AppEnv>, body: JSX.Element, status: ContentfulStatusCode = 200) {
  return c.html(body, status, { ...PAGE_HEADERS, 'Cache-Control': 'no-store' })
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

/** Form posts must come from our own pages (Origin checked), on top of the SameSite=Lax cookie. */
const sameOrigin = csrf({
  origin: (origin, c) => origin === new URL(c.req.url).origin || origin === new URL((c as Context<AppEnv>).get('deps').publicUrl).origin,
})

/** Forms here carry a pasted config.json at most (a few kB); refuse bodies far beyond that. */
const formLimit = bodyLimit({
  maxSize: 256 * 1024,
  onError: () => {
    throw new ApiError(413, 'payload_too_large', 'The form is too large; a config.json is a few kilobytes.')
  },
})

/** Text Postgres cannot store (a NUL character, %00) is refused in any field, as the API does. */
const storableText = createMiddleware<AppEnv>(async (c, next) => {
  for (const [name, value] of Object.entries(await c.req.parseBody())) {
    const reason = typeof value === 'string' ? unstorable(value) : undefined
    if (reason) throw new ApiError(422, 'validation_failed', `The field ${name} ${reason}.`)
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
