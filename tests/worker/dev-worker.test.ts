import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { declare, peftFolder, sha256 } from '../helpers/adapters'
import { createPostgresDatabase } from '../helpers/database'
import { freePort } from '../helpers/server'
import { type RunningWorker, startWorker, workerCaller } from '../helpers/workerd'

const serverUrl = process.env.DATABASE_URL

/**
 * `npm run dev:worker` given nothing but DATABASE_URL (a fresh, unmigrated database): it migrates,
 * makes up a JWT secret, and stores files in workerd's local R2. Runs in the Postgres pass.
 */
describe.runIf(serverUrl)('npm run dev:worker with only DATABASE_URL', () => {
  let worker: RunningWorker | undefined
  let api = ''
  let drop: (() => Promise<void>) | undefined
  let scratch = ''

  beforeAll(async () => {
    const database = await createPostgresDatabase(serverUrl!)
    drop = database.drop
    scratch = await mkdtemp(join(tmpdir(), 'refinery-dev-worker-'))
    const port = await freePort()
    api = `http://127.0.0.1:${port}`
    // Only what any shell has, DATABASE_URL, and where this run keeps its state (port, temp folders).
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: database.url,
      PORT: String(port),
      INSPECTOR_PORT: String(await freePort()),
      PERSIST_TO: join(scratch, 'state'),
      XDG_CONFIG_HOME: join(scratch, 'config'),
      WRANGLER_LOG_PATH: join(scratch, 'logs'),
    }
    worker = await startWorker('npm', ['run', 'dev:worker'], { url: api, env })
  }, 180_000)

  afterAll(async () => {
    await worker?.stop()
    await drop?.()
    if (scratch) await rm(scratch, { recursive: true, force: true })
  })

  const call = workerCaller(() => api)

  it('answers /health, signs up, publishes through the queue and serves the download from local R2', { timeout: 120_000 }, async () => {
    expect((await fetch(`${api}/health`)).status).toBe(200)
    // The secret it made up is kept for the next run, outside the repository.
    expect((await readFile(join(scratch, 'state', 'refinery-jwt-secret'), 'utf8')).trim().length).toBeGreaterThanOrEqual(32)

    const seller = await call('POST', '/v1/signup', undefined, { email: 'seller@dev.test', password: 'correct horse battery', name: 'S' })
    expect(seller.status).toBe(201)
    const token = seller.json.token
    expect((await call('POST', '/v1/teams', token, { slug: 'dev', name: 'Dev' })).status).toBe(201)
    const license = { spdx: 'Apache-2.0', commercialUse: true, derivatives: true }
    expect((await call('POST', '/v1/adapters', token, { team: 'dev', slug: 'lora', title: 'Lora', license, visibility: 'published' })).status).toBe(201)

    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })
    const created = await call('POST', '/v1/adapters/dev/lora/versions', token, { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) })
    expect(created.status).toBe(201)
    for (const upload of created.json.uploads as { path: string; url: string; headers: Record<string, string> }[]) {
      const file = files.find((candidate) => candidate.path === upload.path)!
      expect(upload.url.startsWith(`${api}/v1/storage/local/`)).toBe(true)
      expect((await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: file.bytes as Uint8Array<ArrayBuffer> })).status).toBe(200)
    }
    expect((await call('POST', '/v1/adapters/dev/lora/versions/1.0.0/complete', token)).status).toBe(202)
    let version
    for (let attempt = 0; attempt < 120; attempt++) {
      version = (await call('GET', '/v1/adapters/dev/lora/versions/1.0.0', token)).json
      if (version.status !== 'validating') break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(version).toMatchObject({ status: 'ready' })
    for (let attempt = 0; attempt < 20 && !/QUEUE refinery-validation \d+\/\d+/.test(worker!.logs()); attempt++) await new Promise((resolve) => setTimeout(resolve, 250))
    expect(worker!.logs()).toMatch(/QUEUE refinery-validation \d+\/\d+/)
    expect((await call('POST', '/v1/adapters/dev/lora/versions/1.0.0/publish', token)).json.status).toBe('published')

    // The seller's own team downloads without buying.
    const redirect = await fetch(`${api}/v1/adapters/dev/lora/versions/1.0.0/files/adapter_model.safetensors`, {
      headers: { Authorization: `Bearer ${token}` },
      redirect: 'manual',
    })
    expect(redirect.status).toBe(302)
    const download = await fetch(redirect.headers.get('location')!)
    expect(download.status).toBe(200)
    const weights = files.find((file) => file.path === 'adapter_model.safetensors')!
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(sha256(weights.bytes))
  })
})
