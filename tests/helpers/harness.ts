import { serve, type ServerType } from '@hono/node-server'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../../src/app'
import { parseConfig } from '../../src/config'
import { buildDeps } from '../../src/deps'
import { createPasswordHasher } from '../../src/identity'
import type { Deps } from '../../src/lib/context'
import { randomBytes } from '../../src/lib/crypto'
import { createInProcessQueue } from '../../src/lib/jobs'
import { runJob } from '../../src/jobs'
import { createLocalStore } from '../../src/node/local-store'
import { createS3Store } from '../../src/storage/s3'
import type { ObjectStore } from '../../src/storage/types'
import { openTestDatabase } from './database'
import { startS3Server } from './s3'
import { freePort } from './server'

// Tests hash passwords with far fewer iterations than production; the KDF itself is tested apart.
const TEST_PASSWORD_ITERATIONS = 1_000
export const TEST_SECRET = 'test-signing-secret-that-is-long-enough-for-hs256'

/**
 * The configuration tests run with: production's defaults without the search cache. No rate
 * limits either (`buildDeps` gets no `limits`): the tests of those pass their limiters as overrides.
 */
const TEST_CONFIG = parseConfig({ SEARCH_CACHE_SECONDS: '0' })

/** The header a test sets to say which network address its request comes from. */
export const TEST_CLIENT_ADDRESS_HEADER = 'X-Test-Client-Address'

export type Harness = Awaited<ReturnType<typeof createHarness>>

const DEFAULT_PUBLIC_URL = 'http://localhost:8787'

/**
 * A fresh app on its own database and object store (a temp folder, or a real S3 API server
 * with `storage: 's3'`), with a clock the test can move, and small API helpers. The database is
 * a new one on `databaseServerUrl` (default DATABASE_URL), or an in-memory PGlite. With
 * `listen`, the same app also serves real HTTP on a loopback port (`url`, its public URL), for
 * clients that bring their own HTTP stack.
 */
export async function createHarness(
  overrides: Partial<Deps> & { storage?: 'local' | 's3'; singlePartMaxBytes?: number; databaseServerUrl?: string; connectTimeoutSeconds?: number; listen?: boolean } = {},
) {
  const { storage = 'local', singlePartMaxBytes, databaseServerUrl, connectTimeoutSeconds, listen = false, ...depOverrides } = overrides
  const port = listen ? await freePort() : undefined
  // Named `localhost` (bound to 127.0.0.1): another host name than the S3 test server's 127.0.0.1, as in production.
  const PUBLIC_URL = port ? `http://localhost:${port}` : DEFAULT_PUBLIC_URL
  const database = await openTestDatabase({ serverUrl: databaseServerUrl, connectTimeoutSeconds })
  let offsetMs = 0
  const clock = () => new Date(Date.now() + offsetMs)
  const cleanups: (() => Promise<unknown>)[] = []
  let store: ObjectStore
  if (storage === 's3') {
    const s3 = await startS3Server()
    cleanups.push(() => s3.close())
    store = createS3Store({ ...s3, singlePartMaxBytes, clock })
  } else {
    const root = await mkdtemp(join(tmpdir(), 'refinery-objects-'))
    cleanups.push(() => rm(root, { recursive: true, force: true }))
    store = createLocalStore({ root, publicUrl: PUBLIC_URL, secret: randomBytes(32), clock })
  }
  const jobs = createInProcessQueue((job) => runJob(deps, job), { attempts: 2, backoffMs: 10 })
  const deps: Deps = {
    ...buildDeps(TEST_CONFIG, {
      clock,
      store,
      signingSecret: TEST_SECRET,
      // app.request has no socket: a test names the caller's address in a header of its own.
      clientAddress: (c) => c.req.header(TEST_CLIENT_ADDRESS_HEADER) ?? '192.0.2.1',
      logger: { error: () => {}, warn: () => {}, info: () => {} },
    }),
    publicUrl: PUBLIC_URL,
    db: database.db,
    jobs,
    passwords: createPasswordHasher(TEST_PASSWORD_ITERATIONS),
    ...depOverrides,
  }
  const app = createApp(deps)
  if (port) {
    const server = await new Promise<ServerType>((listening) => {
      const started: ServerType = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => listening(started))
    })
    cleanups.push(() => new Promise<void>((done) => server.close(() => done())))
  }
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

  /** Brings `member` into `team` with `role` the only way there is: `inviter` invites, the member accepts. */
  async function addMember(inviter: { token: string }, team: string, member: { token: string; email: string }, role: 'owner' | 'admin' | 'member' = 'member') {
    const invited = await call('POST', `/v1/teams/${team}/members`, { auth: inviter.token, body: { email: member.email, role } })
    if (invited.status !== 202) throw new Error(`addTeamMember failed: ${invited.status} ${invited.text}`)
    const accepted = await call('POST', `/v1/me/invitations/${invited.json.invitation.id}/accept`, { auth: member.token })
    if (accepted.status !== 200) throw new Error(`acceptInvitation failed: ${accepted.status} ${accepted.text}`)
    return accepted.json.invitation
  }

  /** Requests a signed storage URL: the app itself for the local store, the S3 server otherwise. */
  async function fetchUrl(url: string, init: RequestInit = {}) {
    return url.startsWith(PUBLIC_URL) ? app.request(url.slice(PUBLIC_URL.length), init) : fetch(url, init)
  }

  /** `fetch` as a client on this machine sees the network: the app at its public URL, real servers elsewhere. */
  const network = ((input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init)
    return request.url.startsWith(PUBLIC_URL) ? app.fetch(request) : fetch(request)
  }) as typeof fetch

  /** PUTs bytes to an upload URL. */
  const put = (url: string, headers: Record<string, string>, bytes: Uint8Array) =>
    fetchUrl(url, { method: 'PUT', headers, body: bytes as Uint8Array<ArrayBuffer> })

  return {
    app,
    deps,
    db: database.db,
    kind: database.kind,
    /** Where the app listens (with `listen`) and signs its local-store URLs for. */
    url: PUBLIC_URL,
    /** The harness's own Postgres database (for a second client such as the Worker); none on PGlite. */
    databaseUrl: database.url,
    call,
    fetchUrl,
    network,
    put,
    user,
    teamOwner,
    addMember,
    /** Waits for queued background work (validation) to finish. */
    idle: () => jobs.idle(),
    advanceClock(ms: number) {
      offsetMs += ms
    },
    async close() {
      await jobs.idle()
      await database.close()
      for (const cleanup of cleanups.reverse()) await cleanup()
    },
  }
}
