/**
 * The compatibility engine on a realistic 7B LoRA header: Llama-2-7B, all 7 linear modules × 32
 * layers, r=16 (448 tensors, ~60 KB of JSON), single core, no I/O.
 *
 *   npx tsx bench/compat.ts [--seconds 1]
 *
 * (a) strict header validation from bytes vs TextDecoder + JSON.parse of the same bytes (target ≤ 2×)
 * (b) checkAgainstBase of an analysed adapter against one base (target ≥ 20,000/s)
 * (c) compatibilityMatrix against all 23 seeded bases (target ≥ 1,000/s)
 */
import { parseArgs } from 'node:util'
import {
  analyzeAdapter,
  buildSafetensorsHeader,
  checkAgainstBase,
  compatibilityMatrix,
  loraTensorsFor,
  parseAdapterConfig,
  readSafetensorsHeader,
  seededBaseModels,
} from '../src/compat'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1' } } })
const seconds = Number(values.seconds)

const base = seededBaseModels.find((candidate) => candidate.id === 'meta-llama/Llama-2-7b-hf')
if (!base) throw new Error('Llama-2-7b-hf missing from the seed')
// safetensors' writer orders by dtype, then name; so do the keys of real PEFT files.
const tensors = loraTensorsFor(base, { r: 16, dtype: 'F16' }).sort((a, b) => (a.name < b.name ? -1 : 1))
const { bytes, fileSize } = buildSafetensorsHeader(tensors, { format: 'pt' })
const config = parseAdapterConfig({
  peft_type: 'LORA',
  base_model_name_or_path: 'meta-llama/Llama-2-7b-hf',
  r: 16,
  lora_alpha: 32,
  lora_dropout: 0.05,
  target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  task_type: 'CAUSAL_LM',
})

/** Runs `fn` in batches for `seconds`, returns the median per-call time of the batches in µs. */
function measure(fn: () => unknown, batch: number): number {
  for (let i = 0; i < batch * 5; i++) fn()
  const samples: number[] = []
  const until = performance.now() + seconds * 1000
  while (performance.now() < until || samples.length < 5) {
    const start = performance.now()
    for (let i = 0; i < batch; i++) fn()
    samples.push(((performance.now() - start) * 1000) / batch)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN
}

const decoder = new TextDecoder()
const headerJson = bytes.subarray(8)
const plain = measure(() => JSON.parse(decoder.decode(headerJson)), 50)
const strict = measure(() => readSafetensorsHeader(bytes, fileSize), 50)
const header = readSafetensorsHeader(bytes, fileSize)
const analyse = measure(() => analyzeAdapter(header, config), 50)
const analysis = analyzeAdapter(header, config)
const one = measure(() => checkAgainstBase(analysis, header, base), 2000)
const oneWithTwins = measure(() => checkAgainstBase(analysis, header, base, { allBases: seededBaseModels }), 500)
const matrix = measure(() => compatibilityMatrix(analysis, header, seededBaseModels), 100)

const rows = [
  ['header', `${tensors.length} tensors, ${headerJson.length} bytes of JSON`],
  ['TextDecoder + JSON.parse', `${plain.toFixed(1)} µs`],
  ['(a) readSafetensorsHeader (strict)', `${strict.toFixed(1)} µs = ${(strict / plain).toFixed(2)}× JSON.parse (target ≤ 2×)`],
  ['analyzeAdapter (once per upload)', `${analyse.toFixed(1)} µs`],
  ['(b) checkAgainstBase, one base', `${one.toFixed(2)} µs = ${Math.round(1e6 / one).toLocaleString('en')}/s (target ≥ 20,000/s)`],
  ['    … with allBases (twins)', `${oneWithTwins.toFixed(2)} µs = ${Math.round(1e6 / oneWithTwins).toLocaleString('en')}/s`],
  [`(c) compatibilityMatrix, ${seededBaseModels.length} bases`, `${matrix.toFixed(1)} µs = ${Math.round(1e6 / matrix).toLocaleString('en')}/s (target ≥ 1,000/s)`],
]
console.log(`node ${process.version}, ${seconds}s per measurement, median of batches`)
for (const [name, value] of rows) console.log(`${(name ?? '').padEnd(40)} ${value}`)
