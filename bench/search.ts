/**
 * searchAdapters latency over HTTP with 100k listings and 300k versions in Postgres,
 * at 20 concurrent clients.
 *
 *   npx tsx bench/search.ts [--listings 100000] [--seconds 20] [--clients 20] [--cache-seconds 10] [--keep | --database NAME]
 *
 * `--cache-seconds 0` turns the search cache off (every request goes to Postgres). The clients
 * run in their own process, so they do not share the server's event loop. `/health` is measured
 * in the same mix, as the floor a cached answer is compared with.
 * Needs a Postgres server (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test);
 * creates and drops its own database there. `--keep` leaves the seeded database in place and
 * prints its name; `--database NAME` runs against such a database (migrated, not re-seeded).
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { sql as query } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { searchTermsInsert } from '../src/search/search-terms'
import { seededBaseModels } from '../src/compat'
import { parseConfig } from '../src/config'
import { openDatabase } from '../src/node/database'
import { startServer } from '../src/node/server'

const { values } = parseArgs({
  options: {
    listings: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '20' },
    clients: { type: 'string', default: '20' },
    'cache-seconds': { type: 'string', default: '10' },
    load: { type: 'string' },
    keep: { type: 'boolean', default: false },
    database: { type: 'string' },
  },
})
if (values.load) {
  await load(values.load, Number(values.seconds), Number(values.clients), JSON.parse(process.env.BENCH_BASES ?? '[]'))
  process.exit(0)
}
const listings = Number(values.listings)
const seconds = Number(values.seconds)
const clients = Number(values.clients)

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const name = values.database ?? `refinery_bench_search_${process.pid}`
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
if (!values.database) await admin.unsafe(`create database "${name}"`)
const url = new URL(serverUrl)
url.pathname = `/${name}`
const dataDir = await mkdtemp(join(tmpdir(), 'refinery-bench-'))

try {
  const database = await openDatabase({ url: url.toString(), poolSize: 2 })
  await database.migrate()
  await database.close()

  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} })
  const bases = seededBaseModels.map((base) => base.id)
  const started = performance.now()
  if (!values.database) await seed(sql, bases)
  const seededIn = (performance.now() - started) / 1000
  const [counts] = await sql`select (select count(*) from adapters)::int as adapters, (select count(*) from adapter_versions)::int as versions, pg_size_pretty(pg_database_size(current_database())) as size`
  await sql.end()

  const server = await startServer(
    parseConfig({
      DATABASE_URL: url.toString(),
      PORT: '0',
      REFINERY_DATA_DIR: dataDir,
      JWT_SECRET: 'bench-secret-that-is-at-least-32-chars',
      SEARCH_CACHE_SECONDS: values['cache-seconds'],
    }),
  )
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/search.ts', '--load', server.url, '--seconds', String(seconds), '--clients', String(clients)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_BASES: JSON.stringify(bases) },
  })
  let output = ''
  child.stdout!.on('data', (chunk) => (output += chunk))
  await new Promise((resolve) => child.once('exit', resolve))
  const { byKind, errors, errorStatuses } = JSON.parse(output) as { byKind: Record<string, number[]>; errors: number; errorStatuses: Record<string, number> }
  await server.close()

  const all = Object.entries(byKind).flatMap(([kind, latencies]) => (kind === 'health' ? [] : latencies))
  const row = (name: string, latencies: number[]) => {
    const sorted = [...latencies].sort((a, b) => a - b)
    const at = (p: number) => (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN).toFixed(1)
    return `| ${name} | ${sorted.length} | ${at(50)} ms | ${at(95)} ms | ${at(99)} ms |`
  }
  console.log(
    `${values.database ? 'database' : 'seeded'} ${name}: ${counts?.adapters} listings / ${counts?.versions} versions${values.database ? '' : ` in ${seededIn.toFixed(1)} s`}, ${counts?.size}; search cache ${values['cache-seconds']} s`,
  )
  console.log(`${all.length} searches in ${seconds} s at ${clients} clients (${(all.length / seconds).toFixed(0)} req/s), ${errors} errors ${JSON.stringify(errorStatuses)}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`)
  console.log(['| query | requests | p50 | p95 | p99 |', '| --- | --- | --- | --- | --- |', row('**all searches**', all), ...Object.entries(byKind).map(([kind, latencies]) => row(kind, latencies))].join('\n'))
} finally {
  if (values.keep || values.database) console.log(`kept database ${name}`)
  else await admin.unsafe(`drop database if exists "${name}" with (force)`)
  await admin.end()
  await rm(dataDir, { recursive: true, force: true })
}

/** The load generator (its own process): closed-loop clients, latencies grouped by query kind. */
async function load(serverUrl: string, seconds: number, clients: number, bases: string[]) {
  const queries: Record<string, () => string> = {
    'text, by relevance': () => `/v1/adapters?q=${pick(['legal', 'medical chat', 'contract law', 'sql', 'poetry', 'finance report', 'customer support'])}`,
    'base model': () => `/v1/adapters?base=${encodeURIComponent(pick(bases))}`,
    'base + vllm, by downloads': () => `/v1/adapters?base=${encodeURIComponent(pick(bases))}&runtime=vllm&sort=downloads`,
    'text + base': () => `/v1/adapters?q=${pick(['legal', 'medical', 'code'])}&base=${encodeURIComponent(pick(bases))}`,
    'tag, newest': () => `/v1/adapters?tag=${pick(['chat', 'legal', 'zh', 'code', 'medical'])}&sort=newest`,
    'commercial, by downloads': () => `/v1/adapters?sort=downloads&commercial=true`,
    'no filter, newest': () => `/v1/adapters?sort=newest`,
    health: () => `/health`,
  }
  const kinds = Object.keys(queries)
  // Warm the pool and the caches, then measure.
  for (let i = 0; i < 50; i++) await fetch(serverUrl + queries[pick(kinds)]!()).then((r) => r.arrayBuffer())
  const byKind: Record<string, number[]> = Object.fromEntries(kinds.map((kind) => [kind, []]))
  let errors = 0
  const errorStatuses: Record<number, number> = {}
  const failed = (status: number) => {
    errors++
    errorStatuses[status] = (errorStatuses[status] ?? 0) + 1
  }
  const deadline = performance.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) {
        const kind = pick(kinds)
        const path = queries[kind]!()
        const t0 = performance.now()
        const response = await fetch(serverUrl + path)
        const body = (await response.json()) as { nextCursor?: string | null }
        byKind[kind]!.push(performance.now() - t0)
        if (response.status !== 200) failed(response.status)
        else if (body.nextCursor && Math.random() < 0.2) {
          // Some clients page on: a keyset page costs what the first one does.
          const t1 = performance.now()
          const next = await fetch(`${serverUrl}${path}&cursor=${body.nextCursor}`)
          await next.arrayBuffer()
          byKind[kind]!.push(performance.now() - t1)
          if (next.status !== 200) failed(next.status)
        }
      }
    }),
  )
  // Exit only once the pipe has taken the whole report.
  await new Promise((resolve) => process.stdout.write(JSON.stringify({ byKind, errors, errorStatuses }), resolve))
}

function pick<T>(items: readonly T[]): T {
  const item = items[Math.floor(Math.random() * items.length)]
  if (item === undefined) throw new Error('empty list')
  return item
}

/** Listings with realistic text, tags, 1–4 compatible bases each, and three versions each. */
async function seed(sql: postgres.Sql, bases: string[]) {
  const words = ['legal', 'contract', 'law', 'medical', 'clinical', 'chat', 'assistant', 'code', 'sql', 'python', 'poetry', 'classical',
    'chinese', 'finance', 'report', 'customer', 'support', 'summarise', 'translate', 'math', 'reasoning', 'tutor', 'retail', 'insurance',
    'claims', 'patent', 'search', 'agent', 'tool', 'json', 'extraction', 'dialogue', 'roleplay', 'safety', 'review', 'news']
  const engines = ['vllm', 'lorax', 'tgi', 'llamacpp']
  // Rows go in in bulk: no per-row triggers (the search-terms one is replayed in one statement below).
  await sql`set session_replication_role = replica`
  await sql`insert into teams (slug, name) select 'bench-team-' || g, 'Bench team ' || g from generate_series(1, 1000) g`
  await sql`
    with w as (select ${words}::text[] as words, ${bases}::text[] as bases, ${engines}::text[] as engines)
    insert into adapters (team_id, slug, title, summary, description, task_tags, domain_tags, language_tags,
                          license_spdx, commercial_use, derivatives_allowed, visibility, downloads, compat_keys, latest_version, published_at)
    select t.id, 'adapter-' || g,
           initcap(w.words[1 + (g * 7) % 36] || ' ' || w.words[1 + (g * 13) % 36] || ' ' || w.words[1 + (g * 31) % 36]),
           'A LoRA for ' || w.words[1 + (g * 17) % 36] || ' and ' || w.words[1 + (g * 23) % 36],
           repeat(w.words[1 + (g * 3) % 36] || ' ' || w.words[1 + (g * 5) % 36] || ' adapter trained on private data. ', 5),
           array[w.words[1 + g % 8]], array[w.words[1 + (g * 11) % 36]], array[(array['zh', 'en', 'ja'])[1 + g % 3]],
           (array['Apache-2.0', 'MIT', 'llama2', 'other'])[1 + g % 4], g % 3 <> 0, true,
           case when g % 20 = 0 then 'draft' else 'published' end,
           ((g::bigint * 7919) % 10000)::int,
           (select array_agg(distinct k) from (
              select w.bases[1 + (g * m) % ${bases.length}] as k from generate_series(1, 1 + g % 4) m
              union all
              select w.bases[1 + (g * m) % ${bases.length}] || '|' || e from generate_series(1, 1 + g % 4) m, unnest(w.engines[1:1 + g % 4]) e
              union all
              select '*|' || e from unnest(w.engines[1:1 + g % 4]) e) keys),
           '1.' || (g % 3) || '.0',
           now() - make_interval(secs => g)
    from generate_series(1, ${listings}) g
    join w on true
    join teams t on t.slug = 'bench-team-' || (1 + g % 1000)`
  await sql`
    insert into adapter_versions (adapter_id, version, declared_base, status, published_at, facts)
    select a.id, '1.' || v || '.0', 'meta-llama/Llama-2-7b-hf', 'published', a.published_at, '{}'::jsonb
    from adapters a, generate_series(0, 2) v`
  // What the trigger writes for each listing as it is listed, for all of them at once.
  await drizzle(sql).execute(searchTermsInsert(query`true`))
  await sql`set session_replication_role = default`
  // Vacuumed, as autovacuum would leave it: index-only scans need the visibility map.
  await sql`vacuum (analyze)`
}
