import { count, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { users } from '../../src/identity/tables'
import { createRateLimiter } from '../../src/lib/rate-limit'
import { createHarness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'
import type { Harness } from '../helpers/harness'

let h: Harness
beforeAll(async () => {
  h = await createHarness()
})
afterAll(() => h.close())

describe('signup', () => {
  it('creates an account and returns a working token; the password is never echoed', async () => {
    const email = `Ada.${crypto.randomUUID().slice(0, 6)}@Example.TEST`
    const response = await h.call('POST', '/v1/signup', { body: { email, password: 'a long enough pass', name: ' Ada ' } })
    expect(response.status).toBe(201)
    expect(response.json.user).toMatchObject({ email: email.toLowerCase(), name: 'Ada' })
    expect(response.text).not.toContain('a long enough pass')
    expect(response.text).not.toContain('pbkdf2')
    const me = await h.call('GET', '/v1/me', { auth: response.json.token })
    expect(me.status).toBe(200)
    expect(me.json.user.id).toBe(response.json.user.id)
    expect(me.json.auth).toEqual({ via: 'token', scopes: ['read', 'publish', 'purchase', 'admin'], apiKeyId: null, team: null })

    const [row] = await h.db.select().from(users).where(eq(users.id, response.json.user.id))
    expect(row?.passwordHash).toMatch(/^pbkdf2-sha256\$1000\$[\w-]{22}\$[\w-]{43}$/)
  })

  it('rejects a duplicate email, whatever its case, with 409 and writes nothing', async () => {
    const first = await h.user('dup')
    const before = await h.db.select({ n: count() }).from(users)
    const response = await h.call('POST', '/v1/signup', {
      body: { email: first.email.toUpperCase(), password: 'another password', name: 'Dup' },
    })
    expectProblem(response, 409, 'email_taken')
    const after = await h.db.select({ n: count() }).from(users)
    expect(after).toEqual(before)
  })

  it.each([
    ['missing fields', {}, ['email', 'password', 'name']],
    ['a bad email', { email: 'not-an-email', password: 'long enough', name: 'x' }, ['email']],
    ['a short password', { email: 'short@example.test', password: 'short', name: 'x' }, ['password']],
    ['wrong types', { email: 42, password: ['x'], name: null }, ['email', 'password', 'name']],
    ['an empty name', { email: 'blank@example.test', password: 'long enough', name: '   ' }, ['name']],
  ])('answers 422 validation_failed for %s, naming each field', async (_label, body, paths) => {
    const response = await h.call('POST', '/v1/signup', { body })
    expectProblem(response, 422, 'validation_failed')
    expect([...new Set(response.json.errors.map((e: { path: string }) => e.path))].sort()).toEqual([...paths].sort())
  })

  it('answers 400 invalid_json for a malformed body', async () => {
    expectProblem(await h.call('POST', '/v1/signup', { body: '{"email": "a@b.c",' }), 400, 'invalid_json')
  })

  it('answers 415 when the body is not JSON at all', async () => {
    const response = await h.call('POST', '/v1/signup', {
      body: 'email=a@b.c',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    })
    expectProblem(response, 415, 'unsupported_media_type')
  })

  it('answers 413 for an oversized body and creates nothing', async () => {
    const before = await h.db.select({ n: count() }).from(users)
    const response = await h.call('POST', '/v1/signup', {
      body: { email: 'big@example.test', password: 'long enough', name: 'x'.repeat(2 * 1024 * 1024) },
    })
    expectProblem(response, 413, 'payload_too_large')
    expect(await h.db.select({ n: count() }).from(users)).toEqual(before)
  })
})

describe('login', () => {
  it('returns a token for the right password', async () => {
    const u = await h.user('login')
    const response = await h.call('POST', '/v1/login', { body: { email: u.email, password: u.password } })
    expect(response.status).toBe(200)
    expect(new Date(response.json.expiresAt).getTime()).toBeGreaterThan(Date.now())
    const me = await h.call('GET', '/v1/me', { auth: response.json.token })
    expect(me.json.user.email).toBe(u.email)
  })

  it('answers the same 401 for a wrong password and an unknown email', async () => {
    const u = await h.user('login-bad')
    const wrong = await h.call('POST', '/v1/login', { body: { email: u.email, password: 'not the password' } })
    const unknown = await h.call('POST', '/v1/login', { body: { email: 'nobody@example.test', password: 'whatever1' } })
    expectProblem(wrong, 401, 'invalid_credentials')
    expectProblem(unknown, 401, 'invalid_credentials')
    expect(wrong.json.detail).toBe(unknown.json.detail)
  })
})

describe('login attempts', () => {
  it('counts attempts per account: over the limit 429 with Retry-After, even with the right password, until the window passes', async () => {
    let now = new Date('2026-01-01T00:00:00Z')
    const limited = await createHarness({ loginLimiter: createRateLimiter({ limit: 3, windowSeconds: 60, clock: () => now }) })
    try {
      const u = await limited.user('guessed')
      const other = await limited.user('bystander')
      for (let attempt = 0; attempt < 3; attempt++) {
        expectProblem(await limited.call('POST', '/v1/login', { body: { email: u.email, password: `guess number ${attempt}` } }), 401, 'invalid_credentials')
      }
      // Another spelling of the address is the same account to guess against.
      const blocked = await limited.call('POST', '/v1/login', { body: { email: u.email.toUpperCase(), password: u.password } })
      expectProblem(blocked, 429, 'rate_limited')
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(blocked.json.token).toBeUndefined()
      expect((await limited.call('POST', '/v1/login', { body: { email: other.email, password: other.password } })).status).toBe(200)
      now = new Date(now.getTime() + 61_000)
      expect((await limited.call('POST', '/v1/login', { body: { email: u.email, password: u.password } })).status).toBe(200)
    } finally {
      await limited.close()
    }
  })
})

describe('getMe and access tokens', () => {
  it('answers 401 without credentials, with a WWW-Authenticate challenge', async () => {
    const response = await h.call('GET', '/v1/me')
    expectProblem(response, 401, 'unauthorized')
    expect(response.headers.get('www-authenticate')).toContain('Bearer')
  })

  it('answers 401 for a malformed Authorization header', async () => {
    const response = await h.call('GET', '/v1/me', { headers: { Authorization: 'Basic dXNlcjpwYXNz' } })
    expectProblem(response, 401, 'invalid_authorization')
  })

  it('rejects a tampered token', async () => {
    const u = await h.user('tamper')
    const [header, payload, signature] = u.token.split('.')
    const forgedPayload = btoa(JSON.stringify({ sub: crypto.randomUUID(), iss: 'refinery', aud: 'refinery-api', exp: 9999999999 }))
      .replaceAll('=', '')
    expectProblem(await h.call('GET', '/v1/me', { auth: `${header}.${forgedPayload}.${signature}` }), 401, 'invalid_token')
    expectProblem(await h.call('GET', '/v1/me', { auth: `${header}.${payload}.${signature}x` }), 401, 'invalid_token')
    const unsigned = `${btoa('{"alg":"none","typ":"JWT"}').replaceAll('=', '')}.${payload}.`
    expectProblem(await h.call('GET', '/v1/me', { auth: unsigned }), 401, 'invalid_token')
  })

  it('rejects an expired token with token_expired, also one it has verified before', async () => {
    const u = await h.user('expiry')
    const fresh = await h.user('expiry-unused')
    // Verified (and remembered) while valid; a copy with one signature character changed is not.
    expect((await h.call('GET', '/v1/me', { auth: u.token })).status).toBe(200)
    const at = u.token.length - 10
    const tampered = `${u.token.slice(0, at)}${u.token[at] === 'A' ? 'B' : 'A'}${u.token.slice(at + 1)}`
    expectProblem(await h.call('GET', '/v1/me', { auth: tampered }), 401, 'invalid_token')
    h.advanceClock(3600 * 1000)
    try {
      expectProblem(await h.call('GET', '/v1/me', { auth: u.token }), 401, 'token_expired')
      expectProblem(await h.call('GET', '/v1/me', { auth: fresh.token }), 401, 'token_expired')
    } finally {
      h.advanceClock(-3600 * 1000)
    }
    expect((await h.call('GET', '/v1/me', { auth: u.token })).status).toBe(200)
  })

  it('lists the teams the caller belongs to, with roles', async () => {
    const owner = await h.teamOwner('me')
    const me = await h.call('GET', '/v1/me', { auth: owner.token })
    expect(me.json.teams).toEqual([{ slug: owner.team, name: `Team ${owner.team}`, role: 'owner' }])
  })
})
