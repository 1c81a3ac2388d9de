import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TOKEN_VERSION_MEMORY_MS } from '../../src/identity/sessions'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness, TEST_SECRET } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

/** A browser's form post: urlencoded, from our own origin. */
const form = (fields: Record<string, string>, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'http://localhost:8787', ...headers },
  body: new URLSearchParams(fields).toString(),
})

describe('logout revokes access tokens', () => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  let offerId: string
  let files: string

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('logout')
    await createListing(h, seller, 'legal-zh')
    await publishFolder(h, seller, 'legal-zh', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    offerId = (await h.call('POST', `/v1/adapters/${seller.team}/legal-zh/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })).json.id
    files = `/v1/adapters/${seller.team}/legal-zh/versions/1.0.0/files`
  })
  afterAll(() => h.close())

  const login = async (person: { email: string; password: string }) => (await h.call('POST', '/v1/login', { body: { email: person.email, password: person.password } })).json.token as string

  it('revokes every access token of the caller on the API (401 token_revoked), not other users’, and not API keys', async () => {
    const user = await h.user('leaving')
    const other = await h.user('staying')
    const second = await login(user)
    const key = (await h.call('POST', '/v1/api-keys', { auth: user.token, body: { name: 'ci', scopes: ['read'] } })).json.key as string
    expect((await h.call('GET', '/v1/me', { auth: user.token })).status).toBe(200)

    const out = await h.call('POST', '/v1/logout', { auth: user.token })
    expect(out.status).toBe(204)
    expectProblem(await h.call('GET', '/v1/me', { auth: user.token }), 401, 'token_revoked')
    expectProblem(await h.call('GET', '/v1/me', { auth: second }), 401, 'token_revoked')
    expectProblem(await h.call('POST', '/v1/logout', { auth: user.token }), 401, 'token_revoked')
    // Still revoked once this process's memory of the version has lapsed (read again from the database).
    h.advanceClock(TOKEN_VERSION_MEMORY_MS + 1000)
    expectProblem(await h.call('GET', '/v1/me', { auth: user.token }), 401, 'token_revoked')

    expect((await h.call('GET', '/v1/me', { auth: other.token })).status).toBe(200)
    expect((await h.call('GET', '/v1/me', { auth: key })).status).toBe(200)
    // Signing in again gives a token that works; the old ones stay revoked.
    const fresh = await login(user)
    expect((await h.call('GET', '/v1/me', { auth: fresh })).status).toBe(200)
    expectProblem(await h.call('GET', '/v1/me', { auth: second }), 401, 'token_revoked')
  })

  it('is refused to anonymous callers and to API keys (a key does not end its user’s sessions)', async () => {
    const user = await h.user('keyed')
    const key = (await h.call('POST', '/v1/api-keys', { auth: user.token, body: { name: 'ci', scopes: ['read', 'admin'] } })).json.key as string
    expectProblem(await h.call('POST', '/v1/logout'), 401, 'unauthorized')
    expectProblem(await h.call('POST', '/v1/logout', { auth: key }), 403, 'access_token_required')
    expect((await h.call('GET', '/v1/me', { auth: user.token })).status).toBe(200)
  })

  it('keeps accepting tokens signed before token versions existed, until the first logout', async () => {
    const user = await h.user('legacy')
    const now = Math.floor(Date.now() / 1000)
    const legacy = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.id)
      .setIssuer('refinery')
      .setAudience('refinery-api')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode(TEST_SECRET))
    expect((await h.call('GET', '/v1/me', { auth: legacy })).status).toBe(200)
    expect((await h.call('POST', '/v1/logout', { auth: user.token })).status).toBe(204)
    expectProblem(await h.call('GET', '/v1/me', { auth: legacy }), 401, 'token_revoked')
  })

  it('holds on download URL requests: a signed-out buyer’s token gets 401 at once', async () => {
    const buyer = await h.user('buyer')
    expect((await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId } })).status).toBe(201)
    const download = () => h.app.request(`${files}/adapter_model.safetensors`, { headers: { Authorization: `Bearer ${buyer.token}` } })
    expect((await download()).status).toBe(302)
    expect((await h.call('POST', '/v1/logout', { auth: buyer.token })).status).toBe(204)
    const refused = await download()
    expect(refused.status).toBe(401)
    expect(((await refused.json()) as { code: string }).code).toBe('token_revoked')
    expect(refused.headers.get('Location')).toBeNull()
  })

  it('signing out of the storefront revokes the cookie’s token: a copy of the cookie no longer signs in', async () => {
    const buyer = await h.user('web-leaving')
    const other = await h.user('web-staying')
    expect((await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId } })).status).toBe(201)
    const signIn = async (person: { email: string; password: string }) => {
      const response = await h.app.request('/login', form({ email: person.email, password: person.password, next: '/me' }))
      expect(response.status).toBe(303)
      return response.headers.get('Set-Cookie')!.split(';')[0]!
    }
    const session = await signIn(buyer)
    const otherSession = await signIn(other)
    const token = session.slice('refinery_session='.length)
    const webFile = `/${seller.team}/legal-zh/versions/1.0.0/files/adapter_model.safetensors`
    expect(await (await h.app.request('/me', { headers: { Cookie: session } })).text()).toContain('Sign out')
    expect((await h.app.request(webFile, { headers: { Cookie: session } })).status).toBe(302)

    const out = await h.app.request('/logout', form({}, { Cookie: session }))
    expect(out.status).toBe(303)
    expect(out.headers.get('Set-Cookie')).toMatch(/refinery_session=;.*Max-Age=0/)

    // A copy of the cookie (kept by an attacker, or a second tab) is signed out too.
    const replayed = await h.app.request('/me', { headers: { Cookie: session } })
    expect(replayed.status).toBe(303)
    expect(replayed.headers.get('Location')).toMatch(/^\/login\?next=/)
    const replayedDownload = await h.app.request(webFile, { headers: { Cookie: session } })
    expect(replayedDownload.status).toBe(303)
    expect(replayedDownload.headers.get('Location')).toMatch(/^\/login\?next=/)
    expectProblem(await h.call('GET', '/v1/me', { auth: token }), 401, 'token_revoked')
    // Another user's session is untouched.
    expect(await (await h.app.request('/me', { headers: { Cookie: otherSession } })).text()).toContain('Sign out')
    // Signing out without a session (or with a stale cookie) still just clears the cookie.
    expect((await h.app.request('/logout', form({}, { Cookie: session }))).status).toBe(303)
    expect((await h.app.request('/logout', form({}))).status).toBe(303)
  })
})
