import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config'
import { startServer, type RunningServer } from '../../src/node/server'
import { createPostgresDatabase } from '../helpers/database'
import { insideOneWindow } from '../helpers/windows'

const serverUrl = process.env.DATABASE_URL

/**
 * Two Node servers over one Postgres database, as two processes behind a load balancer: with
 * RATE_LIMIT_BACKEND=postgres a client spreading its attempts over both gets the limit once,
 * not once per process.
 */
describe.runIf(serverUrl)('limits shared by several Node processes', () => {
  let dataDir: string
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>
  const servers: RunningServer[] = []

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'refinery-shared-limits-'))
    database = await createPostgresDatabase(serverUrl!)
    const config = parseConfig({
      PORT: '0',
      REFINERY_DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      DATABASE_POOL_SIZE: '2',
      PASSWORD_ITERATIONS: '100000',
      RATE_LIMIT_BACKEND: 'postgres',
      LOGIN_ATTEMPTS_PER_MINUTE: '4',
    })
    // One after the other: each applies the migrations at start.
    servers.push(await startServer(config))
    servers.push(await startServer(config))
  }, 120_000)
  afterAll(async () => {
    for (const server of servers) await server.close()
    await database?.drop()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  it('counts sign-in attempts for one account across both processes', async () => {
    const attempt = (server: RunningServer) =>
      fetch(`${server.url}/v1/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: 'target@example.test', password: 'a guess' }),
      })
    await insideOneWindow()
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) statuses.push((await attempt(servers[i % 2]!)).status)
    // In memory each process would admit 4: eight 401s.
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429])
  })
})
