/**
 * A signed download's latency while 12 clients send logins for unknown emails, on the real Node
 * server (`startServer`: PGlite, the local file store, 600,000 PBKDF2 iterations), in one run:
 * first with password hashing unbounded (PASSWORD_HASH_CONCURRENCY=64, the code before), then
 * with the default bound (2 at once, 20 waiting). Sign-in limits are off, as if the flood came
 * from many addresses, so every login is hashed.
 *
 *   npx tsx bench/login-flood.ts [--seconds 10] [--clients 12] [--file-mib 4]
 *
 * A download is the whole thing a buyer does: downloadFile → 302 → GET the signed URL, body read.
 */
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { adapters } from '../src/catalog/tables'
import { adapterVersions, versionFiles } from '../src/publishing/tables'
import { parseConfig } from '../src/config'
import { startServer } from '../src/node/server'
import type autocannon from 'autocannon'
import { statusCount } from './autocannon'
import { eq, sql } from 'drizzle-orm'
import { jsonCaller } from './http'

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, clients: { type: 'string', default: '12' }, 'file-mib': { type: 'string', default: '4' } },
})
const seconds = Number(values.seconds)
const clients = Number(values.clients)
const fileBytes = Number(values['file-mib']) * 1024 * 1024

/**
 * autocannon in its own process, each login for a new unknown email (its CLI's `-I` id
 * replacement sends a wrong Content-Length, so the programmatic API with `setupRequest`).
 */
function floodLogins(url: string, connections: number, seconds: number): Promise<autocannon.Result> {
  const script = `
    const autocannon = require(${JSON.stringify(createRequire(import.meta.url).resolve('autocannon'))})
    const { randomUUID } = require('node:crypto')
    autocannon({
      url: ${JSON.stringify(url)}, connections: ${connections}, duration: ${seconds},
      requests: [{ method: 'POST', headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: JSON.stringify({ email: 'nobody-' + randomUUID() + '@bench.test', password: 'a guess at a password' }) }) }],
    }, (error, result) => { if (error) throw error; process.stdout.write(JSON.stringify(result)) })`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  return new Promise((resolve, reject) => child.once('close', (code) => (code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`the login flood exited ${code}`)))))
}

type Measured = { count: number; p50: number; p95: number; max: number }

async function measureDownloads(base: string, token: string, path: string, forMs: number): Promise<Measured> {
  const times: number[] = []
  const until = performance.now() + forMs
  while (performance.now() < until) {
    const started = performance.now()
    const link = await fetch(base + path, { headers: { Authorization: `Bearer ${token}` }, redirect: 'manual' })
    const location = link.headers.get('location')
    if (link.status !== 302 || !location) throw new Error(`downloadFile answered ${link.status}: ${await link.text()}`)
    const file = await fetch(location)
    const bytes = (await file.arrayBuffer()).byteLength
    if (file.status !== 200 || bytes !== fileBytes) throw new Error(`the signed URL answered ${file.status} with ${bytes} bytes`)
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN
  return { count: times.length, p50: at(0.5), p95: at(0.95), max: times[times.length - 1] ?? NaN }
}

/** A loopback port nothing listens on: the local store signs URLs with the public URL, so it is chosen first. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })

async function run(label: string, hashing: Record<string, string>) {
  const dataDir = await mkdtemp(join(tmpdir(), 'refinery-bench-flood-'))
  const port = await freePort()
  const server = await startServer(
    parseConfig({
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      REFINERY_DATA_DIR: dataDir,
      DATABASE_URL: '',
      PASSWORD_ITERATIONS: '600000',
      LOGIN_ATTEMPTS_PER_MINUTE: '0',
      LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE: '0',
      LOGIN_ATTEMPTS_GLOBAL_PER_MINUTE: '0',
      SIGNUPS_PER_ADDRESS_PER_HOUR: '0',
      SIGNUPS_GLOBAL_PER_MINUTE: '0',
      DOWNLOAD_RATE_PER_MINUTE: '0',
      ...hashing,
    }),
  )
  try {
    const base = server.url
    const call = jsonCaller(base)
    // A published version with one real file in the local store, and a buyer entitled to it.
    const seller = (await call('/v1/signup', { method: 'POST', body: { email: 'seller@bench.test', password: 'bench password 1', name: 'S' } })).token
    await call('/v1/teams', { method: 'POST', token: seller, body: { slug: 'acme', name: 'Acme' } })
    const adapter = await call('/v1/adapters', {
      method: 'POST',
      token: seller,
      body: { team: 'acme', slug: 'legal-zh', title: 'Legal', license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true } },
    })
    const db = server.deps.db
    const [version] = await db
      .insert(adapterVersions)
      .values({ adapterId: adapter.id, version: '1.0.0', declaredBase: 'meta-llama/Llama-2-7b-hf', status: 'published', publishedAt: new Date() })
      .returning()
    if (!version) throw new Error('no version')
    const bytes = randomBytes(fileBytes)
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    const storageKey = `adapters/${adapter.id}/${version.id}/adapter_model.safetensors`
    const plan = await server.deps.store.planUpload({ key: storageKey, size: fileBytes, sha256, expiresInSeconds: 3600 })
    if (plan.kind !== 'single') throw new Error('expected a single PUT')
    const put = await fetch(plan.url, { method: 'PUT', headers: plan.headers, body: bytes })
    if (!put.ok) throw new Error(`upload failed: ${put.status} ${await put.text()}`)
    await db.insert(versionFiles).values({ versionId: version.id, path: 'adapter_model.safetensors', size: fileBytes, sha256, storageKey })
    await db.update(adapters).set({ latestVersion: '1.0.0', publishedAt: sql`now()`, visibility: 'published' }).where(eq(adapters.id, adapter.id))
    const offer = await call('/v1/adapters/acme/legal-zh/offers', { method: 'POST', token: seller, body: { kind: 'free', license: 'research' } })
    const buyer = (await call('/v1/signup', { method: 'POST', body: { email: 'buyer@bench.test', password: 'bench password 2', name: 'B' } })).token
    const claimed = await call('/v1/checkout', { method: 'POST', token: buyer, body: { offerId: offer.id } })
    if (!claimed.entitlement) throw new Error(`checkout failed: ${JSON.stringify(claimed)}`)
    const path = '/v1/adapters/acme/legal-zh/versions/1.0.0/files/adapter_model.safetensors'

    await measureDownloads(base, buyer, path, 1000)
    const quiet = await measureDownloads(base, buyer, path, 3000)
    const flood = floodLogins(`${base}/v1/login`, clients, seconds + 3)
    // Let the flood fill the hashing queue before measuring.
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const loaded = await measureDownloads(base, buyer, path, seconds * 1000)
    const logins = await flood
    if (statusCount(logins, '4xx') + statusCount(logins, '5xx') === 0) {
      throw new Error(`the login flood got no answers: ${JSON.stringify({ errors: logins.errors, timeouts: logins.timeouts, total: logins.requests.total, statusCodes: logins.statusCodeStats })}`)
    }
    return { label, quiet, loaded, logins, hashing: server.deps.passwords.stats() }
  } finally {
    await server.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

const results = [
  await run('unbounded (PASSWORD_HASH_CONCURRENCY=64)', { PASSWORD_HASH_CONCURRENCY: '64', PASSWORD_HASH_QUEUE: '10000' }),
  await run('bounded (default: 2 at once, 20 waiting)', {}),
]
const ms = (value: number) => `${(value / 1000).toFixed(3)} s`
console.log(`${clients} clients sending unknown-email logins for ${seconds + 3} s, downloads of a ${values['file-mib']} MiB file measured for ${seconds} s`)
console.log('| hashing | download p50, quiet | download p50 under flood | p95 under flood | max | downloads | logins/s (401) | 503 | login p50 | peak hashes at once |')
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
for (const { label, quiet, loaded, logins, hashing } of results) {
  console.log(
    `| ${label} | ${ms(quiet.p50)} | ${ms(loaded.p50)} | ${ms(loaded.p95)} | ${ms(loaded.max)} | ${loaded.count} | ${(statusCount(logins, '4xx') / (seconds + 3)).toFixed(1)} | ${statusCount(logins, '5xx')} | ${logins.latency.p50} ms | ${hashing.peakActive} |`,
  )
}
const [before, after] = results
if (before && after) {
  console.log(`download p50 under flood / quiet: before ${(before.loaded.p50 / before.quiet.p50).toFixed(1)}×, after ${(after.loaded.p50 / after.quiet.p50).toFixed(1)}×`)
  console.log(`download p50 under flood, before / after: ${(before.loaded.p50 / after.loaded.p50).toFixed(1)}×`)
}
