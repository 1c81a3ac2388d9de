/**
 * The Postgres rate-limit backend's cost: events per second through `take` with 10 connections,
 * for distinct keys (a flood of addresses: inserts), one hot key under its limit (updates of one
 * row) and one hot key over its limit (refusals, which write nothing), in one run. The memory
 * backend is timed beside it for scale.
 *
 *   npx tsx bench/rate-limit.ts [--events 20000] [--concurrency 50]
 *
 * Needs a Postgres server (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test); creates
 * and drops its own database.
 */
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { createRateLimiter, type RateLimiter } from '../src/lib/rate-limit'
import { createPostgresRateLimiter } from '../src/lib/rate-limit-postgres'
import { openDatabase } from '../src/node/database'

const { values } = parseArgs({ options: { events: { type: 'string', default: '20000' }, concurrency: { type: 'string', default: '50' } } })
const events = Number(values.events)
const concurrency = Number(values.concurrency)

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const name = `refinery_bench_rate_limit_${process.pid}`
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
await admin.unsafe(`create database "${name}"`)
const url = new URL(serverUrl)
url.pathname = `/${name}`
const database = await openDatabase({ url: url.toString(), poolSize: 10 })

/** Runs `events` takes, `concurrency` at a time; events per second and how many were admitted. */
async function measure(limiter: RateLimiter, keyOf: (i: number) => string) {
  let next = 0
  let admitted = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < events) {
        const i = next++
        if ((await limiter.take(keyOf(i))) === undefined) admitted++
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  return { perSecond: Math.round(events / seconds), admitted }
}

try {
  await database.migrate()
  const postgresLimiter = (limit: number, name: string) => createPostgresRateLimiter(() => database.db, { name, limit, windowSeconds: 3600 })
  const rows = {
    'postgres, distinct keys': await measure(postgresLimiter(10, 'distinct'), (i) => `address-${i}`),
    'postgres, one key under its limit': await measure(postgresLimiter(events, 'under'), () => 'hot'),
    'postgres, one key over its limit': await measure(postgresLimiter(10, 'over'), () => 'hot'),
    'memory, distinct keys': await measure(createRateLimiter({ limit: 10, windowSeconds: 3600 }), (i) => `address-${i}`),
  }
  console.log(`${events} events, ${concurrency} at a time, 10 connections`)
  for (const [what, { perSecond, admitted }] of Object.entries(rows)) console.log(`${what.padEnd(36)} ${String(perSecond).padStart(8)}/s  admitted ${admitted}`)
} finally {
  await database.close()
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
  await admin.end()
}
