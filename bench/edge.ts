/**
 * Refinery on workerd (`wrangler dev`) against yardsticks run the same way in the same run:
 * a do-nothing Worker answering `/health`'s JSON, and a Worker doing one indexed SELECT through
 * the same Hyperdrive binding (a Postgres client per request, as Refinery opens one).
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/edge.ts [--seconds 10] [--connections 10] [--rounds 2]
 *
 * Targets: /health ≥ 0.9× the trivial Worker; checkCompatibility ≥ 0.8× Refinery's own
 * /health; search and downloadFile ≥ 0.8× the SELECT Worker. The three Workers run one at a time,
 * each measured in turn within a round, so they never compete for the machine's two cores.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { openDatabase } from '../src/node/database'
import { declare, peftFolder } from '../tests/helpers/adapters'
import { freePort } from '../tests/helpers/server'
import { startWorker, wranglerEnv } from '../tests/helpers/workerd'
import { runAutocannon, statusCount } from './autocannon'
import { jsonCaller } from './http'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '10' }, rounds: { type: 'string', default: '2' } } })
const seconds = Number(values.seconds)
const connections = Number(values.connections)
const serverUrl = process.env.DATABASE_URL
if (!serverUrl) throw new Error('Set DATABASE_URL to a Postgres server (the benchmark creates and drops its own database)')

const name = `refinery_edge_bench_${process.pid}`
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
await admin.unsafe(`create database "${name}"`)
const url = new URL(serverUrl)
url.pathname = `/${name}`
const migrated = await openDatabase({ url: url.toString(), poolSize: 1 })
await migrated.migrate()
await migrated.close()
const home = await mkdtemp(join(tmpdir(), 'refinery-edge-bench-'))
const env = { ...process.env, ...wranglerEnv({ configHome: home, hyperdriveUrl: url.toString() }) }

/** Starts one Worker with `wrangler dev`, runs `work` against it, stops it. */
async function withWorker<T>(argsFor: (base: string) => string[], work: (base: string) => Promise<T>): Promise<T> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const worker = await startWorker('npx', ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()), '--persist-to', join(home, 'state'), ...argsFor(base)], { env, url: base })
  try {
    return await work(base)
  } finally {
    await worker.stop()
  }
}

type Load = { path: string; method?: string; headers?: Record<string, string>; body?: string }
const measure = async (base: string, load: Load) => {
  const result = await runAutocannon({ url: base + load.path, connections, seconds, ...load })
  const ok = statusCount(result, '2xx') + statusCount(result, '3xx')
  return { rps: ok / seconds, p99: result.latency.p99, errors: result.errors + result.non2xx - statusCount(result, '3xx') }
}

const refineryVars = {
  JWT_SECRET: 'edge-bench-secret-that-is-at-least-32-characters',
  PASSWORD_ITERATIONS: '100000',
  DOWNLOAD_RATE_PER_MINUTE: '0',
  SEARCH_CACHE_SECONDS: '0',
}
const rows: Record<string, { rps: number[]; p99: number[]; errors: number }> = {}
const record = (label: string, figure: { rps: number; p99: number; errors: number }) => {
  const row = (rows[label] ??= { rps: [], p99: [], errors: 0 })
  row.rps.push(figure.rps)
  row.p99.push(figure.p99)
  row.errors += figure.errors
}

try {
  // Seed once, through the Worker itself: a published version on the local R2 bucket, a free licence.
  const seeded = await withWorker((base) => varsOf({ ...refineryVars, PUBLIC_URL: base }), async (base) => {
    const call = jsonCaller(base)
    const seller = await call('/v1/signup', { method: 'POST', body: { email: 'seller@edge.bench', password: 'edge bench password 1', name: 'S' } })
    await call('/v1/teams', { method: 'POST', token: seller.token, body: { slug: 'acme', name: 'Acme' } })
    await call('/v1/adapters', { method: 'POST', token: seller.token, body: { team: 'acme', slug: 'legal-zh', title: 'Contract law assistant', summary: 'Legal questions', license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true }, visibility: 'published' } })
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 8 })
    const created = await call('/v1/adapters/acme/legal-zh/versions', { method: 'POST', token: seller.token, body: { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) } })
    for (const upload of created.uploads) {
      const bytes = files.find((file) => file.path === upload.path)!.bytes
      await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: bytes as Uint8Array<ArrayBuffer> })
    }
    await call('/v1/adapters/acme/legal-zh/versions/1.0.0/complete', { method: 'POST', token: seller.token, body: { parts: {} } })
    while ((await call('/v1/adapters/acme/legal-zh/versions/1.0.0', { token: seller.token })).status === 'validating') await new Promise((resolve) => setTimeout(resolve, 250))
    await call('/v1/adapters/acme/legal-zh/versions/1.0.0/publish', { method: 'POST', token: seller.token })
    const offer = await call('/v1/adapters/acme/legal-zh/offers', { method: 'POST', token: seller.token, body: { kind: 'free', license: 'research' } })
    const buyer = await call('/v1/signup', { method: 'POST', body: { email: 'buyer@edge.bench', password: 'edge bench password 2', name: 'B' } })
    await call('/v1/checkout', { method: 'POST', token: buyer.token, body: { offerId: offer.id } })
    const header = JSON.parse(new TextDecoder().decode(files[1]!.bytes.subarray(8, 8 + Number(new DataView(files[1]!.bytes.buffer).getBigUint64(0, true)))))
    const config = JSON.parse(new TextDecoder().decode(files[0]!.bytes))
    return { buyer: buyer.token as string, check: JSON.stringify({ base: 'mistralai/Mistral-7B-v0.1', adapter: { header, config } }) }
  })
  // 5,000 more listings, so search ranks and filters a real set.
  const seededDb = postgres(url.toString(), { max: 1, onnotice: () => {} })
  await seededDb.unsafe(`insert into adapters (team_id, slug, title, summary, license_spdx, commercial_use, derivatives_allowed, visibility, published_at, latest_version, compat_keys)
    select team_id, 'legal-' || g, 'Legal assistant ' || g, 'Contract law questions ' || g, 'MIT', true, true, 'published', now(), '1.0.0', compat_keys
    from adapters, generate_series(1, 5000) g where slug = 'legal-zh'`)
  await seededDb.unsafe('analyze')
  await seededDb.end()

  for (let round = 1; round <= Number(values.rounds); round++) {
    await withWorker(() => ['--config', 'bench/edge/trivial.toml'], async (base) => record('trivial Worker: JSON', await measure(base, { path: '/' })))
    await withWorker(() => ['--config', 'bench/edge/select.toml'], async (base) => record('trivial Worker: one indexed SELECT', await measure(base, { path: '/?slug=legal-zh' })))
    await withWorker((base) => varsOf({ ...refineryVars, PUBLIC_URL: base }), async (base) => {
      record('Refinery /health', await measure(base, { path: '/health' }))
      record('Refinery checkCompatibility (header + config)', await measure(base, { path: '/v1/compat/check', method: 'POST', headers: { 'content-type': 'application/json' }, body: seeded.check }))
      record('Refinery searchAdapters (q + base, uncached)', await measure(base, { path: '/v1/adapters?q=contract%20law&base=meta-llama%2FLlama-2-7b-hf' }))
      record('Refinery searchAdapters (one word + base, uncached)', await measure(base, { path: '/v1/adapters?q=legal&base=meta-llama%2FLlama-2-7b-hf' }))
      record('Refinery downloadFile → 302', await measure(base, { path: '/v1/adapters/acme/legal-zh/versions/1.0.0/files/adapter_model.safetensors', headers: { authorization: `Bearer ${seeded.buyer}` } }))
    })
    console.error(`round ${round} done (load average ${loadavg()[0]!.toFixed(1)})`)
  }

  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length
  const rps = (label: string) => mean(rows[label]!.rps)
  console.log(`\n${connections} connections, ${seconds} s per measurement, ${values.rounds} round(s); load average ${loadavg().map((n) => n.toFixed(1)).join(' ')}\n`)
  console.log('| route | req/s per round | p99 ms per round | errors |')
  console.log('| --- | --- | --- | --- |')
  for (const [label, row] of Object.entries(rows)) console.log(`| ${label} | ${row.rps.map((n) => n.toFixed(0)).join(' / ')} | ${row.p99.join(' / ')} | ${row.errors} |`)
  const ratio = (a: string, b: string) => (rps(a) / rps(b)).toFixed(2)
  console.log('\n| ratio | figure | target |')
  console.log('| --- | --- | --- |')
  console.log(`| /health ÷ trivial Worker | ${ratio('Refinery /health', 'trivial Worker: JSON')} | ≥ 0.9 |`)
  console.log(`| checkCompatibility ÷ /health | ${ratio('Refinery checkCompatibility (header + config)', 'Refinery /health')} | ≥ 0.8 |`)
  console.log(`| search ÷ SELECT Worker | ${ratio('Refinery searchAdapters (q + base, uncached)', 'trivial Worker: one indexed SELECT')} | ≥ 0.8 |`)
  console.log(`| one-word search ÷ SELECT Worker | ${ratio('Refinery searchAdapters (one word + base, uncached)', 'trivial Worker: one indexed SELECT')} | ≥ 0.8 |`)
  console.log(`| downloadFile ÷ SELECT Worker | ${ratio('Refinery downloadFile → 302', 'trivial Worker: one indexed SELECT')} | ≥ 0.8 |`)
} finally {
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
  await admin.end()
  await rm(home, { recursive: true, force: true })
}

/** wrangler's `--var` arguments. */
function varsOf(vars: Record<string, string>): string[] {
  const args: string[] = []
  for (const [key, value] of Object.entries(vars)) args.push('--var', `${key}:${value}`)
  return args
}
