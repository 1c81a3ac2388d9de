import { describe, expect, it } from 'vitest'
import { baseModelFromHfConfig, normalizeBaseId, seededBaseModels } from '../../src/compat'
import { unslothLlama3Config } from './fixtures/hf-configs'

describe('normalizeBaseId', () => {
  it.each([
    ['meta-llama/Llama-2-7b-hf', 'meta-llama/Llama-2-7b-hf'],
    ['META-LLAMA/llama-2-7b-hf', 'meta-llama/Llama-2-7b-hf'],
    ['Llama-2-7b-hf', 'meta-llama/Llama-2-7b-hf'],
    ['NousResearch/Llama-2-7b-hf', 'meta-llama/Llama-2-7b-hf'],
    ['meta-llama/Llama-2-7b-chat-hf', 'meta-llama/Llama-2-7b-hf'],
    ['/root/models/meta-llama/Llama-2-7b-hf/', 'meta-llama/Llama-2-7b-hf'],
    ['C:\\models\\Llama-2-13b-hf', 'meta-llama/Llama-2-13b-hf'],
    ['unsloth/llama-3-8b-bnb-4bit', 'meta-llama/Meta-Llama-3-8B'],
    ['unsloth/llama-3-8b-Instruct-bnb-4bit', 'meta-llama/Meta-Llama-3-8B'],
    ['meta-llama/Meta-Llama-3.1-8B', 'meta-llama/Llama-3.1-8B'],
    ['TheBloke/Llama-2-7B-GPTQ', 'meta-llama/Llama-2-7b-hf'],
    ['mistralai/Mistral-7B-Instruct-v0.1', 'mistralai/Mistral-7B-v0.1'],
    ['Qwen/Qwen-7B-Chat', 'Qwen/Qwen-7B'],
    ['Qwen/Qwen2.5-7B-Instruct', 'Qwen/Qwen2.5-7B'],
    ['baichuan-inc/Baichuan2-13B-Chat', 'baichuan-inc/Baichuan2-13B-Base'],
    ['THUDM/chatglm3-6b-base', 'THUDM/chatglm3-6b'],
    ['internlm/internlm2-chat-7b', 'internlm/internlm2-7b'],
    ['google/gemma-7b-it', 'google/gemma-7b'],
    ['01-ai/Yi-6B-Chat', '01-ai/Yi-6B'],
    ['tiiuae/falcon-7b-instruct', 'tiiuae/falcon-7b'],
    ['gpt2', 'openai-community/gpt2'],
    ['unsloth/Phi-3-mini-4k-instruct-bnb-4bit', 'microsoft/Phi-3-mini-4k-instruct'],
  ])('%s → %s', (declared, expected) => {
    expect(normalizeBaseId(declared).normalized).toBe(expected)
  })

  it.each([
    ['/content/chatglm2-6b', 'local path'],
    ['unsloth/mistral-7b-v0.3-bnb-4bit', 'quantised mirror'],
    ['./output/checkpoint-500', 'local path'],
    ['bigscience/bloomz-7b1', 'not a registered base model'],
    ['   ', 'empty'],
  ])('leaves %s unresolved, saying why', (declared, reason) => {
    const result = normalizeBaseId(declared)
    expect(result.normalized).toBeUndefined()
    expect(result.reason).toContain(reason)
  })

  it('explains how a declaration was resolved', () => {
    expect(normalizeBaseId('unsloth/llama-3-8b-bnb-4bit')).toEqual({ value: 'unsloth/llama-3-8b-bnb-4bit', normalized: 'meta-llama/Meta-Llama-3-8B', reason: 'quantised mirror' })
    expect(normalizeBaseId('meta-llama/Llama-2-7b-hf')).toEqual({ value: 'meta-llama/Llama-2-7b-hf', normalized: 'meta-llama/Llama-2-7b-hf' })
  })

  it('resolves registered bases and variants by id, names to their base', () => {
    const mirror = baseModelFromHfConfig('unsloth/llama-3-8b-bnb-4bit', unslothLlama3Config)
    const known = [...seededBaseModels, mirror]
    expect(normalizeBaseId('unsloth/llama-3-8b-bnb-4bit', known).normalized).toBe('unsloth/llama-3-8b-bnb-4bit')
    expect(normalizeBaseId('someone/llama-3-8b-bnb-4bit', known).normalized).toBe('meta-llama/Meta-Llama-3-8B')
  })
})
