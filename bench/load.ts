/**
 * A bounded mixed workload against the real Node server (startServer, as `npm start`) on
 * Postgres: search, compatibility check, download redirect and Stripe webhook, all at once,
 * with autocannon in child processes, 100 connections in all, for 60 s. Reports each
 * operation's throughput, p50/p99 and status classes, and whether open database connections
 * and the server's memory grew after the run.
 *
 *   node --expose-gc --import tsx bench/load.ts [--seconds 60] [--connections 100] [--rounds 2]
 *
 * The workload runs `rounds` times back to back: growth would show as connections or memory
 * climbing from one round to the next rather than levelling off after the first.
 *
 * Needs Postgres (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test); creates and
 * drops its own database. Loopback only.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import Stripe from 'stripe'
import { createClient, data } from '../src/client'
import { parseConfig } from '../src/config'
import { startServer } from '../src/node/server'
import { declare, peftFolder } from '../tests/helpers/adapters'
import { freePort } from '../tests/helpers/server'
import { runAutocannon, statusCount } from './autocannon'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, connections: { type: 'string', default: '100' }, rounds: { type: 'string', default: '2' }, only: { type: 'string' } } })
const seconds = Number(values.seconds)
const connections = Number(values.connections)
const rounds = Number(values.rounds)
const WEBHOOK_SECRET = 'whsec_load_bench'

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const name = `refinery_bench_load_${process.pid}`
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
await admin.unsafe(`create database "${name}"`)
const url = new URL(serverUrl)
url.pathname = `/${name}`
const dataDir = await mkdtemp(join(tmpdir(), 'refinery-load-'))
const port = await freePort()
const server = await startServer(
  parseConfig({
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: url.toString(),
    REFINERY_DATA_DIR: dataDir,
    PASSWORD_ITERATIONS: '100000',
    // Stripe is configured so webhooks are verified; no call reaches Stripe in this workload.
    STRIPE_SECRET_KEY: 'sk_test_load',
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_URL: 'http://127.0.0.1:9',
    // The per-user download limit would answer most redirects with 429 here.
    DOWNLOAD_RATE_PER_MINUTE: '0',
  }),
)
const connectionsOpen = async () =>
  Number((await admin.unsafe(`select count(*)::int as n from pg_stat_activity where datname = '${name}'`))[0]!.n)
const memory = () => {
  globalThis.gc?.()
  return process.memoryUsage()
}

try {
  const base = server.url
  const anonymous = createClient({ url: base })
  const seller = await data(anonymous.POST('/v1/signup', { body: { email: 'seller@load.test', password: 'load password 1', name: 'S' } }))
  const api = createClient({ url: base, token: seller.token })
  await data(api.POST('/v1/teams', { body: { slug: 'acme', name: 'Acme' } }))
  const license = { spdx: 'Apache-2.0', commercialUse: true, derivatives: true }
  await data(api.POST('/v1/adapters', { body: { team: 'acme', slug: 'legal-zh', title: 'Contract law assistant', summary: 'Legal questions', license, visibility: 'published' } }))
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 8 })
  const path = { team: 'acme', slug: 'legal-zh', version: '1.0.0' }
  const created = await data(api.POST('/v1/adapters/{team}/{slug}/versions', { params: { path }, body: { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) } }))
  for (const upload of created.uploads) {
    if (upload.kind !== 'single') throw new Error('expected single uploads')
    const bytes = files.find((file) => file.path === upload.path)!.bytes
    await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: bytes as Uint8Array<ArrayBuffer> })
  }
  await data(api.POST('/v1/adapters/{team}/{slug}/versions/{version}/complete', { params: { path }, body: { parts: {} } }))
  while ((await data(api.GET('/v1/adapters/{team}/{slug}/versions/{version}', { params: { path } }))).status === 'validating') await new Promise((resolve) => setTimeout(resolve, 200))
  await data(api.POST('/v1/adapters/{team}/{slug}/versions/{version}/publish', { params: { path } }))
  const offer = await data(api.POST('/v1/adapters/{team}/{slug}/offers', { params: { path }, body: { kind: 'free', license: 'research' } }))
  const buyer = await data(anonymous.POST('/v1/signup', { body: { email: 'buyer@load.test', password: 'load password 2', name: 'B' } }))
  await data(createClient({ url: base, token: buyer.token }).POST('/v1/checkout', { body: { offerId: offer.id } }))
  // 5,000 more listings that fit the same bases, so search ranks and filters a real set.
  await server.deps.db.execute(sql`insert into adapters (team_id, slug, title, summary, license_spdx, commercial_use, derivatives_allowed, visibility, published_at, latest_version, compat_keys)
    select team_id, 'legal-' || g, 'Legal assistant ' || g, 'Contract law questions ' || g, 'MIT', true, true, 'published', now(), '1.0.0', compat_keys
    from adapters, generate_series(1, 5000) g where slug = 'legal-zh'`)
  await server.deps.db.execute(sql`analyze`)

  const header = JSON.parse(new TextDecoder().decode(files[1]!.bytes.subarray(8, 8 + Number(new DataView(files[1]!.bytes.buffer).getBigUint64(0, true)))))
  const config = JSON.parse(new TextDecoder().decode(files[0]!.bytes))
  const event = JSON.stringify({ id: 'evt_load_1', object: 'event', type: 'account.updated', api_version: '2025-01-01', created: Math.floor(Date.now() / 1000), livemode: false, data: { object: { id: 'acct_unknown', object: 'account', charges_enabled: true } } })
  const signature = new Stripe('sk_test_signer').webhooks.generateTestHeaderString({ payload: event, secret: WEBHOOK_SECRET })

  // One autocannon process per operation, all at once; connections split 35/20/20/15/10.
  const share = (fraction: number) => Math.max(1, Math.round(connections * fraction))
  const operations = {
    'searchAdapters (q + base)': { connections: share(0.35), path: '/v1/adapters?q=contract%20law&base=meta-llama%2FLlama-2-7b-hf', method: 'GET', headers: {} },
    'checkCompatibility (header + config vs Mistral)': {
      connections: share(0.2),
      path: '/v1/compat/check',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ base: 'mistralai/Mistral-7B-v0.1', adapter: { header, config } }),
    },
    'downloadFile → 302': {
      connections: share(0.2),
      path: '/v1/adapters/acme/legal-zh/versions/1.0.0/files/adapter_model.safetensors',
      method: 'GET',
      headers: { authorization: `Bearer ${buyer.token}` },
    },
    // The buyer already holds the free offer's entitlement: each checkout finds it (200 existing).
    'createCheckout (free, held)': {
      connections: share(0.15),
      path: '/v1/checkout',
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${buyer.token}` },
      body: JSON.stringify({ offerId: offer.id }),
    },
    'stripeWebhook (verified, deduplicated)': {
      connections: share(0.1),
      path: '/v1/stripe/webhook',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      body: event,
    },
  }
  const run = (operation: { connections: number; path: string; method: string; headers: Record<string, string>; body?: string }, duration = seconds) =>
    runAutocannon({ ...operation, url: base + operation.path, seconds: duration })
  // A short warm-up, then the baseline the run is compared with.
  await Promise.all(Object.values(operations).map((operation) => run({ ...operation, connections: 2 }, 3)))
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`
  const snapshot = async (label: string) => {
    const { rss, heapUsed } = memory()
    return `| ${label} | ${await connectionsOpen()} | ${mib(rss)} | ${mib(heapUsed)} |`
  }
  const states = [await snapshot('after warm-up')]
  for (let round = 1; round <= rounds; round++) {
    // Where requests wait: the server's event loop (the server runs in this process) and the
    // app's Postgres sessions, sampled every 100 ms (state / wait event).
    const loopDelay = monitorEventLoopDelay({ resolution: 10 })
    loopDelay.enable()
    const waits = new Map<string, number>()
    let samples = 0
    const sampler = setInterval(() => {
      void admin
        .unsafe(`select state, coalesce(wait_event_type || ':' || wait_event, 'on CPU') || case when state = 'active' then ' (' || left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 50) || ')' else '' end as wait from pg_stat_activity where datname = '${name}' and pid <> pg_backend_pid()`)
        .then((rows) => {
          samples += 1
          for (const row of rows) waits.set(`${row.state} ${row.wait}`, (waits.get(`${row.state} ${row.wait}`) ?? 0) + 1)
        }, () => {})
    }, 100)
    // Web Crypto (token and webhook signatures) runs on libuv's thread pool: how long a tiny job waits there.
    const poolWaits: number[] = []
    const poolProbe = setInterval(() => {
      const started = performance.now()
      void crypto.subtle.digest('SHA-256', new Uint8Array(1)).then(() => poolWaits.push(performance.now() - started))
    }, 100)
    const results = await Promise.all(Object.entries(operations).map(([label, operation]) => (values.only && !label.startsWith(values.only) ? run({ ...operation, connections: 1 }, 1) : run(operation))))
    clearInterval(sampler)
    clearInterval(poolProbe)
    loopDelay.disable()
    console.log(`\nRound ${round}: ${connections} connections for ${seconds} s, Node server on Postgres, five operations at once`)
    console.log('| operation | connections | req/s | p50 | p99 | 2xx | 3xx | 4xx | 5xx | errors |')
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    Object.entries(operations).forEach(([label, operation], index) => {
      const result = results[index]!
      console.log(
        `| ${label} | ${operation.connections} | ${Math.round(result.requests.average).toLocaleString('en')} | ${result.latency.p50} ms | ${result.latency.p99} ms | ${statusCount(result, '2xx')} | ${statusCount(result, '3xx')} | ${statusCount(result, '4xx')} | ${statusCount(result, '5xx')} | ${result.errors + result.timeouts} |`,
      )
    })
    const ms = (ns: number) => `${(ns / 1e6).toFixed(0)} ms`
    console.log(`\nEvent loop delay of the server: p50 ${ms(loopDelay.percentile(50))}, p99 ${ms(loopDelay.percentile(99))}, max ${ms(loopDelay.max)}`)
    poolWaits.sort((a, b) => a - b)
    console.log(`Web Crypto digest of 1 byte (thread pool + event loop): p50 ${poolWaits[Math.floor(poolWaits.length / 2)]?.toFixed(0)} ms, p99 ${poolWaits[Math.floor(poolWaits.length * 0.99)]?.toFixed(0)} ms, max ${poolWaits.at(-1)?.toFixed(0)} ms`)
    const sessions = [...waits.entries()].sort((a, b) => b[1] - a[1]).map(([wait, count]) => `${wait} ${(count / Math.max(1, samples)).toFixed(1)}`)
    console.log(`App sessions in Postgres, average per sample (${samples} samples): ${sessions.join(', ')}`)
    console.log(`Load average: ${loadavg().map((load) => load.toFixed(2)).join(', ')}`)
    await new Promise((resolve) => setTimeout(resolve, 2000))
    states.push(await snapshot(`2 s after round ${round}`))
  }
  console.log(`\nServer state (database connections of the app's pool, max 10; memory after a forced GC${globalThis.gc ? '' : ' — NOT forced: run with --expose-gc'})`)
  console.log('| when | open DB connections | RSS | heap used |')
  console.log('| --- | --- | --- | --- |')
  for (const line of states) console.log(line)
} finally {
  await server.close()
  await rm(dataDir, { recursive: true, force: true })
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
  await admin.end()
}
