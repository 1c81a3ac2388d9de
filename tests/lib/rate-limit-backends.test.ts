import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config'
import type { Database } from '../../src/db/types'
import { randomBytes, sha256Hex } from '../../src/lib/crypto'
import { createLimiters, LIMITS } from '../../src/limits'
import { createRateLimiter, type RateLimiter } from '../../src/lib/rate-limit'
import { createPostgresRateLimiter } from '../../src/lib/rate-limit-postgres'
import { rateLimitWindows } from '../../src/lib/rate-limit-tables'
import { openDatabase } from '../../src/node/database'
import { runMaintenance } from '../../src/maintenance'
import { createLocalStore } from '../../src/node/local-store'
import { openTestDatabase } from '../helpers/database'

const MINUTE = 60_000
/** A window boundary, so every backend's window (the memory one starts at its first event) lines up. */
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)

type Clock = { now: number }
type Backend = { name: string; limiter(clock: Clock, options: { limit: number; windowSeconds: number; name?: string }): RateLimiter }

let handle: Awaited<ReturnType<typeof openTestDatabase>>
let db: Database
beforeAll(async () => {
  handle = await openTestDatabase()
  db = handle.db
})
afterAll(() => handle.close())

const at = (clock: Clock) => () => new Date(clock.now)
const backends: Backend[] = [
  { name: 'memory', limiter: (clock, options) => createRateLimiter({ ...options, clock: at(clock) }) },
  {
    name: `postgres (${process.env.DATABASE_URL ? 'Postgres' : 'PGlite'})`,
    limiter: (clock, options) => createPostgresRateLimiter(() => db, { name: options.name ?? 'test', ...options, clock: at(clock) }),
  },
]
/** A key no other test of the file uses (the Postgres backend's rows live as long as the file's database). */
const freshKey = () => `key-${Buffer.from(randomBytes(6)).toString('hex')}`

describe.each(backends)('the $name rate-limit backend', (backend) => {
  it('admits `limit` events per key and window, then refuses with Retry-After until the window ends', async () => {
    const clock = { now: T0 }
    const limiter = backend.limiter(clock, { limit: 3, windowSeconds: 60 })
    const [alice, bob] = [freshKey(), freshKey()]
    for (let i = 0; i < 3; i++) expect(await limiter.take(alice)).toBeUndefined()
    clock.now = T0 + 20_000
    expect(await limiter.take(alice)).toEqual({ retryAfterSeconds: 40 })
    // Another key has its own count.
    expect(await limiter.take(bob)).toBeUndefined()
    clock.now = T0 + 59_500
    expect(await limiter.take(alice)).toEqual({ retryAfterSeconds: 1 })
  })

  it('starts a new count when the window rolls over', async () => {
    const clock = { now: T0 }
    const limiter = backend.limiter(clock, { limit: 2, windowSeconds: 60 })
    const key = freshKey()
    expect(await limiter.take(key)).toBeUndefined()
    expect(await limiter.take(key)).toBeUndefined()
    expect(await limiter.take(key)).toBeDefined()
    clock.now = T0 + MINUTE
    expect(await limiter.take(key)).toBeUndefined()
    expect(await limiter.take(key)).toBeUndefined()
    expect(await limiter.take(key)).toBeDefined()
    // Hours are windows too (sign-ups per address, base-model registrations).
    const hourly = backend.limiter(clock, { name: 'hourly', limit: 1, windowSeconds: 3600 })
    clock.now = T0
    expect(await hourly.take(key)).toBeUndefined()
    clock.now = T0 + 59 * MINUTE
    expect(await hourly.take(key)).toEqual({ retryAfterSeconds: 60 })
    clock.now = T0 + 60 * MINUTE
    expect(await hourly.take(key)).toBeUndefined()
  })

  it('never admits more than `limit` of many concurrent events', async () => {
    const clock = { now: T0 }
    const limiter = backend.limiter(clock, { limit: 7, windowSeconds: 60 })
    const key = freshKey()
    const outcomes = await Promise.all(Array.from({ length: 40 }, () => limiter.take(key)))
    expect(outcomes.filter((outcome) => outcome === undefined)).toHaveLength(7)
  })
})

describe('the Postgres rate-limit backend, shared', () => {
  it('counts events of two processes over the same database together', async () => {
    // On a Postgres server: a second pool of connections, as another process would hold; PGlite has one connection.
    const other = handle.url ? await openDatabase({ url: handle.url, poolSize: 5 }) : undefined
    try {
      const clock = { now: T0 }
      const options = { name: 'shared', limit: 10, windowSeconds: 60, clock: at(clock) }
      const first = createPostgresRateLimiter(() => db, options)
      const second = createPostgresRateLimiter(() => other?.db ?? db, options)
      const key = freshKey()
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? first : second).take(key)))
      expect(outcomes.filter((outcome) => outcome === undefined)).toHaveLength(10)
      expect(await first.take(key)).toBeDefined()
      expect(await second.take(key)).toBeDefined()
    } finally {
      await other?.close()
    }
  })

  it('keeps limiters with different names apart on the same key', async () => {
    const clock = { now: T0 }
    const login = createPostgresRateLimiter(() => db, { name: 'login-address', limit: 1, windowSeconds: 60, clock: at(clock) })
    const signup = createPostgresRateLimiter(() => db, { name: 'signup-address', limit: 1, windowSeconds: 3600, clock: at(clock) })
    const key = freshKey()
    expect(await login.take(key)).toBeUndefined()
    expect(await signup.take(key)).toBeUndefined()
    expect(await login.take(key)).toBeDefined()
  })

  it('lets no process with a lagging clock reset a newer window', async () => {
    const ahead = { now: T0 + MINUTE }
    const behind = { now: T0 + MINUTE - 2_000 }
    const options = { name: 'skew', limit: 2, windowSeconds: 60 }
    const key = freshKey()
    const fast = createPostgresRateLimiter(() => db, { ...options, clock: at(ahead) })
    const slow = createPostgresRateLimiter(() => db, { ...options, clock: at(behind) })
    expect(await fast.take(key)).toBeUndefined()
    expect(await slow.take(key)).toBeUndefined()
    expect(await slow.take(key)).toBeDefined()
    expect(await fast.take(key)).toBeDefined()
  })

  it.runIf(process.env.DATABASE_URL)('refuses a key over its limit without waiting for its row lock', async () => {
    const limiter = createPostgresRateLimiter(() => db, { name: 'hot', limit: 1, windowSeconds: 60, clock: () => new Date(T0) })
    const key = freshKey()
    expect(await limiter.take(key)).toBeUndefined()
    // Another process holds the row (as a counted event does for its statement); a refusal does not queue behind it.
    const other = postgres(handle.url!, { max: 1, onnotice: () => {} })
    try {
      const hashed = await sha256Hex(`hot\n${key}`)
      const refused = await other.begin(async (tx) => {
        expect(await tx`select count from rate_limit_windows where key = ${hashed} for update`).toHaveLength(1)
        return limiter.take(key)
      })
      expect(refused).toEqual({ retryAfterSeconds: 60 })
    } finally {
      await other.end()
    }
  })

  it('stores a flood of distinct long keys as one short row each, and upkeep deletes them once their window ends', async () => {
    const clock = { now: T0 + 10 * MINUTE }
    const limiter = createPostgresRateLimiter(() => db, { name: 'flood', limit: 5, windowSeconds: 60, clock: at(clock) })
    const flood = Array.from({ length: 200 }, (_, i) => `${'x'.repeat(10_000)}${i}`)
    for (const key of flood) await limiter.take(key)
    await limiter.take(flood[0]!)
    const rows = await db.select().from(rateLimitWindows)
    const ours = rows.filter((row) => row.endsAt.getTime() === T0 + 11 * MINUTE)
    expect(ours).toHaveLength(200)
    expect(ours.every((row) => /^[0-9a-f]{64}$/.test(row.key))).toBe(true)

    const root = await mkdtemp(join(tmpdir(), 'refinery-objects-'))
    try {
      const store = createLocalStore({ root, publicUrl: 'http://localhost:8787', secret: randomBytes(32) })
      const upkeep = (now: number) => runMaintenance({ db, store, clock: () => new Date(now), jobs: { enqueue: async () => {} } })
      await upkeep(T0 + 11 * MINUTE - 1)
      expect((await db.select().from(rateLimitWindows)).filter((row) => row.endsAt.getTime() === T0 + 11 * MINUTE)).toHaveLength(200)
      await upkeep(T0 + 11 * MINUTE + 1)
      const left = await db.select().from(rateLimitWindows)
      expect(left.filter((row) => row.endsAt.getTime() <= T0 + 11 * MINUTE)).toEqual([])
      // Windows that have not ended stay (the hourly ones of the tests above).
      expect(left.length).toBeGreaterThan(0)
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })
})

describe('createLimiters', () => {
  const clock = () => new Date(T0)

  it('builds every configured limit, in memory for one Node process by default and in Postgres when asked', async () => {
    const memory = createLimiters(parseConfig({}), { kind: 'node', db: () => db, clock })
    expect(Object.keys(memory).sort()).toEqual(LIMITS.map((limit) => limit.dep).sort())

    const shared = parseConfig({ RATE_LIMIT_BACKEND: 'postgres', LOGIN_ATTEMPTS_PER_MINUTE: '2', DOWNLOAD_RATE_PER_MINUTE: '0' })
    const [first, second] = [createLimiters(shared, { kind: 'node', db: () => db, clock }), createLimiters(shared, { kind: 'node', db: () => db, clock })]
    expect(first.rateLimiter).toBeUndefined()
    const key = `login:${freshKey()}@example.com`
    expect(await first.loginLimiter?.take(key)).toBeUndefined()
    expect(await second.loginLimiter?.take(key)).toBeUndefined()
    expect(await first.loginLimiter?.take(key)).toBeDefined()
  })

  it('refuses per-isolate memory on Workers', () => {
    expect(() => createLimiters(parseConfig({ RATE_LIMIT_BACKEND: 'memory' }), { kind: 'workers', env: {}, db: () => db, clock })).toThrow(/RATE_LIMIT_BACKEND/)
    expect(() => parseConfig({ RATE_LIMIT_BACKEND: 'redis' })).toThrow(/RATE_LIMIT_BACKEND/)
  })

  it('counts in Postgres on Workers when no binding is bound', async () => {
    const limiters = createLimiters(parseConfig({ LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE: '1' }), { kind: 'workers', env: {}, db: () => db, clock })
    const key = `login:${freshKey()}`
    expect(await limiters.loginAddressLimiter?.take(key)).toBeUndefined()
    expect(await limiters.loginAddressLimiter?.take(key)).toBeDefined()
  })
})
