import { join } from 'node:path'
import { getPlatformProxy, unstable_readConfig } from 'wrangler'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config'
import { randomBytes, toHex } from '../../src/lib/crypto'
import { createLimiters, LIMITS } from '../../src/limits'
import { createBindingRateLimiter, isRateLimitBinding, type RateLimitBinding } from '../../src/lib/rate-limit-binding'
import { rateLimitWindows } from '../../src/lib/rate-limit-tables'
import { openTestDatabase } from '../helpers/database'
import { insideOneWindow } from '../helpers/windows'

const serverUrl = process.env.DATABASE_URL
const freshKey = () => `key-${toHex(randomBytes(6))}`

/**
 * The Workers Rate Limiting bindings of wrangler.toml, as workerd simulates them locally
 * (wrangler's platform proxy runs workerd; each `limit()` call crosses into it). workerd counts
 * per minute aligned to the clock and forgets every count when the minute turns, so each test
 * starts well inside a minute. Runs in the Postgres pass, like every workerd test.
 */
describe.runIf(serverUrl)('the Workers Rate Limiting bindings', () => {
  let proxy: Awaited<ReturnType<typeof getPlatformProxy<Record<string, unknown>>>>
  let database: Awaited<ReturnType<typeof openTestDatabase>>
  const binding = (name: string): RateLimitBinding => {
    const value = proxy.env[name]
    if (!isRateLimitBinding(value)) throw new Error(`${name} is not bound`)
    return value
  }

  beforeAll(async () => {
    process.env.WRANGLER_SEND_METRICS = 'false'
    process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false'
    process.env.WRANGLER_LOG_PATH ??= join(process.cwd(), '.wrangler', 'logs')
    proxy = await getPlatformProxy<Record<string, unknown>>({ configPath: 'wrangler.toml', persist: false })
    database = await openTestDatabase()
  }, 90_000)
  afterAll(async () => {
    await proxy?.dispose()
    await database?.close()
  })

  it('binds every per-minute limit in wrangler.toml with the default of the setting it stands for; hourly limits have none', () => {
    const ratelimits: { name: string; namespace_id: string; simple: { limit: number; period: number } }[] = unstable_readConfig({ config: 'wrangler.toml' }).ratelimits
    const defaults = parseConfig({})
    for (const limit of LIMITS) {
      const bound = ratelimits.find((ratelimit) => ratelimit.name === limit.binding)
      if (limit.windowSeconds !== 60) {
        expect(limit.binding).toBeUndefined()
        continue
      }
      expect(bound, limit.binding).toMatchObject({ simple: { limit: defaults[limit.setting], period: 60 } })
    }
    // One namespace each: bindings sharing a namespace would share their counts.
    expect(new Set(ratelimits.map((ratelimit) => ratelimit.namespace_id)).size).toBe(ratelimits.length)
  })

  it('admits the binding limit per key, then refuses for a period', async () => {
    await insideOneWindow()
    const limiter = createBindingRateLimiter(binding('LOGIN_ACCOUNT_RATE_LIMITER'), { periodSeconds: 60 })
    const [alice, bob] = [freshKey(), freshKey()]
    for (let i = 0; i < 10; i++) expect(await limiter.take(alice)).toBeUndefined()
    expect(await limiter.take(alice)).toEqual({ retryAfterSeconds: 60 })
    expect(await limiter.take(bob)).toBeUndefined()
    // Concurrent events in one location: the simulation admits exactly the limit.
    const outcomes = await Promise.all(Array.from({ length: 30 }, () => limiter.take(`${bob}-burst`)))
    expect(outcomes.filter((outcome) => outcome === undefined)).toHaveLength(10)
  })

  it('takes the binding for each bound limit and Postgres for the rest on Workers', async () => {
    await insideOneWindow()
    const clock = () => new Date()
    // The binding's limit (wrangler.toml: 10 per account) decides, not the setting.
    const config = parseConfig({ LOGIN_ATTEMPTS_PER_MINUTE: '1000', SIGNUPS_PER_ADDRESS_PER_HOUR: '2' })
    const limiters = createLimiters(config, { kind: 'workers', env: proxy.env, db: () => database.db, clock })
    const account = `login:${freshKey()}@example.com`
    for (let i = 0; i < 10; i++) expect(await limiters.loginLimiter?.take(account)).toBeUndefined()
    expect(await limiters.loginLimiter?.take(account)).toBeDefined()
    expect(await database.db.select().from(rateLimitWindows)).toEqual([])

    // Sign-ups per address per hour: no binding has an hour, so Postgres counts them.
    const address = `signup:${freshKey()}`
    expect(await limiters.signupAddressLimiter?.take(address)).toBeUndefined()
    expect(await limiters.signupAddressLimiter?.take(address)).toBeUndefined()
    expect(await limiters.signupAddressLimiter?.take(address)).toMatchObject({ retryAfterSeconds: expect.any(Number) })
    expect(await database.db.select().from(rateLimitWindows)).toHaveLength(1)

    // RATE_LIMIT_BACKEND=postgres puts every limit in Postgres, bindings or not.
    const exact = createLimiters(parseConfig({ RATE_LIMIT_BACKEND: 'postgres', LOGIN_ATTEMPTS_PER_MINUTE: '2' }), {
      kind: 'workers',
      env: proxy.env,
      db: () => database.db,
      clock,
    })
    const other = `login:${freshKey()}@example.com`
    expect(await exact.loginLimiter?.take(other)).toBeUndefined()
    expect(await exact.loginLimiter?.take(other)).toBeUndefined()
    expect(await exact.loginLimiter?.take(other)).toBeDefined()
    expect(await database.db.select().from(rateLimitWindows)).toHaveLength(2)
  })
})
