import seedData from './data/base-models.json'

/** [out, in], like `nn.Linear.weight` (GPT-2's Conv1D stores [in, out]; the table does not). */
export type ModuleShape = [number, number]

/** A vocabulary-carrying module: [vocab, hidden]; vocab is null when not verified. */
export type VocabModule = { module: string; shape: [number | null, number] }

/** The naming of an older revision published under the same Hugging Face id (Phi-2's remote code). */
export type LegacyRevision = {
  modelType: string
  layerPrefix: string
  modules: Record<string, ModuleShape>
  embed: VocabModule
  lmHead: VocabModule
}

export type BaseModel = {
  /** Hugging Face id, exactly as published. */
  id: string
  family: string
  modelType: string
  architecture: string
  hiddenSize: number
  intermediateSize: number
  numHiddenLayers: number
  numAttentionHeads: number
  numKeyValueHeads: number
  headDim: number
  /** null when not verified (TigerBot-7B): vocabulary checks are skipped, with a note. */
  vocabSize: number | null
  /** Path of one decoder layer, `{i}` standing for its index: 'model.layers.{i}'. */
  layerPrefix: string
  /** Linear modules inside a layer, by their path below the layer: 'self_attn.q_proj'. */
  modules: Record<string, ModuleShape>
  embed: VocabModule
  lmHead: VocabModule & { tied: boolean }
  tieWordEmbeddings: boolean | null
  linearBias: boolean | Record<string, boolean>
  /** GPT-2 style Conv1D layers: weights stored [in, out], PEFT needs fan_in_fan_out. */
  conv1d: boolean
  legacyRevision?: LegacyRevision
  /** The base this one is a (quantised) copy of. */
  variantOf?: string
  /** e.g. 'bnb-4bit', 'gptq-4bit', 'awq-4bit'. */
  quantization?: string
  confidence?: string
  notes?: string
  sources?: string[]
}

type SeedRow = {
  id: string
  family: string
  model_type: string
  architecture: string
  source?: string[]
  hidden_size: number
  intermediate_size: number
  num_hidden_layers: number
  num_attention_heads: number
  num_key_value_heads: number
  head_dim: number
  vocab_size: number | null
  layer_prefix: string
  modules: Record<string, number[]>
  embed: Record<string, (number | null)[]>
  lm_head: Record<string, (number | null)[]>
  tie_word_embeddings: boolean | null
  linear_bias: boolean | Record<string, boolean>
  confidence?: string
  notes?: string
  legacy_revision?: {
    model_type: string
    layer_prefix: string
    modules: Record<string, number[]>
    embed: string
    lm_head: string
  }
}

function moduleShape(shape: number[] | undefined, where: string): ModuleShape {
  const [out, inFeatures] = shape ?? []
  if (typeof out !== 'number' || typeof inFeatures !== 'number') throw new Error(`base-models.json: bad shape at ${where}`)
  return [out, inFeatures]
}

/** The JSON writes `{"lm_head (tied)": [v, h]}`: the module is the first word. */
function vocabModule(entry: Record<string, (number | null)[]>, where: string): VocabModule {
  const [key, shape] = Object.entries(entry)[0] ?? []
  const hidden = shape?.[1]
  if (key === undefined || typeof hidden !== 'number') throw new Error(`base-models.json: bad ${where}`)
  return { module: key.split(' ')[0] ?? key, shape: [shape?.[0] ?? null, hidden] }
}

function fromSeed(row: SeedRow): BaseModel {
  const modules: Record<string, ModuleShape> = {}
  for (const [name, shape] of Object.entries(row.modules)) modules[name] = moduleShape(shape, `${row.id} ${name}`)
  const embed = vocabModule(row.embed, `${row.id} embed`)
  const lmHeadKey = Object.keys(row.lm_head)[0] ?? ''
  const lmHead = { ...vocabModule(row.lm_head, `${row.id} lm_head`), tied: row.tie_word_embeddings === true || lmHeadKey.includes('tied') }
  const base: BaseModel = {
    id: row.id,
    family: row.family,
    modelType: row.model_type,
    architecture: row.architecture,
    hiddenSize: row.hidden_size,
    intermediateSize: row.intermediate_size,
    numHiddenLayers: row.num_hidden_layers,
    numAttentionHeads: row.num_attention_heads,
    numKeyValueHeads: row.num_key_value_heads,
    headDim: row.head_dim,
    vocabSize: row.vocab_size,
    layerPrefix: row.layer_prefix,
    modules,
    embed,
    lmHead,
    tieWordEmbeddings: row.tie_word_embeddings,
    linearBias: row.linear_bias,
    conv1d: row.model_type === 'gpt2',
  }
  if (row.confidence) base.confidence = row.confidence
  if (row.notes) base.notes = row.notes
  if (row.source) base.sources = row.source
  const legacy = row.legacy_revision
  if (legacy) {
    const legacyModules: Record<string, ModuleShape> = {}
    for (const [name, shape] of Object.entries(legacy.modules)) legacyModules[name] = moduleShape(shape, `${row.id} legacy ${name}`)
    base.legacyRevision = {
      modelType: legacy.model_type,
      layerPrefix: legacy.layer_prefix,
      modules: legacyModules,
      embed: { module: legacy.embed, shape: embed.shape },
      lmHead: { module: legacy.lm_head, shape: lmHead.shape },
    }
  }
  return base
}

/** The 23 seeded bases (src/compat/data/base-models.json, a copy of shared/data/base-models.json). */
export const seededBaseModels: BaseModel[] = (seedData as unknown as SeedRow[]).map(fromSeed)
