/**
 * Compatibility reads against the size of the base-model registry: the same reads at 10 and at
 * 1,000 verified registered bases, in one run.
 *
 *   npx tsx bench/registry.ts [--small 10] [--large 1000] [--runs 200]
 *
 * Publishes one Llama-2-7B LoRA, registers bases of other shapes through the API as a platform
 * operator (verified at once; each verification adds the base's row to the version's matrix, as
 * in production), and times each read over `--runs` calls (median and p95, in process, no HTTP
 * socket). PGlite in memory by default; a fresh database on DATABASE_URL when it is set.
 */
import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import { createListing, peftFolder, publishFolder } from '../tests/helpers/adapters'
import { createHarness } from '../tests/helpers/harness'

const { values } = parseArgs({ options: { small: { type: 'string', default: '10' }, large: { type: 'string', default: '1000' }, runs: { type: 'string', default: '200' } } })
const small = Number(values.small)
const large = Number(values.large)
const runs = Number(values.runs)
const BASE = 'meta-llama/Llama-2-7b-hf'

const operators: string[] = []
const h = await createHarness({ operators })
try {
  const operator = await h.teamOwner('bench-operator')
  operators.push(operator.email)
  await createListing(h, operator, 'lora')
  await publishFolder(h, operator, 'lora', '1.0.0', peftFolder({ base: BASE }), { publish: true })
  const ref = `${operator.team}/lora@1.0.0`

  let registered = 0
  async function registerUpTo(count: number) {
    for (; registered < count; registered++) {
      // Llama-shaped bases, each of its own width: none is a shape twin of another.
      const config = { model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 512 + 64 * registered, intermediate_size: 1376, num_hidden_layers: 4, num_attention_heads: 8, num_key_value_heads: 8, vocab_size: 1000 }
      const response = await h.call('POST', '/v1/base-models', { auth: operator.token, body: { id: `bench/base-${registered}`, config } })
      if (response.status !== 201) throw new Error(`registration failed: ${response.status} ${response.text}`)
    }
    await h.idle()
    // Fresh planner statistics, as autovacuum keeps them in production.
    await h.db.execute(sql`analyze`)
  }

  const reads: Record<string, () => Promise<{ status: number }>> = {
    'checkCompatibility by version ref': () => h.call('POST', '/v1/compat/check', { body: { base: BASE, adapter: { version: ref } } }),
    'getVersion (compatible bases)': () => h.call('GET', `/v1/adapters/${operator.team}/lora/versions/1.0.0`),
    'getBaseModel (twins)': () => h.call('GET', `/v1/base-models/${BASE}`),
    'getVersionCompatibility (full matrix: one row per base)': () => h.call('GET', `/v1/adapters/${operator.team}/lora/versions/1.0.0/compatibility`),
  }

  async function measure() {
    const result: Record<string, { median: number; p95: number }> = {}
    for (const [name, read] of Object.entries(reads)) {
      for (let i = 0; i < 20; i++) await read() // warm-up
      const times: number[] = []
      for (let i = 0; i < runs; i++) {
        const started = performance.now()
        const response = await read()
        times.push(performance.now() - started)
        if (response.status !== 200) throw new Error(`${name} answered ${response.status}`)
      }
      times.sort((a, b) => a - b)
      result[name] = { median: times[Math.floor(runs / 2)] ?? 0, p95: times[Math.floor(runs * 0.95)] ?? 0 }
    }
    return result
  }

  await registerUpTo(small)
  await measure() // a whole round first: the first reads pay for JIT and plan caches
  const atSmall = await measure()
  const started = performance.now()
  await registerUpTo(large)
  const registration = (performance.now() - started) / (large - small)
  const atLarge = await measure()

  console.log(`database: ${h.kind}; ${runs} calls per read; registering (with the matrix job) took ${registration.toFixed(1)} ms per base`)
  console.log(`| read | ${small} bases: median / p95 | ${large} bases: median / p95 | ratio of medians |`)
  console.log('| --- | --- | --- | --- |')
  for (const name of Object.keys(reads)) {
    const a = atSmall[name]!
    const b = atLarge[name]!
    console.log(`| ${name} | ${a.median.toFixed(2)} / ${a.p95.toFixed(2)} ms | ${b.median.toFixed(2)} / ${b.p95.toFixed(2)} ms | ${(b.median / a.median).toFixed(2)}× |`)
  }
} finally {
  await h.close()
}
