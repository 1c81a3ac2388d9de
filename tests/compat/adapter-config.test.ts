import { describe, expect, it } from 'vitest'
import { CompatInputError, parseAdapterConfig, patternValue, targetsModule } from '../../src/compat'

describe('parseAdapterConfig', () => {
  it('reads a current PEFT config', () => {
    const config = parseAdapterConfig({
      alpha_pattern: {},
      auto_mapping: null,
      base_model_name_or_path: 'mistralai/Mistral-7B-v0.1',
      bias: 'none',
      fan_in_fan_out: false,
      inference_mode: true,
      init_lora_weights: true,
      layer_replication: null,
      layers_pattern: null,
      layers_to_transform: null,
      loftq_config: {},
      lora_alpha: 16,
      lora_dropout: 0.1,
      megatron_config: null,
      megatron_core: 'megatron.core',
      modules_to_save: null,
      peft_type: 'LORA',
      r: 20,
      rank_pattern: {},
      revision: null,
      target_modules: ['gate_proj', 'q_proj', 'v_proj', 'k_proj', 'down_proj', 'o_proj', 'up_proj'],
      task_type: 'CAUSAL_LM',
      use_dora: false,
      use_rslora: false,
    })
    expect(config).toMatchObject({ peftType: 'LORA', r: 20, loraAlpha: 16, modulesToSave: [], useDora: false, bias: 'none', baseModelNameOrPath: 'mistralai/Mistral-7B-v0.1', taskType: 'CAUSAL_LM' })
    expect(config.targetModules).toHaveLength(7)
  })

  it('tolerates old and new keys and fills PEFT defaults', () => {
    const old = parseAdapterConfig('{"peft_type":"LORA","r":8,"lora_alpha":32,"enable_lora":null,"merge_weights":false,"target_modules":["q","v"],"fan_in_fan_out":null}')
    expect(old).toMatchObject({ r: 8, loraAlpha: 32, fanInFanOut: false, useRslora: false })
    const fresh = parseAdapterConfig({ peft_type: 'LORA', peft_version: '0.17.0', target_modules: null, target_parameters: ['experts.gate_up_proj'], lora_bias: false, layers_to_transform: 3 })
    expect(fresh).toMatchObject({ r: 8, loraAlpha: 8, targetModules: [], targetParameters: ['experts.gate_up_proj'], layersToTransform: [3], peftVersion: '0.17.0' })
  })

  it('drops an empty base_model_name_or_path', () => {
    expect(parseAdapterConfig({ r: 4, base_model_name_or_path: '' }).baseModelNameOrPath).toBeUndefined()
  })

  it.each([
    ['not JSON', '{r: 8'],
    ['not an object', [1, 2]],
    ['a non-LoRA method', { peft_type: 'PREFIX_TUNING', r: 8 }],
    ['a zero rank', { r: 0 }],
    ['a fractional rank', { r: 7.5 }],
    ['a string alpha', { r: 8, lora_alpha: '16' }],
    ['target_modules of numbers', { r: 8, target_modules: [1] }],
    ['an invalid target regex', { r: 8, target_modules: '.*(q_proj' }],
    ['a rank_pattern with a non-integer', { r: 8, rank_pattern: { q_proj: 'x' } }],
    ['an unknown bias mode', { r: 8, bias: 'some' }],
    ['a negative layer', { r: 8, layers_to_transform: [-1] }],
    ['use_dora as a string', { r: 8, use_dora: 'yes' }],
  ])('rejects %s with invalid_adapter_config', (_case, input) => {
    let error: unknown
    try {
      parseAdapterConfig(input)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(CompatInputError)
    expect((error as CompatInputError).code).toBe('invalid_adapter_config')
  })
})

describe('matching like PEFT', () => {
  const key = 'model.layers.3.self_attn.q_proj'

  it('matches a list by exact name or dotted suffix', () => {
    expect(targetsModule(parseAdapterConfig({ target_modules: ['q_proj'] }), key, 'lm_head')).toBe(true)
    expect(targetsModule(parseAdapterConfig({ target_modules: ['self_attn.q_proj'] }), key, 'lm_head')).toBe(true)
    expect(targetsModule(parseAdapterConfig({ target_modules: ['proj'] }), key, 'lm_head')).toBe(false)
    expect(targetsModule(parseAdapterConfig({ target_modules: [key] }), key, 'lm_head')).toBe(true)
  })

  it('full-matches a string as a Python regex', () => {
    const config = parseAdapterConfig({ target_modules: '.*\\.(q_proj|v_proj)' })
    expect(targetsModule(config, key, 'lm_head')).toBe(true)
    expect(targetsModule(config, 'model.layers.3.self_attn.q_proj_extra', 'lm_head')).toBe(false)
    const named = parseAdapterConfig({ target_modules: '.*layers\\.(?P<n>[0-3])\\.self_attn\\.q_proj' })
    expect(targetsModule(named, key, 'lm_head')).toBe(true)
  })

  it("matches 'all-linear' everywhere but the output head", () => {
    const config = parseAdapterConfig({ target_modules: 'all-linear' })
    expect(targetsModule(config, key, 'lm_head')).toBe(true)
    expect(targetsModule(config, 'lm_head', 'lm_head')).toBe(false)
  })

  it('finds rank_pattern entries with get_pattern_key semantics (first match wins)', () => {
    const patterns = parseAdapterConfig({ r: 8, rank_pattern: { 'layers.3.self_attn.q_proj': 32, q_proj: 16 } }).rankPattern
    expect(patternValue(patterns, key)).toBe(32)
    expect(patternValue(patterns, 'model.layers.4.self_attn.q_proj')).toBe(16)
    expect(patternValue(patterns, 'model.layers.4.self_attn.xq_proj')).toBeUndefined()
    expect(patternValue(patterns, 'model.layers.4.self_attn.v_proj')).toBeUndefined()
  })
})
