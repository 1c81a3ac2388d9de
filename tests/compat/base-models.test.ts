import { describe, expect, it } from 'vitest'
import { baseModelFromHfConfig, CompatInputError, seededBaseModels } from '../../src/compat'
import { hfConfigs, phi2LegacyConfig, unslothLlama3Config } from './fixtures/hf-configs'

const seededIds = [
  'meta-llama/Llama-2-7b-hf', 'meta-llama/Llama-2-13b-hf', 'meta-llama/Llama-2-70b-hf', 'meta-llama/Meta-Llama-3-8B', 'meta-llama/Llama-3.1-8B',
  'mistralai/Mistral-7B-v0.1', 'Qwen/Qwen-7B', 'Qwen/Qwen1.5-7B', 'Qwen/Qwen2-7B', 'Qwen/Qwen2.5-7B', 'baichuan-inc/Baichuan2-7B-Base',
  'baichuan-inc/Baichuan2-13B-Base', 'TigerResearch/tigerbot-7b-base', 'IDEA-CCNL/Ziya-LLaMA-13B-v1', '01-ai/Yi-6B', 'THUDM/chatglm3-6b',
  'internlm/internlm2-7b', 'google/gemma-7b', 'microsoft/phi-2', 'microsoft/Phi-3-mini-4k-instruct', 'tiiuae/falcon-7b', 'bigscience/bloom-7b1',
  'openai-community/gpt2',
]

describe('seeded base models', () => {
  it('holds the 23 bases with their Hugging Face ids exactly', () => {
    expect(seededBaseModels.map((base) => base.id)).toEqual(seededIds)
  })

  it('reads vocabulary modules, ties and the legacy Phi-2 naming from the seed', () => {
    const gemma = seededBaseModels.find((base) => base.id === 'google/gemma-7b')
    expect(gemma?.lmHead).toEqual({ module: 'lm_head', shape: [256000, 3072], tied: true })
    const tiger = seededBaseModels.find((base) => base.id === 'TigerResearch/tigerbot-7b-base')
    expect(tiger?.vocabSize).toBeNull()
    expect(tiger?.embed).toEqual({ module: 'model.embed_tokens', shape: [null, 4096] })
    const phi2 = seededBaseModels.find((base) => base.id === 'microsoft/phi-2')
    expect(phi2?.legacyRevision).toMatchObject({ modelType: 'phi-msft', layerPrefix: 'transformer.h.{i}', embed: { module: 'transformer.embd.wte' }, lmHead: { module: 'lm_head.linear' } })
    const gpt2 = seededBaseModels.find((base) => base.id === 'openai-community/gpt2')
    expect(gpt2?.conv1d).toBe(true)
  })

  it('is JSON-serialisable (stored in jsonb by the registry)', () => {
    expect(JSON.parse(JSON.stringify(seededBaseModels))).toEqual(seededBaseModels)
  })
})

describe('baseModelFromHfConfig', () => {
  it.each(seededIds)('reproduces the seeded table of %s from its config.json', (id) => {
    const seeded = seededBaseModels.find((base) => base.id === id)
    const config = hfConfigs[id]
    expect(seeded).toBeDefined()
    expect(config).toBeDefined()
    const derived = baseModelFromHfConfig(id, config)
    expect(derived.modules).toEqual(seeded?.modules)
    expect(derived.layerPrefix).toBe(seeded?.layerPrefix)
    expect(derived.numHiddenLayers).toBe(seeded?.numHiddenLayers)
    expect(derived.vocabSize).toBe(seeded?.vocabSize)
    expect(derived.embed).toEqual(seeded?.embed)
    expect({ module: derived.lmHead.module, shape: derived.lmHead.shape }).toEqual({ module: seeded?.lmHead.module, shape: seeded?.lmHead.shape })
    expect(derived.lmHead.tied).toBe(seeded?.lmHead.tied)
    expect(derived.modelType).toBe(seeded?.modelType)
    expect(derived.conv1d).toBe(seeded?.conv1d)
    expect(derived.quantization).toBeUndefined()
  })

  it("derives Phi-2's pre-2024 revision (phi-msft) as its seeded legacy naming", () => {
    const legacy = baseModelFromHfConfig('microsoft/phi-2', phi2LegacyConfig)
    const seeded = seededBaseModels.find((base) => base.id === 'microsoft/phi-2')?.legacyRevision
    expect(legacy.modules).toEqual(seeded?.modules)
    expect(legacy.layerPrefix).toBe(seeded?.layerPrefix)
    expect(legacy.embed.module).toBe(seeded?.embed.module)
    expect(legacy.lmHead.module).toBe(seeded?.lmHead.module)
  })

  it('records a bitsandbytes 4-bit mirror as a variant of its base', () => {
    const mirror = baseModelFromHfConfig('unsloth/llama-3-8b-bnb-4bit', unslothLlama3Config)
    expect(mirror.quantization).toBe('bnb-4bit')
    expect(mirror.variantOf).toBe('meta-llama/Meta-Llama-3-8B')
    expect(mirror.modules).toEqual(seededBaseModels.find((base) => base.id === 'meta-llama/Meta-Llama-3-8B')?.modules)
  })

  it('takes the quantisation from the id when the config has none, and GPTQ from its config', () => {
    const fromId = baseModelFromHfConfig('TheBloke/Llama-2-7B-GPTQ', hfConfigs['meta-llama/Llama-2-7b-hf'])
    expect(fromId).toMatchObject({ quantization: 'gptq', variantOf: 'meta-llama/Llama-2-7b-hf' })
    const gptq = baseModelFromHfConfig('someone/qwen2-7b-int4', { ...hfConfigs['Qwen/Qwen2-7B'], quantization_config: { quant_method: 'gptq', bits: 4 } })
    expect(gptq.quantization).toBe('gptq-4bit')
    expect(gptq.variantOf).toBe('Qwen/Qwen2-7B')
  })

  it('derives ChatGLM-6B v1 (transformer.layers, no ffn_hidden_size)', () => {
    const v1 = baseModelFromHfConfig('THUDM/chatglm-6b', { model_type: 'chatglm', hidden_size: 4096, inner_hidden_size: 16384, num_attention_heads: 32, num_layers: 28, vocab_size: 130528 })
    expect(v1.layerPrefix).toBe('transformer.layers.{i}')
    expect(v1.modules['attention.query_key_value']).toEqual([12288, 4096])
  })

  it.each([
    ['not an object', 'llama'],
    ['no model_type', { hidden_size: 4096 }],
    ['an unsupported model_type', { model_type: 'mamba', hidden_size: 768 }],
    ['a model_type named like a prototype key', { model_type: 'constructor', hidden_size: 768 }],
    ['a missing dimension', { model_type: 'llama', hidden_size: 4096, num_attention_heads: 32 }],
    ['a non-integer dimension', { model_type: 'llama', hidden_size: 4096.5, intermediate_size: 11008, num_attention_heads: 32, num_hidden_layers: 32 }],
  ])('rejects %s with invalid_base_config', (_case, config) => {
    expect(() => baseModelFromHfConfig('x/y', config)).toThrow(CompatInputError)
    try {
      baseModelFromHfConfig('x/y', config)
    } catch (error) {
      expect((error as CompatInputError).code).toBe('invalid_base_config')
    }
  })
})
