/**
 * checkCompatibility by base id (adapter config + safetensors header, anonymous) with the
 * registry cache against without it, in one run over the same database: statements sent per
 * check (counted by a drizzle logger on the same connection) and median / p95 time in process.
 *
 *   npx tsx bench/registry-cache.ts [--bases 100] [--runs 300]
 *
 * PGlite in memory by default; a fresh database on DATABASE_URL when it is set. Registers
 * `--bases` Llama-2-shaped bases as a platform operator (shape twins of the checked base, so
 * the uncached twins query has rows to return).
 */
import { parseArgs } from 'node:util'
import { createApp } from '../src/app'
import { createRegistryCache } from '../src/registry/registry-cache'
import { hfConfigs } from '../tests/compat/fixtures/hf-configs'
import { peftFolder } from '../tests/helpers/adapters'
import { createHarness } from '../tests/helpers/harness'
import { queryCounter } from '../tests/helpers/query-counter'

const { values } = parseArgs({ options: { bases: { type: 'string', default: '100' }, runs: { type: 'string', default: '300' } } })
const bases = Number(values.bases)
const runs = Number(values.runs)
const BASE = 'meta-llama/Llama-2-7b-hf'

const operators: string[] = []
const h = await createHarness({ operators })
try {
  const operator = await h.user('bench-operator')
  operators.push(operator.email.toLowerCase())
  for (let i = 0; i < bases; i++) {
    const response = await h.call('POST', '/v1/base-models', { auth: operator.token, body: { id: `bench/llama-copy-${i}`, config: hfConfigs[BASE] } })
    if (response.status !== 201) throw new Error(`registration failed: ${response.status} ${response.text}`)
  }
  await h.idle()
  const files = peftFolder({ base: BASE })
  const bytes = files.find((file) => file.path === 'adapter_model.safetensors')!.bytes
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
  const body = JSON.stringify({
    base: BASE,
    adapter: {
      config: JSON.parse(new TextDecoder().decode(files.find((file) => file.path === 'adapter_config.json')!.bytes)),
      header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))),
    },
  })

  const counter = queryCounter(h.db, h.kind)
  const apps = {
    'without the cache (REGISTRY_CACHE_SECONDS=0)': createApp({ ...h.deps, db: counter.db, registry: undefined }),
    'with the cache, warm': createApp({ ...h.deps, db: counter.db, registry: createRegistryCache({ revalidateSeconds: 30 }) }),
  }
  console.log(`database: ${h.kind}; ${bases} registered twins of ${BASE}; ${runs} checks each`)
  console.log('| checkCompatibility by base id | statements per check | median | p95 |')
  console.log('| --- | --- | --- | --- |')
  for (let round = 0; round < 2; round++) {
    for (const [name, app] of Object.entries(apps)) {
      const check = async () => {
        const response = await app.request('/v1/compat/check', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })
        if (response.status !== 200) throw new Error(`${name}: ${response.status}`)
        await response.arrayBuffer()
      }
      for (let i = 0; i < 20; i++) await check() // warm-up (and the cache's first load)
      counter.reset()
      const times: number[] = []
      for (let i = 0; i < runs; i++) {
        const started = performance.now()
        await check()
        times.push(performance.now() - started)
      }
      const statements = counter.queries.length / runs
      times.sort((a, b) => a - b)
      // The first round warms the JIT for both; the second is the one printed.
      if (round === 1) console.log(`| ${name} | ${statements} | ${times[Math.floor(runs / 2)]!.toFixed(2)} ms | ${times[Math.floor(runs * 0.95)]!.toFixed(2)} ms |`)
    }
  }
} finally {
  await h.close()
}
