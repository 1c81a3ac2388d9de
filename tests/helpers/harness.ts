import { createApp } from '../../src/app'
import { createPasswordHasher, createTokenSigner } from '../../src/identity'
import type { Deps } from '../../src/lib/context'
import { openTestDatabase } from './database'

// Tests hash passwords with far fewer iterations than production; the KDF itself is tested apart.
const TEST_PASSWORD_ITERATIONS = 1_000
export const TEST_SECRET = 'test-signing-secret-that-is-long-enough-for-hs256'

export type Harness = Awaited<ReturnType<typeof createHarness>>

/** A fresh app on its own database, with a clock the test can move, and small API helpers. */
export async function createHarness(overrides: Partial<Deps> = {}) {
  const database = await openTestDatabase()
  let offsetMs = 0
  const clock = () => new Date(Date.now() + offsetMs)
  const deps: Deps = {
    db: database.db,
    clock,
    tokens: createTokenSigner(TEST_SECRET, clock),
    passwords: createPasswordHasher(TEST_PASSWORD_ITERATIONS),
    publicUrl: 'http://localhost:8787',
    logger: { error: () => {}, warn: () => {}, info: () => {} },
    ...overrides,
  }
  const app = createApp(deps)
  let userCounter = 0

  async function call(method: string, path: string, options: { body?: unknown; auth?: string; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...options.headers }
    if (options.auth) headers.Authorization = `Bearer ${options.auth}`
    let body: string | undefined
    if (options.body !== undefined) {
      headers['Content-Type'] ??= 'application/json'
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
    }
    const response = await app.request(path, { method, headers, body })
    const text = await response.text()
    let json: any = undefined
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      json = undefined
    }
    return { status: response.status, headers: response.headers, json, text }
  }

  /** Signs up a new user with a unique email; returns its token and credentials. */
  async function user(name = 'user') {
    userCounter += 1
    const email = `${name}-${userCounter}-${crypto.randomUUID().slice(0, 8)}@example.test`
    const password = 'correct horse battery staple'
    const response = await call('POST', '/v1/signup', { body: { email, password, name } })
    if (response.status !== 201) throw new Error(`signup failed: ${response.text}`)
    return { email, password, token: response.json.token as string, id: response.json.user.id as string }
  }

  /** A new user who owns a new team. */
  async function teamOwner(slugBase = 'team') {
    const owner = await user(`${slugBase}-owner`)
    const slug = `${slugBase}-${crypto.randomUUID().slice(0, 8)}`
    const response = await call('POST', '/v1/teams', { auth: owner.token, body: { slug, name: `Team ${slug}` } })
    if (response.status !== 201) throw new Error(`createTeam failed: ${response.text}`)
    return { ...owner, team: slug }
  }

  return {
    app,
    deps,
    db: database.db,
    kind: database.kind,
    call,
    user,
    teamOwner,
    advanceClock(ms: number) {
      offsetMs += ms
    },
    close: () => database.close(),
  }
}
