/**
 * Where the CPU of `checkCompatibility` by `{config, header}` goes, in process (no HTTP, no
 * wrangler): the whole request through the app against `/health` on the same app, and the steps
 * of the route one by one. Two bodies: the one bench/edge.ts sends (peftFolder's Llama-2 adapter,
 * 16 tensors, against Mistral-7B-v0.1) and a 7B LoRA on all 7 linear modules × 32 layers at r=16
 * (448 tensors, ~60 KB of header JSON) against Mistral-7B-v0.1. Anonymous caller, registry cache
 * warm: the check does no I/O.
 *
 *   npx tsx bench/compat-check.ts [--seconds 1]
 *
 * For an instruction count that does not depend on the machine's load, `--calls N` runs the
 * route's steps (body parse, schema, header/config validation, analysis, check, serialisation)
 * N times on the 448-tensor body (`--body edge`: edge.ts's) with no app and no timing; run it under
 * `valgrind --tool=callgrind` with two N and subtract (see BENCHMARKS.md).
 */
import { parseArgs } from 'node:util'
import { createApp } from '../src/app'
import { analyzeAdapter, buildSafetensorsHeader, checkAgainstBase, loraTensorsFor, parseAdapterConfig, seededBaseModels, validateHeaderObject } from '../src/compat'
import { createRegistryCache } from '../src/registry/registry-cache'
import { CheckCompatibilitySchema } from '../src/compat-api/schemas'
import { unstorablePath } from '../src/lib/openapi'
import { peftFolder } from '../tests/helpers/adapters'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1' }, calls: { type: 'string' }, body: { type: 'string', default: '448' } } })
const seconds = Number(values.seconds)

const MISTRAL = 'mistralai/Mistral-7B-v0.1'
const llama = seededBaseModels.find((base) => base.id === 'meta-llama/Llama-2-7b-hf')!

/** bench/edge.ts's body, built the same way. */
function edgeBody(): string {
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 8 })
  const bytes = files[1]!.bytes
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)))
  const config = JSON.parse(new TextDecoder().decode(files[0]!.bytes))
  return JSON.stringify({ base: MISTRAL, adapter: { header, config } })
}

/** A full 7B LoRA: every linear module of every layer, r=16, in the writer's key order. */
function bigBody(): string {
  const tensors = loraTensorsFor(llama, { r: 16, dtype: 'F16' }).sort((a, b) => (a.name < b.name ? -1 : 1))
  const { bytes } = buildSafetensorsHeader(tensors, { format: 'pt' })
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8)))
  const config = {
    peft_type: 'LORA',
    base_model_name_or_path: 'meta-llama/Llama-2-7b-hf',
    r: 16,
    lora_alpha: 32,
    lora_dropout: 0.05,
    target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    task_type: 'CAUSAL_LM',
  }
  return JSON.stringify({ base: MISTRAL, adapter: { header, config } })
}

const mistral = seededBaseModels.find((base) => base.id === MISTRAL)!

/** The route's work without the app: what Hono's validator and `checkCompatibility` do with the body. */
function steps(text: string) {
  const parsed = CheckCompatibilitySchema.safeParse(JSON.parse(text))
  if (!parsed.success || unstorablePath(parsed.data)) throw new Error('the body is invalid')
  const adapter = parsed.data.adapter as { header: unknown; config?: unknown }
  const header = validateHeaderObject(adapter.header)
  const config = adapter.config === undefined ? undefined : parseAdapterConfig(adapter.config)
  const analysis = analyzeAdapter(header, config)
  return JSON.stringify(checkAgainstBase(analysis, header, mistral, { allBases: [...seededBaseModels] }))
}

if (values.calls !== undefined) {
  const body = values.body === 'edge' ? edgeBody() : bigBody()
  let length = 0
  for (let i = 0; i < Number(values.calls); i++) length += steps(body).length
  console.log(`${values.calls} calls, ${length} bytes of reports`)
  process.exit(0)
}

/** Median µs per call over batches for `seconds`. */
async function measure(fn: () => unknown, batch: number): Promise<number> {
  for (let i = 0; i < batch * 5; i++) await fn()
  const samples: number[] = []
  const until = performance.now() + seconds * 1000
  while (performance.now() < until || samples.length < 5) {
    const start = performance.now()
    for (let i = 0; i < batch; i++) await fn()
    samples.push(((performance.now() - start) * 1000) / batch)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN
}

const { createHarness } = await import('../tests/helpers/harness')
const h = await createHarness()
try {
  const app = createApp({ ...h.deps, registry: createRegistryCache({ revalidateSeconds: 3600 }) })
  const request = async (path: string, body?: string) => {
    const response = await app.request(path, body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })
    if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`)
    await response.arrayBuffer()
  }
  const bodies = { 'edge.ts body (16 tensors)': edgeBody(), '448 tensors': bigBody() }
  const rows: [string, number][] = []
  for (let round = 0; round < 2; round++) {
    rows.length = 0
    const health = await measure(() => request('/health'), 200)
    rows.push(['GET /health', health])
    for (const [name, body] of Object.entries(bodies)) {
      const check = await measure(() => request('/v1/compat/check', body), 50)
      rows.push([`POST /v1/compat/check, ${name} (${Math.round(body.length / 1024)} KB)`, check])
    }
    const text = bodies['448 tensors']
    const json = JSON.parse(text)
    const parsed = CheckCompatibilitySchema.parse(json)
    const adapter = parsed.adapter as { header: unknown; config?: unknown }
    const header = validateHeaderObject(adapter.header)
    const config = parseAdapterConfig(adapter.config)
    const analysis = analyzeAdapter(header, config)
    const report = checkAgainstBase(analysis, header, mistral, { allBases: [...seededBaseModels] })
    rows.push(['  448 tensors, step by step:', Number.NaN])
    rows.push(['  JSON.parse of the body', await measure(() => JSON.parse(text), 50)])
    rows.push(['  CheckCompatibilitySchema.safeParse', await measure(() => CheckCompatibilitySchema.safeParse(json), 50)])
    rows.push(['  unstorablePath', await measure(() => unstorablePath(parsed), 50)])
    rows.push(['  validateHeaderObject', await measure(() => validateHeaderObject(adapter.header), 50)])
    rows.push(['  parseAdapterConfig', await measure(() => parseAdapterConfig(adapter.config), 500)])
    rows.push(['  analyzeAdapter (with config)', await measure(() => analyzeAdapter(header, config), 50)])
    rows.push(['  checkAgainstBase (with twins)', await measure(() => checkAgainstBase(analysis, header, mistral, { allBases: [...seededBaseModels] }), 50)])
    rows.push(['  JSON.stringify of the report', await measure(() => JSON.stringify(report), 200)])
    rows.push(['  all steps (bench --calls)', await measure(() => steps(text), 50)])
  }
  console.log(`node ${process.version}, ${h.kind}, ${seconds} s per row, median of batches (second round)`)
  const health = rows[0]![1]
  for (const [name, us] of rows) {
    if (Number.isNaN(us)) console.log(name)
    else console.log(`${name.padEnd(60)} ${us.toFixed(1).padStart(8)} µs${name.startsWith('POST') ? `  (${(us / health).toFixed(1)}× /health, +${(us - health).toFixed(0)} µs)` : ''}`)
  }
} finally {
  await h.close()
}
