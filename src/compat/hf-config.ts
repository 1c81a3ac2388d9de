import type { BaseModel, ModuleShape } from './base-models'
import { seededBaseModels } from './base-models'
import { CompatInputError } from './errors'
import { normalizeBaseId } from './normalize'

/**
 * Derives a base model's module table from its Hugging Face `config.json`, following each
 * family's modelling code (transformers, or the trust_remote_code files for Qwen v1, Baichuan,
 * ChatGLM, InternLM2, Phi-2's old revision, Falcon's RefinedWeb).
 *
 * Quantised copies: when the config has a `quantization_config` (bitsandbytes, GPTQ, AWQ…) or
 * the id carries a quantisation suffix (`unsloth/llama-3-8b-bnb-4bit`), `quantization` is set and
 * `variantOf` is the known base that `normalizeBaseId` resolves the id to (when it is another id).
 */
export function baseModelFromHfConfig(id: string, config: unknown, known: BaseModel[] = seededBaseModels): BaseModel {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw fail('config.json must be a JSON object.')
  const c = config as Record<string, unknown>
  const modelType = typeof c.model_type === 'string' ? c.model_type : undefined
  if (!modelType) throw fail('config.json has no model_type.', 'model_type')
  const derive = Object.hasOwn(FAMILIES, modelType) ? FAMILIES[modelType] : undefined
  if (!derive) {
    throw fail(`model_type '${modelType}' is not supported; supported: ${Object.keys(FAMILIES).join(', ')}.`, 'model_type')
  }
  const base = derive(id, new Fields(c))
  checkDimensions(base)
  const quantization = quantizationOf(c, id)
  if (quantization) {
    base.quantization = quantization
    const resolved = normalizeBaseId(id, known).normalized
    if (resolved && resolved.toLowerCase() !== id.toLowerCase()) base.variantOf = resolved
  }
  return base
}

/**
 * Every size a base carries is a positive integer a double holds exactly: a config whose heads do
 * not divide its hidden size, or whose sizes multiply past 2^53, describes no loadable model.
 */
function checkDimensions(base: BaseModel): void {
  const sizes: [string, number | null][] = [
    ['hidden_size', base.hiddenSize],
    ['intermediate_size', base.intermediateSize],
    ['num_hidden_layers', base.numHiddenLayers],
    ['num_attention_heads', base.numAttentionHeads],
    ['num_key_value_heads', base.numKeyValueHeads],
    ['head_dim', base.headDim],
    ['vocab_size', base.vocabSize],
  ]
  for (const [field, value] of sizes) {
    if (value !== null && !isDimension(value)) {
      throw fail(`config.json gives ${field} = ${value}; it must be a positive whole number (is hidden_size divisible by the number of heads?).`, field)
    }
  }
  for (const [module, shape] of Object.entries(base.modules)) {
    if (!shape.every(isDimension)) throw fail(`config.json makes ${module} [${shape.join(', ')}]; every dimension must be a positive whole number below 2^53.`)
  }
}

const isDimension = (value: number) => Number.isSafeInteger(value) && value > 0

function fail(message: string, field?: string): CompatInputError {
  return new CompatInputError('invalid_base_config', message, field ? { field } : undefined)
}

/** Reads config fields under any of their historical names. */
class Fields {
  constructor(private readonly config: Record<string, unknown>) {}

  has(...names: string[]): boolean {
    return names.some((name) => this.config[name] !== undefined && this.config[name] !== null)
  }

  int(...names: string[]): number {
    const value = this.optionalInt(...names)
    if (value === undefined) throw fail(`config.json needs ${names.join(' or ')} (a positive integer).`, names[0])
    return value
  }

  optionalInt(...names: string[]): number | undefined {
    for (const name of names) {
      const value = this.config[name]
      if (value === undefined || value === null) continue
      if (typeof value !== 'number' || !isDimension(value)) throw fail(`${name} must be a positive integer.`, name)
      return value
    }
    return undefined
  }

  bool(name: string): boolean | undefined {
    const value = this.config[name]
    return typeof value === 'boolean' ? value : undefined
  }

  architecture(fallback: string): string {
    const list = this.config.architectures
    return Array.isArray(list) && typeof list[0] === 'string' ? list[0] : fallback
  }
}

type Derive = (id: string, f: Fields) => BaseModel

/**
 * What a family's modelling code says about a config. The defaults are what most families do:
 * `family` is the model type, `kvHeads` the head count (no grouped-query attention), `headDim`
 * hidden / heads, the layer count is `num_hidden_layers` and the vocabulary `vocab_size` (each
 * under the names listed, the first present wins), the output head is `lm_head`, and the
 * embeddings are untied unless `tie_word_embeddings` or `tiedByDefault` says otherwise.
 */
type Family = {
  modelType: string
  family?: string
  /** The architecture when config.json names none. */
  architecture: string
  hidden: number
  intermediate: number
  heads: number
  kvHeads?: number
  headDim?: number
  layerFields?: string[]
  vocabFields?: string[]
  layerPrefix: string
  modules: Record<string, ModuleShape>
  embed: string
  lmHead?: string
  tiedByDefault?: boolean
  linearBias: BaseModel['linearBias']
  conv1d?: boolean
}

function assemble(id: string, f: Fields, c: Family): BaseModel {
  const layers = f.int(...(c.layerFields ?? ['num_hidden_layers']))
  const vocab = f.optionalInt(...(c.vocabFields ?? ['vocab_size'])) ?? null
  const tied = f.bool('tie_word_embeddings') ?? c.tiedByDefault ?? false
  return {
    id,
    family: c.family ?? c.modelType,
    modelType: c.modelType,
    architecture: f.architecture(c.architecture),
    hiddenSize: c.hidden,
    intermediateSize: c.intermediate,
    numHiddenLayers: layers,
    numAttentionHeads: c.heads,
    numKeyValueHeads: c.kvHeads ?? c.heads,
    headDim: c.headDim ?? c.hidden / c.heads,
    vocabSize: vocab,
    layerPrefix: c.layerPrefix,
    modules: c.modules,
    embed: { module: c.embed, shape: [vocab, c.hidden] },
    lmHead: { module: c.lmHead ?? 'lm_head', shape: [vocab, c.hidden], tied },
    tieWordEmbeddings: tied,
    linearBias: c.linearBias,
    conv1d: c.conv1d ?? false,
  }
}

/**
 * The sizes of a decoder under transformers' names, with grouped-query attention; `headDimField`
 * is read by the families whose config may set the head size apart from hidden / heads.
 */
function decoderSizes(f: Fields, headDimField?: string) {
  const hidden = f.int('hidden_size')
  const heads = f.int('num_attention_heads')
  const kvHeads = f.optionalInt('num_key_value_heads') ?? heads
  const headDim = (headDimField === undefined ? undefined : f.optionalInt(headDimField)) ?? hidden / heads
  const intermediate = f.int('intermediate_size')
  return { hidden, heads, kvHeads, headDim, intermediate }
}

/** LlamaForCausalLM and its shape-alikes (Mistral, Qwen2, Gemma, Yi, TigerBot v3). */
function llamaLike(modelType: string, tiedByDefault: boolean, qkvBias: boolean): Derive {
  return (id, f) => {
    const sizes = decoderSizes(f, 'head_dim')
    const { hidden, intermediate } = sizes
    const q = sizes.heads * sizes.headDim
    const kv = sizes.kvHeads * sizes.headDim
    const bias = qkvBias || f.bool('attention_bias') === true
    return assemble(id, f, {
      ...sizes,
      modelType,
      architecture: `${capital(modelType)}ForCausalLM`,
      layerPrefix: 'model.layers.{i}',
      modules: {
        'self_attn.q_proj': [q, hidden],
        'self_attn.k_proj': [kv, hidden],
        'self_attn.v_proj': [kv, hidden],
        'self_attn.o_proj': [hidden, q],
        'mlp.gate_proj': [intermediate, hidden],
        'mlp.up_proj': [intermediate, hidden],
        'mlp.down_proj': [hidden, intermediate],
      },
      embed: 'model.embed_tokens',
      tiedByDefault,
      linearBias: bias ? { 'self_attn.q_proj': true, 'self_attn.k_proj': true, 'self_attn.v_proj': true } : false,
    })
  }
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

/** Qwen v1 (QWenLMHeadModel, remote code): c_attn packs q,k,v; w1/w2 are the halves of the gated MLP. */
const qwen: Derive = (id, f) => {
  const hidden = f.int('hidden_size')
  const heads = f.int('num_attention_heads')
  const headDim = f.optionalInt('kv_channels') ?? hidden / heads
  const projection = heads * headDim
  const ff = f.int('intermediate_size') / 2
  return assemble(id, f, {
    modelType: 'qwen',
    architecture: 'QWenLMHeadModel',
    hidden,
    intermediate: ff * 2,
    heads,
    headDim,
    layerPrefix: 'transformer.h.{i}',
    modules: {
      'attn.c_attn': [3 * projection, hidden],
      'attn.c_proj': [hidden, projection],
      'mlp.w1': [ff, hidden],
      'mlp.w2': [ff, hidden],
      'mlp.c_proj': [hidden, ff],
    },
    embed: 'transformer.wte',
    linearBias: { 'attn.c_attn': true },
  })
}

/** Baichuan / Baichuan2 (remote code): W_pack packs q,k,v. */
const baichuan: Derive = (id, f) => {
  const hidden = f.int('hidden_size')
  const heads = f.int('num_attention_heads')
  const intermediate = f.int('intermediate_size')
  return assemble(id, f, {
    modelType: 'baichuan',
    architecture: 'BaichuanForCausalLM',
    hidden,
    intermediate,
    heads,
    layerPrefix: 'model.layers.{i}',
    modules: {
      'self_attn.W_pack': [3 * hidden, hidden],
      'self_attn.o_proj': [hidden, hidden],
      'mlp.gate_proj': [intermediate, hidden],
      'mlp.up_proj': [intermediate, hidden],
      'mlp.down_proj': [hidden, intermediate],
    },
    embed: 'model.embed_tokens',
    linearBias: false,
  })
}

/**
 * ChatGLM2/3 (remote code): `transformer.encoder.layers`, multi-query q,k,v packed, dense_h_to_4h
 * packs the two SwiGLU halves. ChatGLM-6B v1 (no `ffn_hidden_size`) keeps `transformer.layers`.
 */
const chatglm: Derive = (id, f) => {
  const hidden = f.int('hidden_size')
  const heads = f.int('num_attention_heads')
  const layerFields = ['num_layers', 'num_hidden_layers']
  if (!f.has('ffn_hidden_size')) {
    const inner = f.optionalInt('inner_hidden_size') ?? 4 * hidden
    return assemble(id, f, {
      modelType: 'chatglm',
      architecture: 'ChatGLMForConditionalGeneration',
      hidden,
      intermediate: inner,
      heads,
      layerFields,
      layerPrefix: 'transformer.layers.{i}',
      modules: {
        'attention.query_key_value': [3 * hidden, hidden],
        'attention.dense': [hidden, hidden],
        'mlp.dense_h_to_4h': [inner, hidden],
        'mlp.dense_4h_to_h': [hidden, inner],
      },
      embed: 'transformer.word_embeddings',
      linearBias: true,
    })
  }
  const headDim = f.optionalInt('kv_channels') ?? hidden / heads
  const multiQuery = f.bool('multi_query_attention') === true
  const groups = multiQuery ? f.int('multi_query_group_num') : heads
  const projection = heads * headDim
  const ffn = f.int('ffn_hidden_size')
  return assemble(id, f, {
    modelType: 'chatglm',
    architecture: 'ChatGLMModel',
    hidden,
    intermediate: ffn,
    heads,
    kvHeads: groups,
    headDim,
    layerFields,
    vocabFields: ['padded_vocab_size', 'vocab_size'],
    layerPrefix: 'transformer.encoder.layers.{i}',
    modules: {
      'self_attention.query_key_value': [projection + 2 * groups * headDim, hidden],
      'self_attention.dense': [hidden, projection],
      'mlp.dense_h_to_4h': [2 * ffn, hidden],
      'mlp.dense_4h_to_h': [hidden, ffn],
    },
    embed: 'transformer.embedding.word_embeddings',
    lmHead: 'transformer.output_layer',
    linearBias: f.bool('add_qkv_bias') === false ? false : { 'self_attention.query_key_value': true },
  })
}

/** InternLM2 (remote code): wqkv packs q,k,v (interleaved per KV group); the output head is `output`. */
const internlm2: Derive = (id, f) => {
  const sizes = decoderSizes(f)
  const { hidden, heads, kvHeads, headDim, intermediate } = sizes
  return assemble(id, f, {
    ...sizes,
    modelType: 'internlm2',
    architecture: 'InternLM2ForCausalLM',
    layerPrefix: 'model.layers.{i}',
    modules: {
      'attention.wqkv': [(heads + 2 * kvHeads) * headDim, hidden],
      'attention.wo': [hidden, heads * headDim],
      'feed_forward.w1': [intermediate, hidden],
      'feed_forward.w3': [intermediate, hidden],
      'feed_forward.w2': [hidden, intermediate],
    },
    embed: 'model.tok_embeddings',
    lmHead: 'output',
    linearBias: f.bool('bias') === true,
  })
}

/** Phi-2 as transformers ships it (PhiForCausalLM, model_type 'phi'). */
const phi: Derive = (id, f) => {
  const sizes = decoderSizes(f)
  const { hidden, heads, kvHeads, headDim, intermediate } = sizes
  return assemble(id, f, {
    ...sizes,
    modelType: 'phi',
    architecture: 'PhiForCausalLM',
    layerPrefix: 'model.layers.{i}',
    modules: {
      'self_attn.q_proj': [heads * headDim, hidden],
      'self_attn.k_proj': [kvHeads * headDim, hidden],
      'self_attn.v_proj': [kvHeads * headDim, hidden],
      'self_attn.dense': [hidden, heads * headDim],
      'mlp.fc1': [intermediate, hidden],
      'mlp.fc2': [hidden, intermediate],
    },
    embed: 'model.embed_tokens',
    linearBias: true,
  })
}

/** Phi-2's pre-2024 remote-code revision (model_type 'phi-msft'): mixer.Wqkv under transformer.h. */
const phiMsft: Derive = (id, f) => {
  const hidden = f.int('n_embd', 'hidden_size')
  const heads = f.int('n_head', 'num_attention_heads')
  const kvHeads = f.optionalInt('n_head_kv') ?? heads
  const headDim = hidden / heads
  const inner = f.optionalInt('n_inner') ?? 4 * hidden
  return assemble(id, f, {
    modelType: 'phi-msft',
    family: 'phi',
    architecture: 'PhiForCausalLM',
    hidden,
    intermediate: inner,
    heads,
    kvHeads,
    layerFields: ['n_layer', 'num_hidden_layers'],
    layerPrefix: 'transformer.h.{i}',
    modules: {
      'mixer.Wqkv': [(heads + 2 * kvHeads) * headDim, hidden],
      'mixer.out_proj': [hidden, hidden],
      'mlp.fc1': [inner, hidden],
      'mlp.fc2': [hidden, inner],
    },
    embed: 'transformer.embd.wte',
    lmHead: 'lm_head.linear',
    linearBias: true,
  })
}

/** Phi-3: fused qkv_proj and gate_up_proj. */
const phi3: Derive = (id, f) => {
  const sizes = decoderSizes(f)
  const { hidden, heads, kvHeads, headDim, intermediate } = sizes
  return assemble(id, f, {
    ...sizes,
    modelType: 'phi3',
    architecture: 'Phi3ForCausalLM',
    layerPrefix: 'model.layers.{i}',
    modules: {
      'self_attn.qkv_proj': [(heads + 2 * kvHeads) * headDim, hidden],
      'self_attn.o_proj': [hidden, heads * headDim],
      'mlp.gate_up_proj': [2 * intermediate, hidden],
      'mlp.down_proj': [hidden, intermediate],
    },
    embed: 'model.embed_tokens',
    linearBias: false,
  })
}

/**
 * Falcon (and its RefinedWeb remote-code configs): query_key_value is 3·hidden, (heads+2)·head_dim
 * with multi_query, or (heads + 2·num_kv_heads)·head_dim with the new decoder architecture.
 */
const falcon: Derive = (id, f) => {
  const hidden = f.int('hidden_size', 'n_embed')
  const heads = f.int('num_attention_heads', 'n_head')
  const headDim = hidden / heads
  const newArchitecture = f.bool('new_decoder_architecture') === true
  const multiQuery = f.bool('multi_query') === true
  const kvHeads = newArchitecture ? f.int('num_kv_heads', 'n_head_kv') : multiQuery ? 1 : heads
  const ffn = f.optionalInt('ffn_hidden_size') ?? 4 * hidden
  return assemble(id, f, {
    modelType: 'falcon',
    architecture: 'FalconForCausalLM',
    hidden,
    intermediate: ffn,
    heads,
    kvHeads,
    layerFields: ['num_hidden_layers', 'n_layer'],
    layerPrefix: 'transformer.h.{i}',
    modules: {
      'self_attention.query_key_value': [newArchitecture || multiQuery ? (heads + 2 * kvHeads) * headDim : 3 * hidden, hidden],
      'self_attention.dense': [hidden, hidden],
      'mlp.dense_h_to_4h': [ffn, hidden],
      'mlp.dense_4h_to_h': [hidden, ffn],
    },
    embed: 'transformer.word_embeddings',
    tiedByDefault: true,
    linearBias: f.bool('bias') === true,
  })
}

/** BLOOM: n_embed/n_layer/n_head names accepted; MLP is 4·hidden. */
const bloom: Derive = (id, f) => {
  const hidden = f.int('hidden_size', 'n_embed')
  const heads = f.int('n_head', 'num_attention_heads')
  return assemble(id, f, {
    modelType: 'bloom',
    architecture: 'BloomForCausalLM',
    hidden,
    intermediate: 4 * hidden,
    heads,
    layerFields: ['n_layer', 'num_hidden_layers'],
    layerPrefix: 'transformer.h.{i}',
    modules: {
      'self_attention.query_key_value': [3 * hidden, hidden],
      'self_attention.dense': [hidden, hidden],
      'mlp.dense_h_to_4h': [4 * hidden, hidden],
      'mlp.dense_4h_to_h': [hidden, 4 * hidden],
    },
    embed: 'transformer.word_embeddings',
    tiedByDefault: true,
    linearBias: true,
  })
}

/** GPT-2: Conv1D layers (weights stored [in, out]); shapes here are [out, in] like every base. */
const gpt2: Derive = (id, f) => {
  const hidden = f.int('n_embd', 'hidden_size')
  const heads = f.int('n_head', 'num_attention_heads')
  const inner = f.optionalInt('n_inner') ?? 4 * hidden
  return assemble(id, f, {
    modelType: 'gpt2',
    architecture: 'GPT2LMHeadModel',
    hidden,
    intermediate: inner,
    heads,
    layerFields: ['n_layer', 'num_hidden_layers'],
    layerPrefix: 'transformer.h.{i}',
    modules: {
      'attn.c_attn': [3 * hidden, hidden],
      'attn.c_proj': [hidden, hidden],
      'mlp.c_fc': [inner, hidden],
      'mlp.c_proj': [hidden, inner],
    },
    embed: 'transformer.wte',
    tiedByDefault: true,
    linearBias: true,
    conv1d: true,
  })
}

const FAMILIES: Record<string, Derive> = {
  llama: llamaLike('llama', false, false),
  mistral: llamaLike('mistral', false, false),
  qwen2: llamaLike('qwen2', false, true),
  gemma: llamaLike('gemma', true, false),
  qwen,
  baichuan,
  chatglm,
  internlm2,
  phi,
  'phi-msft': phiMsft,
  phi3,
  falcon,
  RefinedWeb: falcon,
  RefinedWebModel: falcon,
  bloom,
  gpt2,
}

export const supportedModelTypes = Object.keys(FAMILIES)

const QUANT_IN_ID = /(?:bnb[-_]?[48]bit|[-_][48]bit|gptq|awq|[-_]int[48]|[-_]nf4)/i

/** 'bnb-4bit', 'bnb-8bit', 'gptq-4bit', 'awq-4bit', or the id's suffix when only the id says so. */
function quantizationOf(config: Record<string, unknown>, id: string): string | undefined {
  const q = config.quantization_config
  if (typeof q === 'object' && q !== null && !Array.isArray(q)) {
    const fields = q as Record<string, unknown>
    const method = typeof fields.quant_method === 'string' ? fields.quant_method.toLowerCase() : undefined
    if (method === 'bitsandbytes' || fields.load_in_4bit === true || fields.load_in_8bit === true) {
      return fields.load_in_8bit === true ? 'bnb-8bit' : 'bnb-4bit'
    }
    const bits = typeof fields.bits === 'number' ? `-${fields.bits}bit` : ''
    return `${method ?? 'quantized'}${bits}`
  }
  const match = QUANT_IN_ID.exec(id)
  return match ? match[0].replace(/^[-_]/, '').toLowerCase() : undefined
}
