import { count, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPasswordHasher, serverBusy } from '../../src/identity/password'
import { users } from '../../src/identity/tables'
import { createConcurrencyLimit } from '../../src/lib/concurrency'
import { createRateLimiter } from '../../src/lib/rate-limit'
import { createHarness, TEST_CLIENT_ADDRESS_HEADER } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'
import type { Harness } from '../helpers/harness'
import type { Deps } from '../../src/lib/context'

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

describe('sign-in and sign-up floods', () => {
  const from = (address: string) => ({ [TEST_CLIENT_ADDRESS_HEADER]: address })
  const unknownLogin = (harness: Harness, address: string) =>
    harness.call('POST', '/v1/login', { headers: from(address), body: { email: `nobody-${crypto.randomUUID()}@example.test`, password: 'a guess' } })
  /** Runs `test` on the shared harness with some deps replaced, then puts them back. */
  async function withDeps(overrides: Partial<Deps>, test: (harness: Harness) => Promise<void>) {
    const saved = { ...h.deps }
    Object.assign(h.deps, overrides)
    try {
      await test(h)
    } finally {
      for (const key of Object.keys(overrides) as (keyof Deps)[]) delete h.deps[key]
      Object.assign(h.deps, saved)
    }
  }
  const newSignup = (harness: Harness, address: string) =>
    harness.call('POST', '/v1/signup', {
      headers: from(address),
      body: { email: `flood-${crypto.randomUUID()}@example.test`, password: 'long enough password', name: 'Flood' },
    })

  it('limits login attempts per client address across accounts (429 with Retry-After); other addresses are unaffected; the window passes', async () => {
    let now = new Date('2026-01-01T00:00:00Z')
    await withDeps({ loginAddressLimiter: createRateLimiter({ limit: 3, windowSeconds: 60, clock: () => now }) }, async (limited) => {
      const u = await limited.user('behind-flood')
      for (let attempt = 0; attempt < 3; attempt++) expectProblem(await unknownLogin(limited, '203.0.113.7'), 401, 'invalid_credentials')
      const blocked = await limited.call('POST', '/v1/login', { headers: from('203.0.113.7'), body: { email: u.email, password: u.password } })
      expectProblem(blocked, 429, 'rate_limited')
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
      // The same IPv4 as Node reports it on a dual-stack socket, and another host in the same IPv6 /64, are the same caller.
      expectProblem(await unknownLogin(limited, '::ffff:203.0.113.7'), 429, 'rate_limited')
      for (let attempt = 0; attempt < 3; attempt++) expectProblem(await unknownLogin(limited, `2001:db8:1:2::${attempt + 1}`), 401, 'invalid_credentials')
      expectProblem(await unknownLogin(limited, '2001:db8:1:2:ffff:ffff:ffff:ffff'), 429, 'rate_limited')
      // Another address is its own count.
      expect((await limited.call('POST', '/v1/login', { headers: from('198.51.100.2'), body: { email: u.email, password: u.password } })).status).toBe(200)
      now = new Date(now.getTime() + 61_000)
      expect((await limited.call('POST', '/v1/login', { headers: from('203.0.113.7'), body: { email: u.email, password: u.password } })).status).toBe(200)
    })
  })

  it('limits sign-ups per client address (429 with Retry-After, no account created); other addresses are unaffected', async () => {
    await withDeps({ signupAddressLimiter: createRateLimiter({ limit: 2, windowSeconds: 3600 }) }, async (limited) => {
      expect((await newSignup(limited, '203.0.113.9')).status).toBe(201)
      expect((await newSignup(limited, '203.0.113.9')).status).toBe(201)
      const before = await limited.db.select({ n: count() }).from(users)
      const blocked = await newSignup(limited, '203.0.113.9')
      expectProblem(blocked, 429, 'rate_limited')
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(3000)
      expect(await limited.db.select({ n: count() }).from(users)).toEqual(before)
      expect((await newSignup(limited, '198.51.100.9')).status).toBe(201)
    })
  })

  it('caps login attempts and sign-ups from all addresses together', async () => {
    await withDeps({
      loginGlobalLimiter: createRateLimiter({ limit: 3, windowSeconds: 60 }),
      signupGlobalLimiter: createRateLimiter({ limit: 2, windowSeconds: 60 }),
    }, async (limited) => {
      expect((await newSignup(limited, '203.0.113.1')).status).toBe(201)
      expect((await newSignup(limited, '203.0.113.2')).status).toBe(201)
      const signup = await newSignup(limited, '203.0.113.3')
      expectProblem(signup, 429, 'rate_limited')
      expect(signup.headers.get('retry-after')).toBeTruthy()
      for (const address of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) expectProblem(await unknownLogin(limited, address), 401, 'invalid_credentials')
      const login = await unknownLogin(limited, '198.51.100.4')
      expectProblem(login, 429, 'rate_limited')
      expect(login.headers.get('retry-after')).toBeTruthy()
    })
  })

  it('rehashes at the new cost on a successful login after PASSWORD_ITERATIONS changed; the next login still works', async () => {
    await withDeps({ passwords: createPasswordHasher(1000) }, async (local) => {
      const u = await local.user('old-hash')
      const hashOf = async () => (await local.db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, u.id)))[0]?.hash
      const old = await hashOf()
      expect(old).toMatch(/^pbkdf2-sha256\$1000\$/)
      local.deps.passwords = createPasswordHasher(3000)
      // A wrong password changes nothing.
      expectProblem(await local.call('POST', '/v1/login', { body: { email: u.email, password: 'not it' } }), 401, 'invalid_credentials')
      expect(await hashOf()).toBe(old)
      expect((await local.call('POST', '/v1/login', { body: { email: u.email, password: u.password } })).status).toBe(200)
      const upgraded = await hashOf()
      expect(upgraded).toMatch(/^pbkdf2-sha256\$3000\$/)
      expect(upgraded).not.toBe(old)
      const before = local.deps.passwords.stats().iterationsComputed
      expect((await local.call('POST', '/v1/login', { body: { email: u.email, password: u.password } })).status).toBe(200)
      // One verification at the new cost, no further rehash.
      expect(local.deps.passwords.stats().iterationsComputed - before).toBe(3000)
      expect(await hashOf()).toBe(upgraded)
    })
  })

  it('makes a login for an unknown email cost what a wrong password for an account hashed at an older cost costs: the current count', async () => {
    await withDeps({ passwords: createPasswordHasher(1000) }, async (local) => {
      const u = await local.user('old-cost')
      local.deps.passwords = createPasswordHasher(5000)
      const work = async (body: { email: string; password: string }) => {
        const before = local.deps.passwords.stats().iterationsComputed
        expectProblem(await local.call('POST', '/v1/login', { body }), 401, 'invalid_credentials')
        return local.deps.passwords.stats().iterationsComputed - before
      }
      expect(await work({ email: 'nobody-at-all@example.test', password: 'a guess' })).toBe(5000)
      expect(await work({ email: u.email, password: 'a guess' })).toBe(5000)
    })
  })

  it('answers 503 server_busy with Retry-After when password hashing is saturated, and signs in once it is not', async () => {
    const limit = createConcurrencyLimit({ concurrency: 1, maxWaiting: 0, onFull: serverBusy })
    await withDeps({ passwords: createPasswordHasher(1000, { limit }) }, async (local) => {
      const u = await local.user('busy')
      let open = () => {}
      const holder = limit.run(() => new Promise<void>((resolve) => (open = resolve)))
      const busy = await local.call('POST', '/v1/login', { body: { email: u.email, password: u.password } })
      expectProblem(busy, 503, 'server_busy')
      expect(busy.headers.get('retry-after')).toBe('1')
      expectProblem(await newSignup(local, '203.0.113.5'), 503, 'server_busy')
      open()
      await holder
      expect((await local.call('POST', '/v1/login', { body: { email: u.email, password: u.password } })).status).toBe(200)
    })
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
