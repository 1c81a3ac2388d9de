/**
 * How long queries take to fail while Postgres is down, and to succeed once it is back, with
 * postgres.js's default reconnect backoff and with the app's options (src/db/connection.ts).
 *
 *   npx tsx bench/postgres-outage.ts [--pool 5] [--concurrency 20] [--rounds 4]
 *
 * Starts a private cluster (initdb + pg_ctl, as tests/faults do), stops it, sends `rounds`
 * bursts of `concurrency` queries through a pool of `pool` connections, starts it again and
 * sends three more bursts. Prints the slowest query of each burst.
 */
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { postgresClientOptions } from '../src/db/connection'
import { startPrivatePostgres } from '../tests/helpers/private-postgres'

const { values } = parseArgs({ options: { pool: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '20' }, rounds: { type: 'string', default: '4' } } })
const pool = Number(values.pool)
const concurrency = Number(values.concurrency)
const rounds = Number(values.rounds)

const pg = await startPrivatePostgres()
try {
  const setups = {
    'postgres.js defaults': { max: pool, onnotice: () => {} },
    'the app (postgresClientOptions)': postgresClientOptions({ max: pool }),
  }
  console.log(`| client | burst | while down: slowest failure (ms) | after restart: slowest success (ms) |`)
  console.log(`| --- | --- | --- | --- |`)
  for (const [name, options] of Object.entries(setups)) {
    const sql = postgres(pg.url, options)
    await sql`select 1`
    const burst = async () => {
      const outcomes = await Promise.all(
        Array.from({ length: concurrency }, async () => {
          const started = performance.now()
          const ok = await sql`select 1`.then(() => true, () => false)
          return { ok, ms: performance.now() - started }
        }),
      )
      return { slowest: Math.round(Math.max(...outcomes.map((outcome) => outcome.ms))), failed: outcomes.filter((outcome) => !outcome.ok).length }
    }
    await pg.stop('fast')
    const down = []
    for (let round = 0; round < rounds; round++) down.push(await burst())
    await pg.start()
    const up = []
    for (let round = 0; round < 3; round++) up.push(await burst())
    for (let round = 0; round < Math.max(rounds, 3); round++) {
      const d = down[round]
      const u = up[round]
      console.log(`| ${name} | ${round + 1} | ${d ? `${d.slowest} (${d.failed}/${concurrency} failed)` : ''} | ${u ? `${u.slowest} (${u.failed}/${concurrency} failed)` : ''} |`)
    }
    await sql.end({ timeout: 5 })
  }
} finally {
  await pg.close()
}
