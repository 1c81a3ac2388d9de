/**
 * downloadFile (entitlement check + audit row + S3 presigned URL → 302) against a bare route
 * that does one indexed SELECT, on Postgres, with autocannon (in its own process) at 50
 * connections, in one run, each after 3 s of warm-up that is not counted. Then the Hugging Face
 * protocol's resolve (/hf, the same check) against downloadFile, both with the same API key.
 *
 *   npx tsx bench/downloads.ts [--seconds 15] [--connections 50] [--inline-audit]
 *
 * Needs a Postgres server (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test); creates
 * and drops its own database. The S3 store only signs URLs here, so no S3 server is needed.
 */
import { createHash } from 'node:crypto'
import { serve } from '@hono/node-server'
import type { ServerType } from '@hono/node-server'
import type autocannon from 'autocannon'
import { eq, sql } from 'drizzle-orm'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { createApp } from '../src/app'
import { adapters } from '../src/catalog/tables'
import { adapterVersions, versionFiles } from '../src/publishing/tables'
import { createDownloadLog } from '../src/downloads'
import { downloads } from '../src/downloads/tables'
import { createPasswordHasher, createTokenSigner } from '../src/identity'
import type { Deps } from '../src/lib/context'
import { openDatabase } from '../src/node/database'
import { createInProcessQueue } from '../src/lib/jobs'
import { createS3Store } from '../src/storage/s3'
import { createGetPresigner } from '../src/storage/sigv4'
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { runAutocannon, statusCount } from './autocannon'
import { jsonCaller } from './http'

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '15' }, connections: { type: 'string', default: '50' }, 'inline-audit': { type: 'boolean', default: false } },
})
const seconds = Number(values.seconds)
const connections = Number(values.connections)

// First, signing alone: the AWS SDK's presigner against the one downloads use.
{
  const config = { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', bucket: 'refinery', accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret', forcePathStyle: true }
  const client = new S3Client({ ...config, credentials: config, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' })
  const lean = createGetPresigner(config)
  const key = 'adapters/0b6c/1f2e/adapter_model.safetensors'
  const disposition = 'attachment; filename="legal-zh-1.0.0-adapter_model.safetensors"'
  const signers = {
    'AWS SDK getSignedUrl': () => getSignedUrl(client, new GetObjectCommand({ Bucket: config.bucket, Key: key, ResponseContentDisposition: disposition }), { expiresIn: 900 }),
    createGetPresigner: async () => lean(key, { expiresInSeconds: 900, contentDisposition: disposition }),
  }
  for (const [label, sign] of Object.entries(signers)) {
    for (let i = 0; i < 500; i++) await sign()
    let count = 0
    const started = performance.now()
    while (performance.now() - started < 2000) {
      await sign()
      count++
    }
    console.log(`${label}: ${Math.round(count / ((performance.now() - started) / 1000)).toLocaleString('en')} URLs/s on one core`)
  }
}

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const name = `refinery_bench_downloads_${process.pid}`
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
await admin.unsafe(`create database "${name}"`)
const url = new URL(serverUrl)
url.pathname = `/${name}`

let server: ServerType | undefined
const database = await openDatabase({ url: url.toString(), poolSize: 10 })
try {
  await database.migrate()
  const clock = () => new Date()
  const deps: Deps = {
    db: database.db,
    clock,
    store: createS3Store({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', bucket: 'refinery', accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret', forcePathStyle: true }),
    jobs: createInProcessQueue(async () => {}),
    tokens: createTokenSigner('bench-signing-secret-that-is-long-enough', clock),
    passwords: createPasswordHasher(100_000),
    publicUrl: 'http://127.0.0.1',
    // As the Node server does; --inline-audit writes each row before answering instead.
    ...(!values['inline-audit'] && { downloadLog: createDownloadLog(database.db, { flushMs: 200 }) }),
  }
  const app = createApp(deps)
  // The floor: the same app and middleware, one indexed SELECT, JSON out.
  app.get('/bench/select/:id', async (c) => {
    const [row] = await deps.db.select({ id: adapters.id, slug: adapters.slug }).from(adapters).where(eq(adapters.id, c.req.param('id')))
    return c.json(row ?? null)
  })
  server = await new Promise<ServerType>((resolve) => {
    const listening: ServerType = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(listening))
  })
  const address = server.address()
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`

  // A seller with a published version, and a buyer who claimed its free offer.
  const call = jsonCaller(base)
  const seller = (await call('/v1/signup', { method: 'POST', body: { email: 'seller@bench.test', password: 'bench password 1', name: 'S' } })).token
  await call('/v1/teams', { method: 'POST', token: seller, body: { slug: 'acme', name: 'Acme' } })
  const adapter = await call('/v1/adapters', {
    method: 'POST',
    token: seller,
    body: { team: 'acme', slug: 'legal-zh', title: 'Legal', license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true }, visibility: 'published' },
  })
  const [version] = await deps.db
    .insert(adapterVersions)
    .values({ adapterId: adapter.id, version: '1.0.0', declaredBase: 'meta-llama/Llama-2-7b-hf', status: 'published', publishedAt: new Date() })
    .returning()
  await deps.db.insert(versionFiles).values({
    versionId: version!.id,
    path: 'adapter_model.safetensors',
    size: 160_000_000,
    sha256: createHash('sha256').update('bench').digest('hex'),
    storageKey: `adapters/${adapter.id}/${version!.id}/adapter_model.safetensors`,
  })
  await deps.db.update(adapters).set({ latestVersion: '1.0.0', publishedAt: sql`now()` }).where(eq(adapters.id, adapter.id))
  // Some other listings, so the SELECTs hit a real index.
  await database.db.execute(sql`insert into adapters (team_id, slug, title, license_spdx, commercial_use, derivatives_allowed, visibility)
    select team_id, 'other-' || g, 'Other ' || g, 'MIT', true, true, 'published' from adapters, generate_series(1, 20000) g where slug = 'legal-zh'`)
  const offer = await call('/v1/adapters/acme/legal-zh/offers', { method: 'POST', token: seller, body: { kind: 'free', license: 'research' } })
  const buyer = (await call('/v1/signup', { method: 'POST', body: { email: 'buyer@bench.test', password: 'bench password 2', name: 'B' } })).token
  const claimed = await call('/v1/checkout', { method: 'POST', token: buyer, body: { offerId: offer.id } })
  if (!claimed.entitlement) throw new Error(`checkout failed: ${JSON.stringify(claimed)}`)
  await database.db.execute(sql`analyze`)

  const run = (path: string, headers: Record<string, string> = {}, duration = seconds) => runAutocannon({ url: base + path, connections, seconds: duration, headers })
  const barePath = `/bench/select/${adapter.id}`
  const downloadPath = '/v1/adapters/acme/legal-zh/versions/1.0.0/files/adapter_model.safetensors'
  const auth = { Authorization: `Bearer ${buyer}` }
  // Steady state: 3 s of each route first (JIT, prepared statements, the pool filling), not counted.
  await run(barePath, {}, 3)
  await run(downloadPath, auth, 3)
  const bare = await run(barePath)
  const download = await run(downloadPath, auth)
  await deps.downloadLog?.flush()
  const auditRows = await database.db.$count(downloads)

  const row = (label: string, result: autocannon.Result, expected: string) =>
    `| ${label} | ${Math.round(result.requests.average).toLocaleString('en')} | ${result.latency.p50} ms | ${result.latency.p99} ms | ${result.errors + result.timeouts} | ${expected} |`
  const statusOk = (result: autocannon.Result, code: string) => `${statusCount(result, code)} ${code}`
  console.log(`${connections} connections, ${seconds} s each, Postgres; audit rows written: ${auditRows}`)
  console.log('| route | req/s | p50 | p99 | errors | responses |')
  console.log('| --- | --- | --- | --- | --- | --- |')
  console.log(row('bare: one indexed SELECT', bare, statusOk(bare, '2xx')))
  console.log(row('downloadFile → 302', download, statusOk(download, '3xx')))
  console.log(`downloadFile / bare: ${((download.requests.average / bare.requests.average) * 100).toFixed(0)}% (target ≥ 60%), non-3xx on downloadFile: ${download.non2xx - statusCount(download, '3xx')}`)

  // /hf resolve against downloadFile, both with the buyer's API key (`hf_` + key on /hf, as @huggingface/hub sends it).
  const key = (await call('/v1/api-keys', { method: 'POST', token: buyer, body: { name: 'bench', scopes: ['read'] } })).key as string
  const keyAuth = { Authorization: `Bearer ${key}` }
  const hubAuth = { Authorization: `Bearer hf_${key}` }
  const resolveMain = '/hf/acme/legal-zh/resolve/main/adapter_model.safetensors'
  const resolvePinned = '/hf/acme/legal-zh/resolve/1.0.0/adapter_model.safetensors'
  await run(downloadPath, keyAuth, 3)
  await run(resolveMain, hubAuth, 3)
  // Three interleaved rounds, each starting with another route, so neither a neighbour's load
  // nor the position in the round (the audit log's backlog grows along a round) favours one.
  const routes = { viaKey: [downloadPath, keyAuth], hubMain: [resolveMain, hubAuth], hubPinned: [resolvePinned, hubAuth] } as const
  const order = Object.keys(routes) as (keyof typeof routes)[]
  const rounds: Record<keyof typeof routes, autocannon.Result[]> = { viaKey: [], hubMain: [], hubPinned: [] }
  for (let round = 0; round < 3; round++) {
    for (const name of [...order.slice(round), ...order.slice(0, round)]) rounds[name].push(await run(routes[name][0], routes[name][1]))
  }
  /** One result for the three rounds: mean req/s, worst p50/p99, summed counts. */
  const merged = (results: autocannon.Result[]) =>
    ({
      ...results[0],
      requests: { ...results[0]!.requests, average: results.reduce((sum, result) => sum + result.requests.average, 0) / results.length },
      latency: { ...results[0]!.latency, p50: Math.max(...results.map((result) => result.latency.p50)), p99: Math.max(...results.map((result) => result.latency.p99)) },
      errors: results.reduce((sum, result) => sum + result.errors, 0),
      timeouts: results.reduce((sum, result) => sum + result.timeouts, 0),
      '3xx': results.reduce((sum, result) => sum + statusCount(result, '3xx'), 0),
    }) as unknown as autocannon.Result
  const viaKey = merged(rounds.viaKey)
  const hubMain = merged(rounds.hubMain)
  const hubPinned = merged(rounds.hubPinned)
  console.log('| route (API key) | req/s | p50 | p99 | errors | responses |')
  console.log('| --- | --- | --- | --- | --- | --- |')
  console.log(row('downloadFile → 302', viaKey, statusOk(viaKey, '3xx')))
  console.log(row('/hf resolve/main → 302', hubMain, statusOk(hubMain, '3xx')))
  console.log(row('/hf resolve/1.0.0 → 302', hubPinned, statusOk(hubPinned, '3xx')))
  const ratio = (result: autocannon.Result) => (result.requests.average / viaKey.requests.average).toFixed(2)
  console.log(`resolve / downloadFile: main ${ratio(hubMain)}×, pinned ${ratio(hubPinned)}× (target ≥ 0.9×)`)
} finally {
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()))
  await database.close()
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
  await admin.end()
}
