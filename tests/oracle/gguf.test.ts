import { beforeAll, expect, it } from 'vitest'
import { analyzeAdapter, type BaseModel, buildSafetensorsHeader, checkAgainstBase, loraTensorsFor, readSafetensorsHeader, seededBaseModels } from '../../src/compat'
import { describeOracle, runPython } from '../helpers/python'

/**
 * The llama.cpp verdict against gguf-py: convert_lora_to_gguf.py maps each LoRA target through the
 * base architecture's tensor-name map (gguf.get_tensor_name_map) and stops on a name it cannot map.
 * Refinery says "llama.cpp: compatible" for a LoRA on every linear module of a convertible
 * architecture, so every module of every such registry base (and its embedding and head) must
 * map to a GGUF tensor.
 */

/** model_type → gguf MODEL_ARCH, as convert_hf_to_gguf.py registers the model classes. */
const GGUF_ARCH: Record<string, string> = {
  llama: 'LLAMA',
  mistral: 'LLAMA',
  qwen: 'QWEN',
  qwen2: 'QWEN2',
  baichuan: 'BAICHUAN',
  chatglm: 'CHATGLM',
  internlm2: 'INTERNLM2',
  gemma: 'GEMMA',
  phi: 'PHI2',
  'phi-msft': 'PHI2',
  phi3: 'PHI3',
  falcon: 'FALCON',
  bloom: 'BLOOM',
  gpt2: 'GPT2',
}

/** What convert_hf_to_gguf.py's modify_tensors renames or splits before the map (LoRA B is sliced alike). */
const RENAMES: Record<string, Record<string, string[]>> = {
  CHATGLM: { 'transformer.': [''] },
  BAICHUAN: { 'self_attn.W_pack': ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'] },
  INTERNLM2: { 'attention.wqkv': ['attention.wq', 'attention.wk', 'attention.wv'] },
}

type Layout = { id: string; modelType: string; layerPrefix: string; modules: string[]; embed: string; lmHead: string; layers: number }

/** The current naming of every base, plus Phi-2's older remote-code naming. */
function layouts(): Layout[] {
  return seededBaseModels.flatMap((base: BaseModel) => {
    const current = { id: base.id, modelType: base.modelType, layerPrefix: base.layerPrefix, modules: Object.keys(base.modules), embed: base.embed.module, lmHead: base.lmHead.module, layers: base.numHiddenLayers }
    const legacy = base.legacyRevision
    if (!legacy) return [current]
    return [current, { id: `${base.id} (${legacy.modelType})`, modelType: legacy.modelType, layerPrefix: legacy.layerPrefix, modules: Object.keys(legacy.modules), embed: legacy.embed.module, lmHead: legacy.lmHead.module, layers: base.numHiddenLayers }]
  })
}

describeOracle('llama.cpp rules against gguf-py tensor-name maps', () => {
  let mapped: Record<string, Record<string, string[] | null>>
  const all = layouts()

  beforeAll(async () => {
    const bases = all.map((layout) => {
      const last = layout.layers - 1
      const names = [layout.embed, layout.lmHead, ...[0, last].flatMap((layer) => layout.modules.map((module) => `${layout.layerPrefix.replace('{i}', String(layer))}.${module}`))]
      return { id: layout.id, arch: GGUF_ARCH[layout.modelType], blocks: layout.layers, names }
    })
    expect(bases.every((base) => base.arch !== undefined)).toBe(true)
    mapped = await runPython('tests/oracle/gguf_names.py', { bases, renames: RENAMES })
  }, 300_000)

  it.each(layouts().map((layout) => [layout.id, layout] as const))('%s: every layer module and the embedding map to a GGUF tensor', (id, layout) => {
    const names = mapped[id] ?? {}
    const unmapped = Object.entries(names).filter(([name, value]) => value === null && name !== layout.lmHead).map(([name]) => name)
    expect(unmapped).toEqual([])
  })

  it.each(seededBaseModels.map((base) => [base.id, base] as const))("%s: llama.cpp's verdict on a LoRA on the head is whether gguf maps the head", (id, base) => {
    const [out, hidden] = [base.lmHead.shape[0] ?? 32000, base.lmHead.shape[1]]
    const tensors = [
      { name: `base_model.model.${base.lmHead.module}.lora_A.weight`, dtype: 'F16' as const, shape: [8, hidden] },
      { name: `base_model.model.${base.lmHead.module}.lora_B.weight`, dtype: 'F16' as const, shape: [out, 8] },
    ]
    const { bytes, fileSize } = buildSafetensorsHeader(tensors)
    const header = readSafetensorsHeader(bytes, fileSize)
    const report = checkAgainstBase(analyzeAdapter(header), header, base)
    expect(report.compatible).toBe(true)
    expect(report.runtimes.llamacpp.compatible).toBe(mapped[id]?.[base.lmHead.module] !== null)
  })

  it.each(seededBaseModels.map((base) => [base.id, base] as const))('%s: Refinery says llama.cpp converts a LoRA on every module', (_id, base) => {
    const { bytes, fileSize } = buildSafetensorsHeader(loraTensorsFor(base, { r: 8, layers: [0] }))
    const header = readSafetensorsHeader(bytes, fileSize)
    const report = checkAgainstBase(analyzeAdapter(header), header, base)
    expect(report.runtimes.llamacpp).toEqual({ compatible: true, reasons: [] })
  })
})
