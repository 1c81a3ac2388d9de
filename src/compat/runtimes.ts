import type { AdapterAnalysis } from './analyze'
import type { BaseModel } from './base-models'

export type RuntimeVerdict = { compatible: boolean; reasons: string[]; notes?: string[] }
export type Runtimes = { vllm: RuntimeVerdict; lorax: RuntimeVerdict; tgi: RuntimeVerdict; llamacpp: RuntimeVerdict }

const LLAMA_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']

/**
 * vLLM: architectures implementing `SupportsLoRA` and the HF module names they accept
 * (`packed_modules_mapping` + supported modules in vllm/model_executor/models/*.py: llama,
 * mistral, qwen (c_attn, w1/w2 → gate_up_proj), qwen2, baichuan (W_pack), chatglm, internlm2
 * (wqkv, w1/w3), gemma, phi, phi3). falcon.py, bloom.py and gpt2.py implement no LoRA.
 * Embeddings and the head: `embedding_modules` of the llama-style models.
 */
const VLLM_MODULES: Record<string, string[]> = {
  llama: [...LLAMA_MODULES, 'embed_tokens', 'lm_head'],
  mistral: [...LLAMA_MODULES, 'embed_tokens', 'lm_head'],
  qwen2: [...LLAMA_MODULES, 'embed_tokens', 'lm_head'],
  gemma: LLAMA_MODULES,
  qwen: ['c_attn', 'c_proj', 'w1', 'w2'],
  baichuan: ['W_pack', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  chatglm: ['query_key_value', 'dense', 'dense_h_to_4h', 'dense_4h_to_h'],
  internlm2: ['wqkv', 'wo', 'w1', 'w2', 'w3'],
  phi: ['q_proj', 'k_proj', 'v_proj', 'dense', 'fc1', 'fc2'],
  phi3: ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'],
}

/** vLLM `LoRAConfig.possible_max_ranks`; an adapter loads when r ≤ --max-lora-rank (peft_helper). */
export const VLLM_MAX_LORA_RANKS = [8, 16, 32, 64, 128, 256, 320, 512]

/**
 * LoRAX: models with dynamic adapter loading and their `ADAPTER_LAYERS`
 * (server/lorax_server/models/flash_{llama,mistral,qwen,qwen2,gemma,phi,phi3,gpt2}.py).
 * Other architectures are "best effort" without adapters.
 */
const LORAX_MODULES: Record<string, string[]> = {
  llama: [...LLAMA_MODULES, 'lm_head'],
  mistral: [...LLAMA_MODULES, 'lm_head'],
  qwen2: [...LLAMA_MODULES, 'lm_head'],
  gemma: [...LLAMA_MODULES, 'lm_head'],
  qwen: ['c_attn', 'c_proj', 'w1', 'w2', 'lm_head'],
  phi: ['q_proj', 'k_proj', 'v_proj', 'dense', 'fc1', 'fc2', 'lm_head'],
  phi3: ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj', 'lm_head'],
  gpt2: ['c_attn', 'c_proj', 'c_fc', 'lm_head'],
}

/**
 * TGI multi-LoRA (text-generation-inference ≥ 2.0.6): flash models that build adapter layers
 * (flash_llama / flash_mistral / flash_qwen2 / flash_gemma modeling), llama-style projections.
 */
const TGI_MODULES: Record<string, string[]> = {
  llama: [...LLAMA_MODULES, 'lm_head'],
  mistral: [...LLAMA_MODULES, 'lm_head'],
  qwen2: [...LLAMA_MODULES, 'lm_head'],
  gemma: [...LLAMA_MODULES, 'lm_head'],
}

/**
 * llama.cpp: convert_lora_to_gguf.py accepts only `lora_A`/`lora_B` tensors ("Unexpected name …:
 * Not a lora_A or lora_B tensor"; embeddings and DoRA magnitudes stop it) and needs the base's
 * architecture in convert_hf_to_gguf.py, which covers every seeded family (Phi-2's old
 * `phi-msft` names included through its tensor map).
 */
const LLAMACPP_ARCHITECTURES = new Set(['llama', 'mistral', 'qwen', 'qwen2', 'baichuan', 'chatglm', 'internlm2', 'gemma', 'phi', 'phi-msft', 'phi3', 'falcon', 'bloom', 'gpt2'])

/**
 * Architectures whose GGUF tensor list has no `output` tensor (gguf-py's MODEL_TENSORS: the head
 * is the tied token embedding), so convert_lora_to_gguf.py cannot map a LoRA on lm_head.
 */
const LLAMACPP_NO_OUTPUT_TENSOR = new Set(['gemma'])

type Context = { fits: boolean; legacy: boolean }

export function runtimeVerdicts(analysis: AdapterAnalysis, base: BaseModel, context: Context): Runtimes {
  const notFit = context.fits ? [] : [`the tensors do not fit ${base.id}`]
  const modelType = context.legacy ? (base.legacyRevision?.modelType ?? base.modelType) : base.modelType
  const adapted = analysis.targetModules
  const hasCopies = analysis.modulesToSave.length > 0

  const moduleReasons = (engine: string, table: Record<string, string[]>): string[] => {
    const supported = Object.hasOwn(table, modelType) ? table[modelType] : undefined
    if (!supported) return [`${engine} has no LoRA support for ${base.architecture} (model_type ${modelType})`]
    const unsupported = adapted.filter((module) => !supported.includes(module))
    return unsupported.length > 0 ? [`${engine} does not apply LoRA to ${unsupported.join(', ')} on ${modelType}`] : []
  }

  const vllm = [...notFit, ...moduleReasons('vLLM', VLLM_MODULES)]
  if (hasCopies) vllm.push(`vLLM only supports modules_to_save being None; the file holds full copies of ${analysis.modulesToSave.join(', ')}`)
  if (analysis.dora) vllm.push('vLLM does not support DoRA (lora_magnitude_vector)')
  const largest = VLLM_MAX_LORA_RANKS.at(-1) ?? 512
  if (analysis.maxRank > largest) vllm.push(`rank ${analysis.maxRank} exceeds vLLM's largest --max-lora-rank (${largest})`)
  const vllmVerdict: RuntimeVerdict = { compatible: vllm.length === 0, reasons: vllm }
  const needed = VLLM_MAX_LORA_RANKS.find((rank) => rank >= analysis.maxRank)
  if (vllm.length === 0 && needed !== undefined && needed > 16) vllmVerdict.notes = [`start vLLM with --max-lora-rank ${needed} (default 16)`]

  const lorax = [...notFit, ...moduleReasons('LoRAX', LORAX_MODULES)]
  if (hasCopies) lorax.push(`LoRAX loads LoRA weights only; the full copies of ${analysis.modulesToSave.join(', ')} would be dropped`)
  if (analysis.dora) lorax.push('LoRAX does not support DoRA (lora_magnitude_vector)')
  if (analysis.hasEmbeddingLora) lorax.push('LoRAX does not load embedding LoRA (lora_embedding_A/B)')

  const tgi = [...notFit, ...moduleReasons('TGI', TGI_MODULES)]
  if (hasCopies) tgi.push(`TGI loads LoRA weights only; the full copies of ${analysis.modulesToSave.join(', ')} would be dropped`)
  if (analysis.dora) tgi.push('TGI does not support DoRA (lora_magnitude_vector)')
  if (analysis.hasEmbeddingLora) tgi.push('TGI does not load embedding LoRA (lora_embedding_A/B)')

  const llamacpp = [...notFit]
  if (!LLAMACPP_ARCHITECTURES.has(modelType)) llamacpp.push(`convert_hf_to_gguf.py cannot convert ${base.architecture}`)
  if (analysis.dora) llamacpp.push('convert_lora_to_gguf.py accepts only lora_A/lora_B tensors; the file has DoRA magnitude vectors')
  if (analysis.hasEmbeddingLora) llamacpp.push('convert_lora_to_gguf.py accepts only lora_A/lora_B tensors; the file has lora_embedding_A/B')
  if (hasCopies) llamacpp.push(`convert_lora_to_gguf.py accepts only lora_A/lora_B tensors; the file has full copies of ${analysis.modulesToSave.join(', ')}`)
  const headAdapted = analysis.groups.some((group) => group.container === null && group.kind === 'lora' && group.module === base.lmHead.module)
  if (headAdapted && LLAMACPP_NO_OUTPUT_TENSOR.has(modelType)) llamacpp.push(`the GGUF ${modelType} architecture has no output tensor (the head is the tied embedding); convert_lora_to_gguf.py cannot map a LoRA on ${base.lmHead.module}`)
  if (analysis.hasBias) llamacpp.push('convert_lora_to_gguf.py accepts only lora_A/lora_B tensors; the file has biases')

  return {
    vllm: vllmVerdict,
    lorax: { compatible: lorax.length === 0, reasons: lorax },
    tgi: { compatible: tgi.length === 0, reasons: tgi },
    llamacpp: { compatible: llamacpp.length === 0, reasons: llamacpp },
  }
}
