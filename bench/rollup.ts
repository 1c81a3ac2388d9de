/**
 * rollupDownloads on Postgres: the cost of folding a batch of 10,000 audit rows into the
 * counters, counting distinct (version, holder) pairs (now) against counting every row (the
 * query it replaced, kept here for the comparison), in one run on the same rows.
 *
 *   npx tsx bench/rollup.ts [--rows 200000] [--buyers 5000] [--versions 20]
 *
 * Needs a Postgres server (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test); creates
 * and drops its own database.
 */
import { sql } from 'drizzle-orm'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { rollupDownloads } from '../src/downloads'
import type { Database } from '../src/db/types'
import { openDatabase } from '../src/node/database'

const { values } = parseArgs({ options: { rows: { type: 'string', default: '200000' }, buyers: { type: 'string', default: '5000' }, versions: { type: 'string', default: '20' } } })
const rows = Number(values.rows)
const buyers = Number(values.buyers)
const versions = Number(values.versions)

/** The rollup as it was: every audit row adds one. */
async function rollupEveryRow(db: Database) {
  await db.execute(sql`
    with claimed as (
      update downloads set counted = true
      where id in (select id from downloads where not counted order by id limit 10000 for update skip locked)
      returning version_id, adapter_id
    ), per_version as (
      update adapter_versions v set downloads = v.downloads + c.n
      from (select version_id, count(*)::int n from claimed group by version_id) c where v.id = c.version_id
      returning v.id
    ), per_adapter as (
      update adapters a set downloads = a.downloads + c.n
      from (select adapter_id, count(*)::int n from claimed group by adapter_id) c where a.id = c.adapter_id
      returning a.id
    )
    select count(*)::int as counted from claimed`)
}

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const name = `refinery_bench_rollup_${process.pid}`
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
await admin.unsafe(`create database "${name}"`)
const url = new URL(serverUrl)
url.pathname = `/${name}`
const database = await openDatabase({ url: url.toString(), poolSize: 2 })
try {
  await database.migrate()
  const db = database.db
  await db.execute(sql`insert into teams (slug, name) values ('seller', 'Seller')`)
  await db.execute(sql`insert into adapters (team_id, slug, title, commercial_use, derivatives_allowed, license_spdx)
    select id, 'bench', 'Bench', true, true, 'MIT' from teams where slug = 'seller'`)
  await db.execute(sql`insert into adapter_versions (adapter_id, version, declared_base)
    select a.id, '1.0.' || g, 'meta-llama/Llama-2-7b-hf' from adapters a, generate_series(1, ${versions}) g`)
  await db.execute(sql`insert into users (email, name, password_hash) select 'b' || g || '@example.test', 'b', 'x' from generate_series(1, ${buyers}) g`)
  await db.execute(sql`insert into entitlements (adapter_id, user_id, license, source, source_id)
    select a.id, u.id, 'research', 'free', u.id::text from adapters a, users u`)

  /** `rows` audit rows: random buyers, random versions (a buyer fetches each version a few times). */
  async function seedAuditRows() {
    await db.execute(sql`truncate downloads, counted_downloads`)
    await db.execute(sql`
      with e as (select id, user_id, row_number() over () as n from entitlements),
           v as (select id, adapter_id, row_number() over () as n from adapter_versions)
      insert into downloads (adapter_id, version_id, file_id, user_id, entitlement_id)
      select v.adapter_id, v.id, gen_random_uuid(), e.user_id, e.id
      from generate_series(1, ${rows}) g
      join e on e.n = 1 + (g::bigint * 7919) % ${buyers}
      join v on v.n = 1 + abs(hashtext(g::text)) % ${versions}`)
    await db.execute(sql`vacuum analyze downloads`)
  }

  const results: Record<string, number[]> = { 'every row (before)': [], 'distinct pairs (now)': [] }
  // Alternate, twice each, so a slower moment of the box hits both.
  for (const round of [1, 2]) {
    for (const [label, rollup] of [
      ['every row (before)', () => rollupEveryRow(db)],
      ['distinct pairs (now)', () => rollupDownloads(db)],
    ] as const) {
      await seedAuditRows()
      const started = performance.now()
      for (let done = 0; done < rows; done += 10_000) await rollup()
      const ms = performance.now() - started
      results[label]!.push(ms / Math.ceil(rows / 10_000))
      void round
    }
  }
  const [pairs] = (await db.execute(sql`select count(*)::int as n from counted_downloads`)) as unknown as { n: number }[]
  console.log(`${rows.toLocaleString('en')} audit rows, ${buyers.toLocaleString('en')} buyers, ${versions} versions → ${pairs?.n.toLocaleString('en')} counted pairs`)
  for (const [label, perBatch] of Object.entries(results)) {
    console.log(`${label}: ${perBatch.map((ms) => ms.toFixed(1)).join(' / ')} ms per batch of 10,000 rows`)
  }
} finally {
  await database.close()
  await admin.unsafe(`drop database "${name}"`)
  await admin.end()
}
