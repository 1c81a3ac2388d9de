import type { Harness } from './harness'

/** The storefront's own origin in the harness (its default public URL). */
export const ORIGIN = 'http://localhost:8787'

/** A browser's form post: urlencoded, from `origin` (null: no Origin header), with the session cookie when there is one. */
export const formPost = (fields: Record<string, string> = {}, cookie?: string, origin: string | null = ORIGIN) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...(origin && { Origin: origin }), ...(cookie && { Cookie: cookie }) },
  body: new URLSearchParams(fields).toString(),
})

/** Signs `person` in through the storefront's form; the session cookie (`name=value`). */
export async function signIn(h: Pick<Harness, 'app'>, person: { email: string; password: string }) {
  const response = await h.app.request('/login', formPost({ email: person.email, password: person.password }))
  const cookie = response.headers.get('Set-Cookie')?.split(';')[0]
  if (response.status !== 303 || !cookie?.startsWith('refinery_session=')) throw new Error(`sign-in failed: ${response.status}`)
  return cookie
}
