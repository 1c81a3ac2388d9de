import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { declare, peftFolder } from '../helpers/adapters'
import { createPostgresDatabase } from '../helpers/database'
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy'
import { freePort } from '../helpers/server'
import { type RunningWorker, startWorker, workerCaller, wranglerEnv } from '../helpers/workerd'

const serverUrl = process.env.DATABASE_URL

/**
 * The Worker as deployed without storage (no S3 settings, no ADAPTERS binding: wrangler.toml
 * minus its [[r2_buckets]]), whose Hyperdrive bindings reach Postgres through a TCP proxy on
 * loopback that the test takes down and brings back. Runs in the Postgres pass.
 */
describe.runIf(serverUrl)('the Worker without storage, and with Postgres gone', () => {
  let worker: RunningWorker | undefined
  let proxy: FaultProxy | undefined
  let drop: (() => Promise<void>) | undefined
  let api = ''
  let home = ''
  let config = ''

  beforeAll(async () => {
    const database = await createPostgresDatabase(serverUrl!, { migrated: true })
    drop = database.drop
    const target = new URL(database.url)
    proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) })
    const throughProxy = new URL(database.url)
    throughProxy.hostname = '127.0.0.1'
    throughProxy.port = String(proxy.port)

    // Next to wrangler.toml, so `main` and the module rules resolve as they do for it.
    const folder = join(process.cwd(), '.wrangler', 'test-configs')
    await mkdir(folder, { recursive: true })
    config = join(folder, `no-storage-${process.pid}.toml`)
    const deployed = await readFile(join(process.cwd(), 'wrangler.toml'), 'utf8')
    const withoutBucket = deployed.replace(/\[\[r2_buckets\]\][^[]*/, '').replace('main = "workers/api.ts"', 'main = "../../workers/api.ts"')
    expect(withoutBucket).not.toContain('ADAPTERS')
    await writeFile(config, withoutBucket)

    const port = await freePort()
    api = `http://127.0.0.1:${port}`
    home = await mkdtemp(join(tmpdir(), 'refinery-wrangler-outage-'))
    const vars = { JWT_SECRET: 'outage-test-secret-that-is-at-least-32-characters', PUBLIC_URL: api, PASSWORD_ITERATIONS: '100000' }
    const args = ['wrangler', 'dev', '--config', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()), '--persist-to', join(home, 'state')]
    for (const [name, value] of Object.entries(vars)) args.push('--var', `${name}:${value}`)
    worker = await startWorker('npx', args, { url: api, env: { ...process.env, ...wranglerEnv({ configHome: home, hyperdriveUrl: throughProxy.toString() }) } })
  }, 180_000)

  afterAll(async () => {
    await worker?.stop()
    await proxy?.close()
    await drop?.()
    if (config) await rm(config, { force: true })
    if (home) await rm(home, { recursive: true, force: true })
  })

  const call = workerCaller(() => api)

  it('answers /health and the catalog without storage, and 503 storage_not_configured to upload planning', { timeout: 90_000 }, async () => {
    expect(await call('GET', '/health')).toMatchObject({ status: 200, json: { status: 'ok' } })
    const seller = await call('POST', '/v1/signup', undefined, { email: 'seller@outage.test', password: 'correct horse battery', name: 'S' })
    expect(seller.status).toBe(201)
    const token = seller.json.token as string
    expect((await call('POST', '/v1/teams', token, { slug: 'nostore', name: 'No store' })).status).toBe(201)
    const listing = await call('POST', '/v1/adapters', token, { team: 'nostore', slug: 'legal-zh', title: 'Legal', license: { spdx: 'MIT', commercialUse: true, derivatives: true } })
    expect(listing.status).toBe(201)

    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })
    const planned = await fetch(`${api}/v1/adapters/nostore/legal-zh/versions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) }),
    })
    expect(planned.status).toBe(503)
    expect(planned.headers.get('content-type')).toContain('application/problem+json')
    expect(await planned.json()).toMatchObject({ status: 503, code: 'storage_not_configured' })
    // Nothing half-made stays behind: the version was never written.
    expect((await call('GET', '/v1/adapters/nostore/legal-zh/versions/1.0.0', token)).status).toBe(404)
  })

  it('answers 503 with Retry-After while Postgres is unreachable, and serves again once it is back', { timeout: 120_000 }, async () => {
    const signedUp = await call('POST', '/v1/signup', undefined, { email: 'buyer@outage.test', password: 'another good passphrase', name: 'B' })
    expect(signedUp.status).toBe(201)
    const token = signedUp.json.token as string
    expect((await call('GET', '/v1/me', token)).status).toBe(200)

    // Postgres stops answering (a hung server, a dropped route): each client gives up after its
    // connect timeout. (A refused connection cannot be staged under `wrangler dev`: its local
    // Hyperdrive proxy, in wrangler's Node process, drops the Worker's request when the connect fails.)
    proxy!.set('stall')
    const during = await Promise.all([
      fetch(`${api}/v1/me`, { headers: { Authorization: `Bearer ${token}` } }),
      // Anonymous search goes through the other binding (HYPERDRIVE_CACHED): it is gone as well.
      fetch(`${api}/v1/adapters?q=legal`),
      fetch(`${api}/v1/adapters/nostore/legal-zh/versions/1.0.0/files/adapter_model.safetensors`, { headers: { Authorization: `Bearer ${token}` } }),
    ])
    for (const response of during) {
      expect(response.status).toBe(503)
      expect(response.headers.get('content-type')).toContain('application/problem+json')
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(await response.json()).toMatchObject({ status: 503, code: 'database_unavailable' })
    }
    // The isolate is still up, and answers what needs no database.
    expect((await call('GET', '/health')).status).toBe(200)

    proxy!.set('up')
    expect(await call('GET', '/v1/me', token)).toMatchObject({ status: 200, json: { user: { email: 'buyer@outage.test' } } })
    expect((await call('GET', '/v1/adapters?q=legal')).status).toBe(200)
  })
})
