import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { authenticate } from '../identity'
import type { Principal } from '../identity'
import type { AppEnv } from '../lib/context'

/** The storefront's session: the access token from `login`, in an HttpOnly, SameSite=Lax cookie. */
export const SESSION_COOKIE = 'refinery_session'

/** The signed-in user, or null; a stale or forged cookie is dropped, never an error. */
export async function sessionPrincipal(c: Context<AppEnv>): Promise<Principal | null> {
  const token = getCookie(c, SESSION_COOKIE)
  // Only access tokens live in the cookie: API keys stay in Authorization headers.
  if (!token || token.startsWith('rfy_')) return null
  try {
    return await authenticate(c.get('deps'), `Bearer ${token}`)
  } catch {
    endSession(c)
    return null
  }
}

export function startSession(c: Context<AppEnv>, token: string, expiresAt: string) {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'Lax',
    path: '/',
    secure: c.get('deps').publicUrl.startsWith('https:'),
    expires: new Date(expiresAt),
  })
}

export function endSession(c: Context<AppEnv>) {
  deleteCookie(c, SESSION_COOKIE, { path: '/' })
}
