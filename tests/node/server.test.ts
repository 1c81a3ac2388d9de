import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config'
import postgres from 'postgres'
import { startServer } from '../../src/node/server'
import { createPostgresDatabase } from '../helpers/database'

// The embedded default end to end: a real HTTP server on loopback, PGlite in a data dir.
let dataDir: string
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'refinery-server-'))
})
afterAll(() => rm(dataDir, { recursive: true, force: true }))

const embeddedConfig = () =>
  parseConfig({ PORT: '0', REFINERY_DATA_DIR: dataDir, PASSWORD_ITERATIONS: '100000', DATABASE_URL: '' })

describe('the embedded server', () => {
  it('serves health, docs and the API, and keeps accounts, teams and tokens across a restart', async () => {
    const first = await startServer(embeddedConfig())
    let token: string
    const email = 'persist@example.test'
    try {
      expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(await (await fetch(`${first.url}/health`)).json()).toEqual({ status: 'ok' })
      const docs = await fetch(`${first.url}/docs`)
      expect(docs.status).toBe(200)
      const asset = await fetch(`${first.url}/docs/assets/swagger-ui-dist/swagger-ui-bundle.js`)
      expect(asset.status).toBe(200)
      expect((await asset.text()).length).toBeGreaterThan(100_000)

      const signup = await fetch(`${first.url}/v1/signup`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: 'survives restarts', name: 'Persist' }),
      })
      expect(signup.status).toBe(201)
      token = ((await signup.json()) as { token: string }).token
      const team = await fetch(`${first.url}/v1/teams`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ slug: 'persisted-team', name: 'Persisted' }),
      })
      expect(team.status).toBe(201)
    } finally {
      await first.close()
    }
    expect((await stat(join(dataDir, 'jwt-secret'))).mode & 0o777).toBe(0o600)

    const second = await startServer(embeddedConfig())
    try {
      const me = await fetch(`${second.url}/v1/me`, { headers: { Authorization: `Bearer ${token}` } })
      expect(me.status).toBe(200)
      expect(((await me.json()) as { teams: unknown[] }).teams).toEqual([{ slug: 'persisted-team', name: 'Persisted', role: 'owner' }])
      const login = await fetch(`${second.url}/v1/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password: 'survives restarts' }),
      })
      expect(login.status).toBe(200)
    } finally {
      await second.close()
    }
  })
})

describe.skipIf(!process.env.DATABASE_URL)('the server on Postgres', () => {
  it('keeps at most DATABASE_POOL_SIZE connections however many requests run at once', async () => {
    const database = await createPostgresDatabase(process.env.DATABASE_URL!)
    const observer = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => {} })
    const server = await startServer(parseConfig({ PORT: '0', REFINERY_DATA_DIR: dataDir, DATABASE_URL: database.url, DATABASE_POOL_SIZE: '2', PASSWORD_ITERATIONS: '100000' }))
    try {
      // Forty searches at once, each with its own text so none is answered from the cache.
      const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => fetch(`${server.url}/v1/adapters?q=pool${i}`)))
      expect(responses.map((response) => response.status)).toEqual(Array(40).fill(200))
      const name = new URL(database.url).pathname.slice(1)
      const [row] = await observer`select count(*)::int as n from pg_stat_activity where datname = ${name}`
      expect(row!.n).toBeGreaterThanOrEqual(1)
      expect(row!.n).toBeLessThanOrEqual(2)
    } finally {
      await server.close()
      await observer.end()
      await database.drop()
    }
  })
})
