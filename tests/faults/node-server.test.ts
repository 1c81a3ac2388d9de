import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { canRunPrivatePostgres, holdWriteLock, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres'
import { startTestServer } from '../helpers/server'

type Server = Awaited<ReturnType<typeof startTestServer>>

describe.runIf(canRunPrivatePostgres)('the Node server (npm start) while its Postgres restarts', () => {
  let pg: PrivatePostgres
  let server: Server
  let token: string
  const warned = vi.spyOn(console, 'warn').mockImplementation(() => {}) // the server logs each 503

  beforeAll(async () => {
    pg = await startPrivatePostgres()
    server = await startTestServer({ storage: 'local', databaseServerUrl: pg.url })
    const signup = await post('/v1/signup', { email: 'restart@example.test', password: 'correct horse battery staple', name: 'Restart' })
    expect(signup.status).toBe(201)
    token = signup.json.token
  })
  afterAll(async () => {
    try {
      if (pg && !pg.running) await pg.start()
      await server?.close()
    } finally {
      await pg?.close()
      warned.mockRestore()
    }
  })

  async function post(path: string, body: unknown) {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    })
    return { status: response.status, headers: response.headers, json: await response.json() }
  }
  const me = () => fetch(`${server.url}/v1/me`, { headers: { Authorization: `Bearer ${token}` } })

  it('survives a transaction cut by the stop, answers 503 over HTTP while down, and serves again after the start', async () => {
    // createTeam inserts the team, then its owner, in one transaction: the crash lands between the two.
    const lock = await holdWriteLock(server.databaseUrl!, 'team_members')
    const creating = post('/v1/teams', { slug: 'cut-team', name: 'Cut' })
    await lock.inFlight()
    await pg.stop('immediate')
    const cut = await creating
    expect(cut.status).toBe(503)
    expect(cut.headers.get('content-type')).toBe('application/problem+json')
    expect(cut.headers.get('retry-after')).toBe('5')
    expect(cut.json).toMatchObject({ code: 'database_unavailable', status: 503 })
    await lock.close()

    // The process is still serving: liveness, and every database call a clean 503.
    expect((await fetch(`${server.url}/health`)).status).toBe(200)
    const down = await me()
    expect(down.status).toBe(503)
    expect((await down.json()).code).toBe('database_unavailable')

    await pg.start()
    expect((await me()).status).toBe(200)
    // The cut transaction left no team without its owner; the retry creates both.
    const admin = postgres(server.databaseUrl!, { max: 1, onnotice: () => {} })
    try {
      expect(await admin`select slug from teams where slug = 'cut-team'`).toHaveLength(0)
      expect((await post('/v1/teams', { slug: 'cut-team', name: 'Cut' })).status).toBe(201)
      const owners = await admin`select m.role from team_members m join teams t on t.id = m.team_id where t.slug = 'cut-team'`
      expect(owners.map((row) => row.role)).toEqual(['owner'])
    } finally {
      await admin.end({ timeout: 5 })
    }
    expect(warned).toHaveBeenCalled()
  })
})
