/**
 * Seller-protection fingerprints (docs/fingerprints.md):
 *
 * 1. throughput: fingerprinting a Llama-2-7B LoRA (BF16, all 7 linear modules) vs SHA-256 of the same
 *    bytes, in one run, fed in 1 MiB chunks as validation's stream delivers them. SHA-256 twice: the
 *    pure-JS one validation uses (@noble/hashes, as on Workers) and Node's native one, for scale.
 * 2. lookup: `findMatches` (the duplicate lookup of validation) with N published versions
 *    (64 modules each) on Postgres: p50/p95/p99 over fresh unrelated adapters and true copies. The
 *    keys table is filled by migration 0009's backfill (timed). BENCH_KEEP=1 keeps the database;
 *    `--reuse <database>` times the lookups on a kept one without seeding again.
 *
 *   npx tsx bench/fingerprint.ts [--rank 16] [--layers 32] [--versions 100000] [--lookups 300] [--reuse <database>]
 *
 * Needs a Postgres server for part 2 (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test);
 * creates and drops its own database there.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { sha256 } from '@noble/hashes/sha2.js'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { buildSafetensorsHeader, loraTensorsFor, readSafetensorsHeader, seededBaseModels } from '../src/compat'
import { type AdapterFingerprint, createFingerprinter, FINGERPRINT_VERSION, fingerprintBytes, fnv1a, LSH_BITS, SKETCH_SIZE } from '../src/compat/fingerprint'
import type { Database } from '../src/db/types'
import { openDatabase } from '../src/node/database'
import { fingerprintColumns, findMatches } from '../src/publishing/fingerprints'
import { padRank, prng, randomLora, rotate, saveLora } from '../tests/helpers/lora-weights'

const { values } = parseArgs({
  options: {
    rank: { type: 'string', default: '16' },
    layers: { type: 'string', default: '32' },
    versions: { type: 'string', default: '100000' },
    lookups: { type: 'string', default: '300' },
    part: { type: 'string', default: 'both' },
    /** Times the lookups on a database an earlier run seeded and kept (BENCH_KEEP=1), skipping the seeding. */
    reuse: { type: 'string' },
  },
})
const llama = seededBaseModels.find((base) => base.id === 'meta-llama/Llama-2-7b-hf')!
const CHUNK = 1024 * 1024

function randomBf16File(rank: number, layers: number): Uint8Array {
  const tensors = loraTensorsFor(llama, { r: rank, layers: [...Array(layers).keys()], dtype: 'BF16' })
  const { bytes, fileSize } = buildSafetensorsHeader(tensors, { format: 'pt' })
  return fillBf16(bytes, fileSize)
}

/** The header bytes, then random small BF16 values up to `fileSize`. */
function fillBf16(bytes: Uint8Array, fileSize: number): Uint8Array {
  const file = new Uint8Array(fileSize)
  file.set(bytes)
  // Small finite values: the high halves of random F32s in [-0.05, 0.05].
  const floats = new Float32Array(1 << 20)
  const halves = new Uint16Array(floats.buffer)
  let state = 1
  for (let at = bytes.length; at < fileSize; at += floats.length * 2) {
    for (let i = 0; i < floats.length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      floats[i] = (state / 4294967296 - 0.5) * 0.1
    }
    const high = new Uint16Array(floats.length)
    for (let i = 0; i < floats.length; i++) high[i] = halves[i * 2 + 1]!
    file.set(new Uint8Array(high.buffer).subarray(0, Math.min(high.length * 2, fileSize - at)), at)
  }
  return file
}

function time(run: () => void, repeat = 3): number {
  let best = Infinity
  for (let i = 0; i < repeat; i++) {
    const started = performance.now()
    run()
    best = Math.min(best, performance.now() - started)
  }
  return best / 1000
}

/**
 * A DoRA adapter with a saved lm_head: q/v LoRA × 32 layers (r 16) with their magnitude vectors, and
 * `lm_head` (32,000 × 4,096) saved whole, BF16 — the saved matrix is almost all of the bytes.
 */
function doraSavedFile(): Uint8Array {
  const lora = loraTensorsFor(llama, { r: Number(values.rank), layers: [...Array(32).keys()], dtype: 'BF16', modules: ['self_attn.q_proj', 'self_attn.v_proj'] })
  const magnitudes = lora
    .filter((tensor) => tensor.name.endsWith('lora_B.weight'))
    .map((tensor) => ({ name: tensor.name.replace('lora_B.weight', 'lora_magnitude_vector'), dtype: 'BF16' as const, shape: [tensor.shape[0]!] }))
  const tensors = [...lora, ...magnitudes, { name: 'base_model.model.lm_head.weight', dtype: 'BF16' as const, shape: [32000, 4096] }]
  const { bytes, fileSize } = buildSafetensorsHeader(tensors, { format: 'pt' })
  return fillBf16(bytes, fileSize)
}

function throughput(file: Uint8Array, title: string) {
  const header = readSafetensorsHeader(file, file.length)
  const mb = file.length / 1e6
  const chunks = (feed: (chunk: Uint8Array) => void) => {
    for (let at = 0; at < file.length; at += CHUNK) feed(file.subarray(at, at + CHUNK))
  }
  const noble = time(() => {
    const hash = sha256.create()
    chunks((chunk) => hash.update(chunk))
    hash.digest()
  })
  const native = time(() => {
    const hash = createHash('sha256')
    chunks((chunk) => hash.update(chunk))
    hash.digest()
  })
  const fingerprint = time(() => {
    const fingerprinter = createFingerprinter(header)
    chunks((chunk) => fingerprinter.update(chunk))
    fingerprinter.finish()
  })
  const both = time(() => {
    const fingerprinter = createFingerprinter(header)
    const hash = sha256.create()
    chunks((chunk) => {
      fingerprinter.update(chunk)
      hash.update(chunk)
    })
    fingerprinter.finish()
    hash.digest()
  })
  const row = (name: string, seconds: number) => `| ${name} | ${(mb / seconds).toFixed(0)} MB/s | ${(noble / seconds).toFixed(2)}× |`
  console.log(`\n${title}: ${header.tensors.length} tensors, ${mb.toFixed(1)} MB (best of 3)\n`)
  console.log('| pass over the bytes | throughput | vs SHA-256 (@noble/hashes) |')
  console.log('| --- | --- | --- |')
  console.log(row('SHA-256, @noble/hashes (what validation runs, also on Workers)', noble))
  console.log(row('SHA-256, node:crypto (native, for scale)', native))
  console.log(row('fingerprint (sketch + per-tensor data hash)', fingerprint))
  console.log(row('fingerprint + whole-file SHA-256 (one validation pass without a stored checksum)', both))
}

async function lookup() {
  const versions = Number(values.versions)
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  const name = values.reuse ?? `refinery_bench_fingerprint_${process.pid}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  if (!values.reuse) await admin.unsafe(`create database "${name}"`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  try {
    const sql = postgres(url.toString(), { max: 2, onnotice: () => {} })
    const modules = ['self_attn.q_proj', 'self_attn.v_proj']
    const original = randomLora(llama, { r: 8, modules, layers: [...Array(32).keys()], seed: 1 })
    const originalFile = saveLora(original, { dtype: 'F16' })
    const originalFp = fingerprintBytes(readSafetensorsHeader(originalFile, originalFile.length), originalFile)
    const moduleHashes = originalFp.modules.map((module) => fnv1a(module.module) & 0xfffffff)
    let seeded = `reused database ${name}`
    if (!values.reuse) {
      const database = await openDatabase({ url: url.toString(), poolSize: 2 })
      await database.migrate()
      await database.close()
      const started = performance.now()
      await sql`insert into teams (slug, name) select 'bench-team-' || g, 'Bench team ' || g from generate_series(1, 1000) g`
      await sql`
        insert into adapters (team_id, slug, title, license_spdx, commercial_use, derivatives_allowed, visibility, published_at)
        select t.id, 'adapter-' || g, 'Adapter ' || g, 'MIT', true, true, 'published', now()
        from generate_series(1, ${versions}) g join teams t on t.slug = 'bench-team-' || (1 + g % 1000)`
      await sql`
        insert into adapter_versions (adapter_id, version, declared_base, status, published_at, facts)
        select id, '1.0.0', 'meta-llama/Llama-2-7b-hf', 'published', now(), '{}'::jsonb from adapters`
      // Every seeded version: the same 64 module names with random LSH bits and random exact keys.
      const sketches = fingerprintColumns(originalFp).sketches
      await sql`
        insert into version_fingerprints (version_id, fingerprint_version, modules, sketches, module_keys, exact_keys, verdict)
        select v.id, 1, ${originalFp.modules.map((m) => m.module)}::text[], ${Buffer.from(sketches.map((x, i) => (x * 31 + i) & 0xff))},
          array(select (h * ${2 ** LSH_BITS}::bigint + floor(random() * ${2 ** LSH_BITS})::bigint) from unnest(${moduleHashes}::bigint[]) h where v.id is not null),
          array(select floor(random() * 4503599627370496)::bigint from generate_series(1, 128) where v.id is not null),
          'unique'
        from adapter_versions v`
      // The one real original, published by its own team.
      const [team] = await sql`insert into teams (slug, name) values ('original', 'Original') returning id`
      const [adapter] = await sql`insert into adapters (team_id, slug, title, license_spdx, commercial_use, derivatives_allowed, visibility, published_at)
        values (${team!.id}, 'original', 'Original', 'MIT', true, true, 'published', now()) returning id`
      const [version] = await sql`insert into adapter_versions (adapter_id, version, declared_base, status, published_at, facts)
        values (${adapter!.id}, '1.0.0', 'meta-llama/Llama-2-7b-hf', 'published', now(), '{}'::jsonb) returning id`
      const columns = fingerprintColumns(originalFp)
      await sql`insert into version_fingerprints (version_id, fingerprint_version, modules, sketches, module_keys, exact_keys, verdict)
        values (${version!.id}, 1, ${columns.modules}::text[], ${Buffer.from(columns.sketches)}, ${columns.moduleKeys}::bigint[], ${columns.exactKeys}::bigint[], 'unique')`
      const fingerprintsIn = (performance.now() - started) / 1000
      // The keys table filled by the backfill migration 0009 runs, from module_keys (its last statement).
      const keysStarted = performance.now()
      const migration = readFileSync(new URL('../migrations/0009_search_terms_fingerprint_keys.sql', import.meta.url), 'utf8')
      await sql.unsafe(migration.split('--> statement-breakpoint').at(-1)!)
      await sql`analyze`
      const keysIn = (performance.now() - keysStarted) / 1000
      const seededIn = (performance.now() - started) / 1000
      const [size] = await sql`select pg_size_pretty(pg_total_relation_size('version_fingerprints')) as fingerprints,
        pg_size_pretty(pg_total_relation_size('fingerprint_keys')) as keys, (select count(*) from fingerprint_keys)::int as rows`
      seeded = `seeded in ${seededIn.toFixed(0)} s (teams, listings, versions, fingerprints ${fingerprintsIn.toFixed(0)} s; fingerprint_keys backfill + analyze ${keysIn.toFixed(0)} s); version_fingerprints ${size!.fingerprints}, fingerprint_keys ${size!.keys} (${size!.rows.toLocaleString('en')} rows)`
    }

    const db: Database = drizzle(sql)
    const lookups = Number(values.lookups)
    // Unrelated adapters: random unit sketches per module (what an unrelated ΔW's sketch is) with
    // random exact keys; copies: five real rotated + rank-padded BF16 copies, cycled.
    const { normal } = prng(7)
    const realCopies = Array.from({ length: 5 }, (_, i) => {
      const file = saveLora(padRank(rotate(original, i), 16), { dtype: 'BF16' })
      return fingerprintBytes(readSafetensorsHeader(file, file.length), file)
    })
    const queries = Array.from({ length: lookups }, (_, i) => {
      if (i % 2 === 1) return { copy: true, fingerprint: realCopies[i % realCopies.length]! }
      const fingerprint: AdapterFingerprint = {
        version: FINGERPRINT_VERSION,
        modules: originalFp.modules.map((module) => {
          const sketch = Float32Array.from({ length: SKETCH_SIZE }, normal)
          const norm = Math.hypot(...sketch)
          return { module: module.module, kind: 'lora' as const, sketch: sketch.map((x) => x / norm), zero: false }
        }),
        exactKeys: Array.from({ length: 128 }, () => Math.floor(Math.abs(normal()) * 2 ** 40)),
      }
      return { copy: false, fingerprint }
    })
    const copyTimings: number[] = []
    const unrelatedTimings: number[] = []
    let found = 0
    for (const [i, query] of queries.entries()) {
      const at = performance.now()
      const matches = await findMatches(db, query.fingerprint, { excludeTeams: { teamId: '00000000-0000-0000-0000-000000000000' } })
      if (i >= 10) (query.copy ? copyTimings : unrelatedTimings).push(performance.now() - at) // the first few warm the connection and the plan
      if (query.copy && matches[0]?.share === 1) found++
      if (!query.copy && matches.length > 0) throw new Error('an unrelated adapter matched')
    }
    const timings = [...copyTimings, ...unrelatedTimings].sort((a, b) => a - b)
    const pct = (p: number, of = timings) => of[Math.min(of.length - 1, Math.floor(p * of.length))]!.toFixed(2)
    copyTimings.sort((a, b) => a - b)
    unrelatedTimings.sort((a, b) => a - b)
    console.log(`\n${versions.toLocaleString('en')} published versions × 64 modules ${seeded}`)
    console.log(`${timings.length} timed lookups (half unrelated adapters, half rotated + rank-padded BF16 copies of a published one; ${found}/${lookups / 2} copies found):`)
    console.log(`| lookups | p50 | p95 | p99 | max |\n| --- | --- | --- | --- | --- |`)
    for (const [name, of] of [['all', timings], ['unrelated adapters', unrelatedTimings], ['copies', copyTimings]] as const) {
      console.log(`| ${name} | ${pct(0.5, of)} ms | ${pct(0.95, of)} ms | ${pct(0.99, of)} ms | ${of.at(-1)!.toFixed(2)} ms |`)
    }
    await sql.end()
  } finally {
    if (!process.env.BENCH_KEEP) await admin.unsafe(`drop database if exists "${name}" with (force)`)
    await admin.end()
  }
}

if (values.part !== 'lookup') {
  throughput(randomBf16File(Number(values.rank), Number(values.layers)), `Llama-2-7B LoRA, r=${values.rank}, ${values.layers} layers × 7 modules, BF16`)
  throughput(doraSavedFile(), `Llama-2-7B DoRA, r=${values.rank}, q/v × 32 layers with magnitudes, lm_head saved (modules_to_save), BF16`)
}
if (values.part !== 'throughput') await lookup()
