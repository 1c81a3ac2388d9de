import fc from 'fast-check'
import { beforeAll, expect, it } from 'vitest'
import { analyzeAdapter, type BaseModel, buildSafetensorsHeader, checkAgainstBase, type CompatReport, parseAdapterConfig, readSafetensorsHeader } from '../../src/compat'
import { nativeBases } from './bases'
import { hfConfigs } from '../compat/fixtures/hf-configs'
import { describeOracle, runPython } from '../helpers/python'

/**
 * Refinery's `compatible` against PEFT: adapters made by get_peft_model on the registry's bases
 * (meta device, real shapes), each crossed with every base and loaded the way
 * PeftModel.from_pretrained does. See tests/oracle/peft_compat.py.
 */


/**
 * Every decoder layer of a base has the same modules, so both sides see each base with its layer
 * count divided by 8 (rounded up: 12 → 2, 32 → 4, 80 → 10): loads get 8× cheaper on a slow
 * machine and the layer-index logic (layers_to_transform, layers beyond the base) is still
 * exercised. The full-size layer counts are checked against transformers in registry.test.ts.
 */
const LAYER_SCALE = 8
const LAYER_FIELDS = ['num_hidden_layers', 'n_layer', 'num_layers']
const scaledBases: BaseModel[] = nativeBases.map((base) => ({ ...base, numHiddenLayers: Math.ceil(base.numHiddenLayers / LAYER_SCALE) }))

function scaledConfig(base: BaseModel): Record<string, unknown> {
  const config = { ...hfConfigs[base.id] }
  for (const field of LAYER_FIELDS) if (field in config) config[field] = base.numHiddenLayers
  return config
}

type LoraKwargs = Record<string, unknown>

/** Hand-picked configurations: every option the issue names at least once. */
const FIXED: LoraKwargs[] = [
  { r: 8, target_modules: ['q_proj', 'v_proj'] },
  { r: 4, target_modules: 'all-linear' },
  { r: 8, target_modules: ['query_key_value', 'dense'] },
  { r: 8, target_modules: ['c_attn', 'c_proj'], fan_in_fan_out: true },
  { r: 16, target_modules: ['qkv_proj', 'gate_up_proj', 'o_proj', 'down_proj'] },
  { r: 8, target_modules: ['q_proj', 'v_proj'], use_dora: true },
  { r: 16, lora_alpha: 32, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], use_rslora: true },
  { r: 8, target_modules: ['q_proj', 'v_proj'], modules_to_save: ['lm_head'] },
  { r: 8, target_modules: ['q_proj', 'v_proj', 'embed_tokens'] },
  { r: 8, target_modules: ['q_proj', 'v_proj', 'fc1', 'fc2', 'dense'], layers_to_transform: [0, 1, 3, 9] },
  { r: 8, target_modules: ['gate_proj', 'up_proj', 'down_proj'], rank_pattern: { down_proj: 4, 'model.layers.0.mlp.up_proj': 12 } },
  { r: 4, target_modules: '.*\\.(q_proj|query_key_value|c_attn)$' },
]

const RANDOM_TARGETS = [
  ['q_proj', 'v_proj'],
  ['q_proj', 'k_proj', 'v_proj', 'o_proj'],
  ['gate_proj', 'up_proj', 'down_proj'],
  ['query_key_value'],
  ['dense_h_to_4h', 'dense_4h_to_h'],
  ['c_attn'],
  ['qkv_proj'],
  ['fc1', 'fc2'],
]

/** Seeded random configurations (the seed is fixed: the pairs are the same on every run). */
const RANDOM: LoraKwargs[] = fc.sample(
  fc.record({
    r: fc.constantFrom(1, 2, 8, 32),
    target_modules: fc.constantFrom(...RANDOM_TARGETS),
    layers_to_transform: fc.option(fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 3 }), { nil: undefined }),
    use_dora: fc.boolean(),
    use_rslora: fc.boolean(),
    modules_to_save: fc.option(fc.constantFrom(['lm_head'], ['embed_tokens'], ['wte']), { nil: undefined }),
  }),
  { seed: 20, numRuns: 6 },
).map((kwargs) => Object.fromEntries(Object.entries(kwargs).filter(([, value]) => value !== undefined)))

type Adapter = { id: string; source: string; configIndex: number; config: Record<string, unknown>; tensors: [string, number[]][] }
type Oracle = { adapters: Adapter[]; verdicts: [string, string, boolean, string][]; loads: number }

/** Refinery's verdict for one saved adapter on one base, from its header and adapter_config.json. */
function refineryVerdict(adapter: Adapter, base: BaseModel): CompatReport {
  const { bytes, fileSize } = buildSafetensorsHeader(adapter.tensors.map(([name, shape]) => ({ name, dtype: 'F16', shape })))
  const header = readSafetensorsHeader(bytes, fileSize)
  const analysis = analyzeAdapter(header, parseAdapterConfig(adapter.config))
  return checkAgainstBase(analysis, header, base)
}

/**
 * Disagreements with a documented reason (RELIABILITY.md): a deliberate stricter rule, or a fact
 * the registry does not claim. A disagreement no entry explains fails the test.
 */
const EXPLAINED: { rule: string; why: string; applies: (base: BaseModel, report: CompatReport) => boolean }[] = [
  {
    rule: 'unverified vocabulary',
    why: "the registry leaves TigerBot-7B's vocab_size null (not verified), so Refinery reports vocab_unknown and does not decide on vocabulary tensors; transformers fills the missing field with LlamaConfig's default 32000, which is not TigerBot's vocabulary",
    applies: (base, report) => base.vocabSize === null && report.compatible && report.checks.some((check) => check.code === 'vocab_unknown'),
  },
]

describeOracle('compatibility against PEFT + transformers', () => {
  let oracle: Oracle
  const configs = [...FIXED, ...RANDOM]

  beforeAll(async () => {
    const bases = Object.fromEntries(scaledBases.map((base) => [base.id, scaledConfig(base)]))
    oracle = await runPython<Oracle>('tests/oracle/peft_compat.py', { bases, configs })
  }, 600_000)

  it('agrees with PeftModel.from_pretrained on every generated pair', () => {
    const adapters = new Map(oracle.adapters.map((adapter) => [adapter.id, adapter]))
    const byId = new Map(scaledBases.map((base) => [base.id, base]))
    const perArchitecture = new Map<string, { pairs: number; loads: number; disagreements: number; explained: number }>()
    const unexplained: string[] = []
    for (const [adapterId, target, loads, reason] of oracle.verdicts) {
      const adapter = adapters.get(adapterId)
      const base = byId.get(target)
      if (!adapter || !base) throw new Error(`unknown pair ${adapterId} → ${target}`)
      const report = refineryVerdict(adapter, base)
      const row = perArchitecture.get(base.modelType) ?? { pairs: 0, loads: 0, disagreements: 0, explained: 0 }
      perArchitecture.set(base.modelType, row)
      row.pairs++
      if (loads) row.loads++
      if (report.compatible === loads) continue
      row.disagreements++
      const rule = EXPLAINED.find((entry) => entry.applies(base, report))
      if (rule) {
        row.explained++
        continue
      }
      const errors = report.checks.filter((check) => check.severity === 'error').map((check) => `${check.code} ${check.tensor ?? ''}`)
      unexplained.push(`${adapter.source} [${JSON.stringify(configs[adapter.configIndex])}] → ${target}: PEFT ${loads ? 'loads' : `refuses (${reason})`}, Refinery ${report.compatible ? 'compatible' : `incompatible (${errors.join('; ')})`}`)
    }
    console.log(`PEFT oracle: ${oracle.adapters.length} adapters, ${oracle.verdicts.length} pairs (${oracle.loads} distinct loads)`)
    console.table(Object.fromEntries(perArchitecture))
    expect(oracle.verdicts.length).toBeGreaterThan(300)
    expect(unexplained.slice(0, 30)).toEqual([])
  })
})
