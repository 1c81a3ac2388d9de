import { describe, expect, it } from 'vitest'
import {
  type AdapterConfig,
  analyzeAdapter,
  type BaseModel,
  buildSafetensors,
  checkAgainstBase,
  compatibilityMatrix,
  type CompatReport,
  type Dtype,
  loraTensorsFor,
  parseAdapterConfig,
  readSafetensorsHeader,
  seededBaseModels,
} from '../../src/compat'

type Spec = { name: string; dtype: Dtype; shape: number[] }

function base(id: string): BaseModel {
  const found = seededBaseModels.find((candidate) => candidate.id === id)
  if (!found) throw new Error(`no seeded base ${id}`)
  return found
}

/** Builds the file, reads it back strictly, analyses it: the path an upload takes. */
function adapter(tensors: Spec[], config?: Record<string, unknown>) {
  const file = buildSafetensors(tensors, { format: 'pt' })
  const header = readSafetensorsHeader(file, file.length)
  const parsed: AdapterConfig | undefined = config ? parseAdapterConfig(config) : undefined
  return { header, analysis: analyzeAdapter(header, parsed) }
}

function check(tensors: Spec[], against: string, config?: Record<string, unknown>): CompatReport {
  const { header, analysis } = adapter(tensors, config)
  return checkAgainstBase(analysis, header, base(against), { allBases: seededBaseModels })
}

const codes = (report: CompatReport) => report.checks.map((finding) => finding.code)
const errors = (report: CompatReport) => report.checks.filter((finding) => finding.severity === 'error').map((finding) => finding.code)

const ALL_LLAMA = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']
const P = 'base_model.model.'

describe('real-world shapes', () => {
  const mistral = loraTensorsFor(base('mistralai/Mistral-7B-v0.1'), { r: 16, modules: ALL_LLAMA })

  it('a Mistral-7B adapter is shape-identical to a Llama-3-8B one: twins', () => {
    const report = check(mistral, 'meta-llama/Meta-Llama-3-8B', { r: 16, lora_alpha: 32, target_modules: ALL_LLAMA, base_model_name_or_path: 'mistralai/Mistral-7B-v0.1' })
    expect(report.compatible).toBe(true)
    expect(report.twins).toEqual(['meta-llama/Llama-3.1-8B', 'mistralai/Mistral-7B-v0.1'])
    expect(report.declaredBase).toEqual({ value: 'mistralai/Mistral-7B-v0.1', matches: false, normalized: 'mistralai/Mistral-7B-v0.1' })
    const mismatch = report.checks.find((finding) => finding.code === 'declared_base_mismatch')
    expect(mismatch).toMatchObject({ severity: 'warning', expected: 'meta-llama/Meta-Llama-3-8B', actual: 'mistralai/Mistral-7B-v0.1' })
    expect(mismatch?.message).toContain('shape twin')
  })

  it('…except for vocabulary-carrying tensors (modules_to_save lm_head / embed_tokens)', () => {
    const withHead = [
      ...mistral,
      { name: `${P}lm_head.weight`, dtype: 'F16' as const, shape: [32000, 4096] },
      { name: `${P}model.embed_tokens.weight`, dtype: 'F16' as const, shape: [32000, 4096] },
    ]
    const onLlama3 = check(withHead, 'meta-llama/Meta-Llama-3-8B')
    expect(onLlama3.compatible).toBe(false)
    const vocab = onLlama3.checks.filter((finding) => finding.code === 'vocab_mismatch')
    expect(vocab.map((finding) => finding.tensor).sort()).toEqual([`${P}lm_head.weight`, `${P}model.embed_tokens.weight`])
    expect(vocab[0]).toMatchObject({ expected: [128256, 4096], actual: [32000, 4096] })
    const onMistral = check(withHead, 'mistralai/Mistral-7B-v0.1')
    expect(onMistral.compatible).toBe(true)
    expect(onMistral.twins).toEqual([])
    expect(onMistral.runtimes.vllm.compatible).toBe(false)
    expect(onMistral.runtimes.vllm.reasons.join()).toContain('modules_to_save')
  })

  it('embedding LoRA carries the vocabulary too', () => {
    const tensors = [...mistral, { name: `${P}model.embed_tokens.lora_embedding_A`, dtype: 'F16' as const, shape: [16, 32000] }, { name: `${P}model.embed_tokens.lora_embedding_B`, dtype: 'F16' as const, shape: [4096, 16] }]
    const report = check(tensors, 'meta-llama/Meta-Llama-3-8B')
    expect(report.checks.find((finding) => finding.code === 'vocab_mismatch')).toMatchObject({ tensor: `${P}model.embed_tokens.lora_embedding_A`, expected: ['r', 128256], actual: ['r', 32000] })
    expect(check(tensors, 'mistralai/Mistral-7B-v0.1').compatible).toBe(true)
  })

  it('Llama-2-7B ≈ Qwen1.5-7B; its MLP alone also fits Baichuan2-7B', () => {
    const qv = loraTensorsFor(base('meta-llama/Llama-2-7b-hf'), { r: 8, modules: ['q_proj', 'v_proj'] })
    const report = check(qv, 'meta-llama/Llama-2-7b-hf')
    expect(report.twins).toEqual(['Qwen/Qwen1.5-7B', 'TigerResearch/tigerbot-7b-base'])
    const mlp = loraTensorsFor(base('meta-llama/Llama-2-7b-hf'), { r: 8, modules: ['gate_proj', 'up_proj', 'down_proj'] })
    expect(check(mlp, 'meta-llama/Llama-2-7b-hf').twins).toContain('baichuan-inc/Baichuan2-7B-Base')
  })

  it('Qwen2-7B and Qwen2.5-7B are indistinguishable', () => {
    const report = check(loraTensorsFor(base('Qwen/Qwen2-7B'), { r: 64 }), 'Qwen/Qwen2.5-7B')
    expect(report.compatible).toBe(true)
    expect(report.twins).toEqual(['Qwen/Qwen2-7B'])
  })

  it('Baichuan2 packs q,k,v in W_pack; a Llama base has no such module', () => {
    const tensors = loraTensorsFor(base('baichuan-inc/Baichuan2-7B-Base'), { r: 8, modules: ['W_pack'] })
    expect(tensors[0]).toEqual({ name: `${P}model.layers.0.self_attn.W_pack.lora_A.weight`, dtype: 'F16', shape: [8, 4096] })
    expect(tensors[1]?.shape).toEqual([12288, 8])
    const own = check(tensors, 'baichuan-inc/Baichuan2-7B-Base', { r: 8, target_modules: ['W_pack'], base_model_name_or_path: 'baichuan-inc/Baichuan2-7B-Chat' })
    expect(own.compatible).toBe(true)
    expect(own.declaredBase.matches).toBe(true)
    expect(own.runtimes.vllm.compatible).toBe(true)
    expect(own.runtimes.lorax).toMatchObject({ compatible: false })
    const llama = check(tensors, 'meta-llama/Llama-2-7b-hf')
    expect(llama.checks.find((finding) => finding.code === 'unknown_module')).toMatchObject({
      severity: 'error',
      tensor: `${P}model.layers.0.self_attn.W_pack.lora_A.weight`,
      actual: 'self_attn.W_pack',
      count: 64,
    })
  })

  it('a Baichuan2-13B adapter on a Llama-13B-shaped base: size mismatch on the MLP (13696 vs 13824)', () => {
    const tensors = loraTensorsFor(base('baichuan-inc/Baichuan2-13B-Base'), { r: 8, modules: ['gate_proj', 'up_proj', 'down_proj'] })
    const report = check(tensors, 'meta-llama/Llama-2-13b-hf')
    const gate = report.checks.find((finding) => finding.code === 'shape_mismatch' && finding.tensor?.includes('gate_proj'))
    expect(gate).toMatchObject({ tensor: `${P}model.layers.0.mlp.gate_proj.lora_B.weight`, expected: [13824, 'r'], actual: [13696, 'r'] })
    expect(check(tensors, 'baichuan-inc/Baichuan2-13B-Base').compatible).toBe(true)
  })

  it("Qwen v1 names its fused attention c_attn under transformer.h; 'c_proj' exists in attn and mlp", () => {
    const tensors = loraTensorsFor(base('Qwen/Qwen-7B'), { r: 8, modules: ['attn.c_attn', 'attn.c_proj', 'mlp.c_proj', 'w1', 'w2'] })
    const report = check(tensors, 'Qwen/Qwen-7B', { r: 8, target_modules: ['c_attn', 'c_proj', 'w1', 'w2'], base_model_name_or_path: 'Qwen/Qwen-7B-Chat' })
    expect(report.compatible).toBe(true)
    expect(codes(report)).not.toContain('target_modules_mismatch')
    expect(report.declaredBase).toMatchObject({ matches: true, normalized: 'Qwen/Qwen-7B' })
    expect(report.runtimes.vllm.compatible).toBe(true)
    expect(errors(check(tensors, 'Qwen/Qwen2-7B'))).toContain('unknown_module')
  })

  it('ChatGLM keeps query_key_value under transformer.encoder.layers; Falcon/BLOOM use transformer.h', () => {
    const tensors = loraTensorsFor(base('THUDM/chatglm3-6b'), { r: 8, modules: ['query_key_value'] })
    expect(tensors[0]?.name).toBe(`${P}transformer.encoder.layers.0.self_attention.query_key_value.lora_A.weight`)
    const report = check(tensors, 'THUDM/chatglm3-6b', { r: 8, target_modules: ['query_key_value'], base_model_name_or_path: '/content/chatglm2-6b' })
    expect(report.compatible).toBe(true)
    expect(report.declaredBase).toEqual({ value: '/content/chatglm2-6b', matches: null })
    expect(codes(report)).toContain('declared_base_unknown')
    const falcon = check(tensors, 'tiiuae/falcon-7b')
    expect(falcon.checks.find((finding) => finding.code === 'unknown_module')).toMatchObject({
      expected: 'base_model.model.transformer.h.{i}.<module>',
      actual: 'base_model.model.transformer.encoder.layers.{i}.self_attention.query_key_value',
    })
  })

  it('a ChatGLM-6B v1 adapter (transformer.layers, qkv 12288) does not load on ChatGLM3', () => {
    const tensors: Spec[] = [
      { name: `${P}transformer.layers.0.attention.query_key_value.lora_A.weight`, dtype: 'F32', shape: [8, 4096] },
      { name: `${P}transformer.layers.0.attention.query_key_value.lora_B.weight`, dtype: 'F32', shape: [12288, 8] },
    ]
    expect(errors(check(tensors, 'THUDM/chatglm3-6b'))).toEqual(['unknown_module'])
  })

  it('InternLM2 packs q,k,v in wqkv (6144 with 8 KV heads)', () => {
    const tensors = loraTensorsFor(base('internlm/internlm2-7b'), { r: 16, modules: ['wqkv', 'wo', 'w1', 'w2', 'w3'] })
    const report = check(tensors, 'internlm/internlm2-7b', { r: 16, target_modules: ['wqkv', 'wo', 'w1', 'w2', 'w3'], base_model_name_or_path: 'internlm/internlm2-chat-7b' })
    expect(report.compatible).toBe(true)
    expect(report.declaredBase.matches).toBe(true)
    expect(report.runtimes.vllm.compatible).toBe(true)
    expect(report.runtimes.tgi.compatible).toBe(false)
  })

  it('Phi-2 changed names between revisions: legacy Wqkv adapters load only on the old revision', () => {
    const phi2 = base('microsoft/phi-2')
    const legacy: Spec[] = []
    for (let layer = 0; layer < 32; layer++) {
      legacy.push({ name: `${P}transformer.h.${layer}.mixer.Wqkv.lora_A.weight`, dtype: 'F32', shape: [16, 2560] })
      legacy.push({ name: `${P}transformer.h.${layer}.mixer.Wqkv.lora_B.weight`, dtype: 'F32', shape: [7680, 16] })
    }
    const old = check(legacy, 'microsoft/phi-2', { r: 16, target_modules: ['Wqkv'] })
    expect(old.compatible).toBe(true)
    expect(old.checks.find((finding) => finding.code === 'legacy_revision_naming')).toMatchObject({ severity: 'warning', actual: 'transformer.h.{i}' })
    expect(old.runtimes.vllm.compatible).toBe(false)
    expect(old.runtimes.llamacpp.compatible).toBe(true)
    const current = check(loraTensorsFor(phi2, { r: 16, modules: ['q_proj', 'v_proj', 'dense'] }), 'microsoft/phi-2')
    expect(current.compatible).toBe(true)
    expect(codes(current)).not.toContain('legacy_revision_naming')
    expect(current.runtimes.vllm.compatible).toBe(true)
  })

  it('Phi-3 fuses qkv_proj: adapters with q_proj names (trained on a llama conversion) do not load', () => {
    const llamaNames = loraTensorsFor(base('meta-llama/Llama-2-7b-hf'), { r: 8, modules: ['q_proj'], layers: [0] }).map((tensor) => ({ ...tensor, shape: tensor.name.includes('lora_A') ? [8, 3072] : [3072, 8] }))
    expect(errors(check(llamaNames, 'microsoft/Phi-3-mini-4k-instruct'))).toEqual(['unknown_module'])
    expect(check(loraTensorsFor(base('microsoft/Phi-3-mini-4k-instruct'), { r: 8 }), 'microsoft/Phi-3-mini-4k-instruct').compatible).toBe(true)
  })

  it('GPT-2 Conv1D: A is still [r, in] and B [out, r]; PEFT flips fan_in_fan_out', () => {
    const tensors = loraTensorsFor(base('openai-community/gpt2'), { r: 8, modules: ['c_attn', 'c_fc'] })
    expect(tensors.slice(0, 2).map((tensor) => tensor.shape)).toEqual([[8, 768], [2304, 8]])
    const report = check(tensors, 'openai-community/gpt2', { r: 8, target_modules: ['c_attn', 'c_fc'], fan_in_fan_out: false, base_model_name_or_path: 'gpt2' })
    expect(report.compatible).toBe(true)
    expect(report.checks.find((finding) => finding.code === 'fan_in_fan_out')).toMatchObject({ severity: 'info', expected: true, actual: false })
    expect(report.declaredBase).toMatchObject({ matches: true, normalized: 'openai-community/gpt2' })
    expect(report.runtimes.lorax.compatible).toBe(true)
    expect(report.runtimes.vllm.compatible).toBe(false)
  })

  it('Gemma-7B: head_dim 256 makes q/k/v [4096, 3072] and o_proj [3072, 4096]', () => {
    const report = check(loraTensorsFor(base('google/gemma-7b'), { r: 8, modules: ['q_proj', 'o_proj'] }), 'google/gemma-7b')
    expect(report.compatible).toBe(true)
  })
})

describe('level 1: the tensors themselves', () => {
  const llama = base('meta-llama/Llama-2-7b-hf')

  it('rejects zero-size tensors (the DeepSpeed ZeRO-3 save bug) — the reader accepts them', () => {
    const empty = loraTensorsFor(llama, { r: 8, modules: ['q_proj'], layers: [0, 1] }).map((tensor) => ({ ...tensor, shape: [0] }))
    const report = check(empty, 'meta-llama/Llama-2-7b-hf')
    expect(report.compatible).toBe(false)
    expect(report.checks.find((finding) => finding.code === 'zero_size_tensor')).toMatchObject({ severity: 'error', tensor: empty[0]?.name, actual: [0], count: 4 })
  })

  it('finds A/B rank disagreement and incomplete pairs', () => {
    const tensors: Spec[] = [
      { name: `${P}model.layers.0.self_attn.q_proj.lora_A.weight`, dtype: 'F16', shape: [8, 4096] },
      { name: `${P}model.layers.0.self_attn.q_proj.lora_B.weight`, dtype: 'F16', shape: [4096, 16] },
      { name: `${P}model.layers.0.self_attn.v_proj.lora_A.weight`, dtype: 'F16', shape: [8, 4096] },
    ]
    const report = check(tensors, 'meta-llama/Llama-2-7b-hf')
    expect(report.checks.find((finding) => finding.code === 'rank_mismatch')).toMatchObject({ tensor: `${P}model.layers.0.self_attn.q_proj.lora_B.weight`, expected: 8, actual: 16 })
    expect(codes(report)).toContain('lora_pair_incomplete')
  })

  it('compares ranks with r and rank_pattern like PEFT', () => {
    const tensors = [...loraTensorsFor(llama, { r: 16, modules: ['q_proj'], layers: [0] }), ...loraTensorsFor(llama, { r: 8, modules: ['v_proj'], layers: [0] })]
    const ok = check(tensors, 'meta-llama/Llama-2-7b-hf', { r: 8, target_modules: ['q_proj', 'v_proj'], rank_pattern: { q_proj: 16 } })
    expect(errors(ok)).toEqual([])
    const { analysis } = adapter(tensors)
    expect(analysis).toMatchObject({ ranks: [8, 16], maxRank: 16 })
    const wrong = check(tensors, 'meta-llama/Llama-2-7b-hf', { r: 8, target_modules: ['q_proj', 'v_proj'] })
    expect(wrong.checks.find((finding) => finding.code === 'config_rank_mismatch')).toMatchObject({ expected: 8, actual: 16 })
  })

  it('flags keys that are not PEFT keys', () => {
    const report = check([{ name: 'lora_unet_down_blocks_0.alpha', dtype: 'F32', shape: [] }], 'meta-llama/Llama-2-7b-hf')
    expect(errors(report)).toContain('unexpected_tensor')
  })

  it('warns when target_modules or layers_to_transform disagree with the tensors', () => {
    const tensors = loraTensorsFor(llama, { r: 8, modules: ['q_proj', 'v_proj'], layers: [0, 1] })
    const report = check(tensors, 'meta-llama/Llama-2-7b-hf', { r: 8, target_modules: ['q_proj', 'query_key_value'], layers_to_transform: [0] })
    expect(report.compatible).toBe(true)
    expect(codes(report)).toEqual(expect.arrayContaining(['target_modules_mismatch', 'declared_target_absent', 'layers_mismatch']))
  })
})

describe('level 2: structure against the base', () => {
  it('reports layers beyond the base once, with the tensor', () => {
    const report = check(loraTensorsFor(base('meta-llama/Llama-2-13b-hf'), { r: 8, modules: ['q_proj', 'v_proj'] }), 'meta-llama/Llama-2-7b-hf')
    const beyond = report.checks.filter((finding) => finding.code === 'layer_out_of_range')
    expect(beyond).toHaveLength(1)
    expect(beyond[0]).toMatchObject({ expected: 'layer < 32', actual: 39, count: 8 })
    expect(beyond[0]?.tensor).toMatch(/model\.layers\.39\.self_attn\.(q|v)_proj\.lora_A\.weight$/)
  })

  it('checks DoRA magnitude vectors against [out]', () => {
    const llama3 = base('meta-llama/Meta-Llama-3-8B')
    const dora = loraTensorsFor(llama3, { r: 8, modules: ['k_proj'], layers: [0], dora: true })
    const ok = check(dora, 'meta-llama/Meta-Llama-3-8B', { r: 8, target_modules: ['k_proj'], use_dora: true })
    expect(ok.compatible).toBe(true)
    expect(ok.runtimes.vllm.reasons).toContain('vLLM does not support DoRA (lora_magnitude_vector)')
    expect(ok.runtimes.llamacpp.compatible).toBe(false)
    const wrong = dora.map((tensor) => (tensor.name.endsWith('lora_magnitude_vector') ? { ...tensor, shape: [4096] } : tensor))
    expect(check(wrong, 'meta-llama/Meta-Llama-3-8B').checks.find((finding) => finding.code === 'dora_magnitude_mismatch')).toMatchObject({ expected: [1024], actual: [4096] })
  })

  it('skips the vocabulary of a base whose vocabulary is not verified, saying so', () => {
    const tensors = [...loraTensorsFor(base('meta-llama/Llama-2-7b-hf'), { r: 8, modules: ['q_proj'], layers: [0] }), { name: `${P}lm_head.weight`, dtype: 'F16' as const, shape: [60515, 4096] }]
    const report = check(tensors, 'TigerResearch/tigerbot-7b-base')
    expect(report.compatible).toBe(true)
    expect(codes(report)).toContain('vocab_unknown')
  })
})

describe('level 5: serving engines', () => {
  it('vLLM refuses ranks above 512 and says which --max-lora-rank a rank needs', () => {
    const llama = base('meta-llama/Llama-2-7b-hf')
    expect(check(loraTensorsFor(llama, { r: 1024, modules: ['q_proj'], layers: [0] }), llama.id).runtimes.vllm.reasons.join()).toContain('exceeds')
    expect(check(loraTensorsFor(llama, { r: 64, modules: ['q_proj'], layers: [0] }), llama.id).runtimes.vllm).toEqual({ compatible: true, reasons: [], notes: ['start vLLM with --max-lora-rank 64 (default 16)'] })
  })

  it("llama.cpp cannot convert a LoRA on Gemma's lm_head: GGUF gemma has no output tensor (gguf-py oracle)", () => {
    const gemma = base('google/gemma-7b')
    const head = [
      { name: `${P}lm_head.lora_A.weight`, dtype: 'F16' as const, shape: [8, 3072] },
      { name: `${P}lm_head.lora_B.weight`, dtype: 'F16' as const, shape: [256000, 8] },
    ]
    const report = check([...loraTensorsFor(gemma, { r: 8, modules: ['q_proj'], layers: [0] }), ...head], gemma.id)
    expect(report.compatible).toBe(true)
    expect(report.runtimes.llamacpp.compatible).toBe(false)
    expect(report.runtimes.llamacpp.reasons.join()).toContain('no output tensor')
    const gpt2 = base('openai-community/gpt2')
    const gpt2Head = [
      { name: `${P}lm_head.lora_A.weight`, dtype: 'F16' as const, shape: [8, 768] },
      { name: `${P}lm_head.lora_B.weight`, dtype: 'F16' as const, shape: [50257, 8] },
    ]
    expect(check(gpt2Head, gpt2.id).runtimes.llamacpp).toEqual({ compatible: true, reasons: [] })
  })

  it('no engine serves an adapter that does not fit, and each says why', () => {
    const report = check(loraTensorsFor(base('THUDM/chatglm3-6b'), { r: 8 }), 'tiiuae/falcon-7b')
    for (const verdict of Object.values(report.runtimes)) {
      expect(verdict.compatible).toBe(false)
      expect(verdict.reasons[0]).toContain('do not fit')
    }
  })
})

describe('compatibilityMatrix', () => {
  it('answers once per base, with twins among the fitting bases only', () => {
    const { header, analysis } = adapter(loraTensorsFor(base('meta-llama/Meta-Llama-3-8B'), { r: 16 }))
    const matrix = compatibilityMatrix(analysis, header, seededBaseModels)
    expect(matrix).toHaveLength(23)
    const fitting = matrix.filter((report) => report.compatible).map((report) => report.base)
    expect(fitting).toEqual(['meta-llama/Meta-Llama-3-8B', 'meta-llama/Llama-3.1-8B', 'mistralai/Mistral-7B-v0.1'])
    for (const report of matrix) expect(report.twins).toEqual(report.compatible ? fitting.filter((id) => id !== report.base) : [])
    const single = checkAgainstBase(analysis, header, base('meta-llama/Llama-3.1-8B'), { allBases: seededBaseModels })
    expect(single).toEqual(matrix.find((report) => report.base === 'meta-llama/Llama-3.1-8B'))
  })

  it('every report is JSON (stored in jsonb)', () => {
    const { header, analysis } = adapter(loraTensorsFor(base('Qwen/Qwen-7B'), { r: 8, dora: true }), { r: 8, target_modules: ['c_attn'], use_dora: true, base_model_name_or_path: 'Qwen/Qwen-7B' })
    expect(JSON.parse(JSON.stringify(analysis))).toEqual(analysis)
    const matrix = compatibilityMatrix(analysis, header, seededBaseModels)
    expect(JSON.parse(JSON.stringify(matrix))).toEqual(matrix)
  })
})

describe('names that collide with Object.prototype', () => {
  it('treats constructor / __proto__ as ordinary (unknown) module names', () => {
    const tensors: Spec[] = [
      { name: `${P}model.layers.0.self_attn.constructor.lora_A.weight`, dtype: 'F16', shape: [8, 4096] },
      { name: `${P}model.layers.0.self_attn.constructor.lora_B.weight`, dtype: 'F16', shape: [4096, 8] },
      { name: `${P}model.layers.0.__proto__.weight`, dtype: 'F16', shape: [4] },
    ]
    const report = check(tensors, 'meta-llama/Llama-2-7b-hf')
    expect(report.checks.find((finding) => finding.code === 'unknown_module')).toMatchObject({ actual: 'self_attn.constructor' })
    expect(report.compatible).toBe(false)
  })
})

describe('declared base against quantised variants', () => {
  it('a registered 4-bit mirror matches adapters declaring its base, and the base matches adapters declaring the mirror', async () => {
    const { baseModelFromHfConfig } = await import('../../src/compat')
    const { unslothLlama3Config } = await import('./fixtures/hf-configs')
    const mirror = baseModelFromHfConfig('unsloth/llama-3-8b-bnb-4bit', unslothLlama3Config)
    const allBases = [...seededBaseModels, mirror]
    const declaringBase = adapter(loraTensorsFor(mirror, { r: 8, modules: ['q_proj'], layers: [0] }), { r: 8, target_modules: ['q_proj'], base_model_name_or_path: 'meta-llama/Meta-Llama-3-8B' })
    expect(checkAgainstBase(declaringBase.analysis, declaringBase.header, mirror, { allBases }).declaredBase.matches).toBe(true)
    const declaringMirror = adapter(loraTensorsFor(mirror, { r: 8, modules: ['q_proj'], layers: [0] }), { r: 8, target_modules: ['q_proj'], base_model_name_or_path: 'unsloth/llama-3-8b-bnb-4bit' })
    const report = checkAgainstBase(declaringMirror.analysis, declaringMirror.header, base('meta-llama/Meta-Llama-3-8B'), { allBases })
    expect(report.declaredBase).toEqual({ value: 'unsloth/llama-3-8b-bnb-4bit', matches: true, normalized: 'unsloth/llama-3-8b-bnb-4bit' })
    expect(report.twins).toContain('unsloth/llama-3-8b-bnb-4bit')
  })
})
