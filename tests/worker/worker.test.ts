import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { declare, peftFolder, sha256 } from '../helpers/adapters'
import { createPostgresDatabase } from '../helpers/database'
import { s3Env, type S3TestServer, startS3Server } from '../helpers/s3'
import { freePort } from '../helpers/server'
import { type RunningWorker, startWorker, wranglerEnv, workerCaller } from '../helpers/workerd'
import { insideOneWindow } from '../helpers/windows'

const serverUrl = process.env.DATABASE_URL

/**
 * The Worker bundle, run by workerd through `wrangler dev` on loopback, against the real local
 * Postgres (as Hyperdrive's local connection string) and the S3 test server: the same flow as
 * on Node. Needs Postgres, so it runs in the Postgres pass of the suite.
 */
describe.runIf(serverUrl)('the API on workerd', () => {
  let s3: S3TestServer
  let worker: RunningWorker | undefined
  let api: string
  let drop: (() => Promise<void>) | undefined
  let databaseUrl = ''
  let home = ''

  beforeAll(async () => {
    s3 = await startS3Server()
    const database = await createPostgresDatabase(serverUrl!, { migrated: true })
    drop = database.drop
    databaseUrl = database.url
    const port = await freePort()
    api = `http://127.0.0.1:${port}`
    home = await mkdtemp(join(tmpdir(), 'refinery-wrangler-'))
    const vars = {
      JWT_SECRET: 'worker-test-secret-that-is-at-least-32-characters',
      PUBLIC_URL: api,
      // The lowest accepted cost: the limit tests below sign in a dozen times.
      PASSWORD_ITERATIONS: '100000',
      // On Workers the binding's limit (wrangler.toml: 10) decides; this one would let the flood through.
      LOGIN_ATTEMPTS_PER_MINUTE: '1000',
      ...s3Env(s3),
    }
    const args = ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()), '--test-scheduled']
    for (const [name, value] of Object.entries(vars)) args.push('--var', `${name}:${value}`)
    worker = await startWorker('npx', args, {
      url: api,
      env: { ...process.env, ...wranglerEnv({ configHome: home, hyperdriveUrl: databaseUrl }) },
    })
  }, 150_000)

  afterAll(async () => {
    await worker?.stop()
    await s3?.close()
    await drop?.()
    if (home) await rm(home, { recursive: true, force: true })
  })

  const call = workerCaller(() => api)

  it('publishes, validates through the queue consumer, checks, sells a free offer and serves the download', { timeout: 90_000 }, async () => {
    const seller = (await call('POST', '/v1/signup', undefined, { email: 'seller@worker.test', password: 'correct horse battery', name: 'S' })).json.token
    expect((await call('POST', '/v1/teams', seller, { slug: 'edge', name: 'Edge' })).status).toBe(201)
    const listing = await call('POST', '/v1/adapters', seller, {
      team: 'edge',
      slug: 'legal-zh',
      title: 'Legal',
      license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true },
      visibility: 'published',
    })
    expect(listing.status).toBe(201)

    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })
    const created = await call('POST', '/v1/adapters/edge/legal-zh/versions', seller, { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) })
    expect(created.status).toBe(201)
    for (const upload of created.json.uploads as { path: string; url: string; headers: Record<string, string> }[]) {
      // Straight to the S3 server, with the signed checksum header.
      const file = files.find((candidate) => candidate.path === upload.path)!
      expect(upload.url.startsWith(s3.endpoint)).toBe(true)
      const put = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: file.bytes as Uint8Array<ArrayBuffer> })
      expect(put.status).toBe(200)
    }
    expect((await call('POST', '/v1/adapters/edge/legal-zh/versions/1.0.0/complete', seller)).status).toBe(202)
    let version
    for (let attempt = 0; attempt < 40; attempt++) {
      version = (await call('GET', '/v1/adapters/edge/legal-zh/versions/1.0.0', seller)).json
      if (version.status !== 'validating') break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    // Validated by the queue consumer, not in the request: wrangler logs each delivered batch.
    for (let attempt = 0; attempt < 20 && !/QUEUE refinery-validation \d+\/\d+/.test(worker!.logs()); attempt++) await new Promise((resolve) => setTimeout(resolve, 250))
    expect(worker!.logs()).toMatch(/QUEUE refinery-validation \d+\/\d+/)
    expect(version).toMatchObject({ status: 'ready', compatibleBases: expect.arrayContaining(['meta-llama/Llama-2-7b-hf']) })
    expect((await call('POST', '/v1/adapters/edge/legal-zh/versions/1.0.0/publish', seller)).json.status).toBe('published')

    const check = await call('POST', '/v1/compat/check', undefined, { base: 'mistralai/Mistral-7B-v0.1', adapter: { version: 'edge/legal-zh@1.0.0' } })
    expect(check.json.compatible).toBe(false)

    const offer = await call('POST', '/v1/adapters/edge/legal-zh/offers', seller, { kind: 'free', license: 'research' })
    const buyer = (await call('POST', '/v1/signup', undefined, { email: 'buyer@worker.test', password: 'another good passphrase', name: 'B' })).json.token
    expect((await call('GET', '/v1/adapters/edge/legal-zh/versions/1.0.0/files/adapter_model.safetensors', buyer)).status).toBe(403)
    expect((await call('POST', '/v1/checkout', buyer, { offerId: offer.json.id })).status).toBe(201)

    const redirect = await fetch(`${api}/v1/adapters/edge/legal-zh/versions/1.0.0/files/adapter_model.safetensors`, {
      headers: { Authorization: `Bearer ${buyer}` },
      redirect: 'manual',
    })
    expect(redirect.status).toBe(302)
    const weights = files.find((file) => file.path === 'adapter_model.safetensors')!
    expect(redirect.headers.get('x-checksum-sha256')).toBe(sha256(weights.bytes))
    // The URL was signed in workerd; the S3 server checks the signature.
    const download = await fetch(redirect.headers.get('location')!)
    expect(download.status).toBe(200)
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(sha256(weights.bytes))

    // The request recorded the grant (in its access statement) but counts nothing: the public
    // counter moves only when the cron rolls the audit rows up.
    const downloads = async () => (await call('GET', '/v1/adapters/edge/legal-zh')).json.downloads
    const direct = postgres(databaseUrl, { max: 1, onnotice: () => {} })
    try {
      expect(await direct`select counted from downloads`).toEqual([{ counted: false }])
    } finally {
      await direct.end()
    }
    expect(await downloads()).toBe(0)
    // The cron task runs in workerd too (wrangler's --test-scheduled hook); its work goes on after the answer.
    expect((await fetch(`${api}/__scheduled?cron=*/5+*+*+*+*`)).status).toBe(200)
    let counted = await downloads()
    for (let attempt = 0; attempt < 40 && counted !== 1; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      counted = await downloads()
    }
    expect(counted).toBe(1)

    // The storefront renders in workerd: search by base model, the adapter page with its matrix.
    const search = await fetch(`${api}/?base=meta-llama%2FLlama-2-7b-hf`)
    expect(search.status).toBe(200)
    expect(await search.text()).toContain('href="/edge/legal-zh?base=meta-llama%2FLlama-2-7b-hf"')
    const page = await fetch(`${api}/edge/legal-zh`)
    expect(page.status).toBe(200)
    expect(await page.text()).toMatch(/<tr data-base="mistralai\/Mistral-7B-v0.1" data-verdict="incompatible"/)
  })

  // workerd's local Rate Limiting forgets its counts when the minute turns; so may Cloudflare's (a new period).
  it('limits sign-in attempts per account through the Rate Limiting binding and sign-ups per address through Postgres', { timeout: 90_000 }, async () => {
    await insideOneWindow(3_600_000)
    await insideOneWindow()
    // wrangler dev keeps a CF-Connecting-IP the client sent: each part of the test has its own address.
    const from = (address: string) => ({ 'CF-Connecting-IP': address })
    const attempt = () => call('POST', '/v1/login', undefined, { email: 'target@worker.test', password: 'not the password' }, from('203.0.113.10'))
    for (let i = 0; i < 10; i++) expect((await attempt()).status).toBe(401)
    const refused = await attempt()
    expect(refused).toMatchObject({ status: 429, json: { code: 'rate_limited' }, retryAfter: '60' })

    const signup = (i: number) => call('POST', '/v1/signup', undefined, { email: `flood${i}@worker.test`, password: 'correct horse battery', name: 'F' }, from('203.0.113.20'))
    for (let i = 0; i < 10; i++) expect((await signup(i)).status).toBe(201)
    expect(await signup(10)).toMatchObject({ status: 429, json: { code: 'rate_limited' } })
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
    try {
      expect(await sql`select count(*)::int as n from users where email like 'flood%'`).toEqual([{ n: 10 }])
      // The hourly count lives in Postgres, shared by every isolate and location.
      expect((await sql`select count from rate_limit_windows where count = 10`).length).toBe(1)
    } finally {
      await sql.end()
    }
  })
})
