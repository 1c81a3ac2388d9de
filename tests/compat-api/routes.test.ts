import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { peftFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

const seededIds = [
  'meta-llama/Llama-2-7b-hf',
  'mistralai/Mistral-7B-v0.1',
  'Qwen/Qwen-7B',
  'baichuan-inc/Baichuan2-7B-Base',
  'THUDM/chatglm3-6b',
  'internlm/internlm2-7b',
  'openai-community/gpt2',
]

/** The JSON header of a safetensors file, as an integrator would send it. */
function headerObject(bytes: Uint8Array) {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)))
}

function weightsOf(files: ReturnType<typeof peftFolder>) {
  const weights = files.find((file) => file.path === 'adapter_model.safetensors')
  if (!weights) throw new Error('no weights')
  return weights.bytes
}

const configOf = (files: ReturnType<typeof peftFolder>) =>
  JSON.parse(new TextDecoder().decode(files.find((file) => file.path === 'adapter_config.json')?.bytes))

describe('compatibility API', () => {
  let h: Harness
  // Operators' emails, filled in as the test signs them up (the harness keeps this array).
  const operators: string[] = []
  beforeAll(async () => {
    h = await createHarness({ operators })
  })
  afterAll(() => h.close())

  it('lists the seeded registry with Hugging Face ids kept exactly', async () => {
    const response = await h.call('GET', '/v1/base-models')
    expect(response.status).toBe(200)
    expect(response.json.items).toHaveLength(23)
    const ids = response.json.items.map((base: { id: string }) => base.id)
    for (const id of seededIds) expect(ids).toContain(id)
    const family = await h.call('GET', '/v1/base-models?family=baichuan')
    expect(family.json.items.map((base: { id: string }) => base.id).sort()).toEqual(['baichuan-inc/Baichuan2-13B-Base', 'baichuan-inc/Baichuan2-7B-Base'])
  })

  it('shows a base with its shape twins', async () => {
    const mistral = await h.call('GET', '/v1/base-models/mistralai/Mistral-7B-v0.1')
    expect(mistral.status).toBe(200)
    expect(mistral.json).toMatchObject({ id: 'mistralai/Mistral-7B-v0.1', modelType: 'mistral', numHiddenLayers: 32, origin: 'seeded' })
    expect(mistral.json.modules['self_attn.k_proj']).toEqual([1024, 4096])
    expect(mistral.json.twins).toContain('meta-llama/Meta-Llama-3-8B')
    expectProblem(await h.call('GET', '/v1/base-models/nobody/nothing'), 404, 'not_found')
  })

  it('registers a base from config.json, recording a 4-bit mirror as a variant', async () => {
    // An operator's registration is verified at once (anyone else's waits: tests/compat-api/registry-trust.test.ts).
    const seller = await h.user('integrator')
    operators.push(seller.email)
    const config = {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 4096,
      intermediate_size: 14336,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      vocab_size: 128256,
      tie_word_embeddings: false,
      quantization_config: { quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4' },
    }
    const body = { id: 'unsloth/llama-3-8b-bnb-4bit', config }
    expectProblem(await h.call('POST', '/v1/base-models', { body }), 401, 'unauthorized')
    const created = await h.call('POST', '/v1/base-models', { auth: seller.token, body })
    expect(created.status).toBe(201)
    expect(created.json).toMatchObject({ id: 'unsloth/llama-3-8b-bnb-4bit', origin: 'registered', status: 'verified', modelType: 'llama', variantOf: 'meta-llama/Meta-Llama-3-8B' })
    expect(created.json.quantization).toEqual(expect.any(String))
    expect(created.json.modules['self_attn.k_proj']).toEqual([1024, 4096])

    const fetched = await h.call('GET', '/v1/base-models/unsloth/llama-3-8b-bnb-4bit')
    expect(fetched.json.twins).toContain('meta-llama/Meta-Llama-3-8B')
    expectProblem(await h.call('POST', '/v1/base-models', { auth: seller.token, body }), 409, 'base_model_exists')
    expectProblem(
      await h.call('POST', '/v1/base-models', { auth: seller.token, body: { id: 'meta-llama/Llama-2-7b-hf', config } }),
      409,
      'base_model_exists',
    )
    expectProblem(
      await h.call('POST', '/v1/base-models', { auth: seller.token, body: { id: 'acme/odd', config: { model_type: 'llama', hidden_size: 'big' } } }),
      422,
      'invalid_base_config',
    )
  })

  it('inspects a whole file, or only its header with X-File-Size', async () => {
    const bytes = weightsOf(peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }))
    const post = (body: Uint8Array, headers: Record<string, string> = {}) =>
      h.app.request('/v1/compat/inspect', { method: 'POST', body: body as Uint8Array<ArrayBuffer>, headers: { 'Content-Type': 'application/octet-stream', ...headers } })

    const whole = await post(bytes)
    expect(whole.status).toBe(200)
    const inspected = await whole.json()
    expect(inspected.fileSize).toBe(bytes.length)
    expect(inspected.tensors).toHaveLength(16)
    expect(inspected.tensors[0]).toEqual({ name: expect.stringMatching(/^base_model\.model\.model\.layers\.\d+\./), dtype: 'F16', shape: expect.any(Array) })

    const headerLength = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
    const prefix = await post(bytes.subarray(0, headerLength), { 'X-File-Size': String(bytes.length) })
    expect(prefix.status).toBe(200)
    expect((await prefix.json()).headerBytes).toBe(inspected.headerBytes)

    const truncated = await post(bytes.subarray(0, headerLength))
    expect(truncated.status).toBe(422)
    expect((await truncated.json()).code).toBe('invalid_safetensors')

    const pickle = await post(new Uint8Array([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e, 0, 0, 0, 0]))
    expect((await pickle.json()).code).toBe('pickle_rejected')
    const zip = await post(new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0]))
    expect((await zip.json()).code).toBe('unsupported_format')

    const json = await h.call('POST', '/v1/compat/inspect', { body: { not: 'a file' } })
    expectProblem(json, 415, 'unsupported_media_type')
  })

  it('checks an adapter header against a base by id or by config, naming the failing tensor', async () => {
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', modules: ['self_attn.q_proj', 'self_attn.v_proj'] })
    const adapter = { config: configOf(files), header: headerObject(weightsOf(files)) }

    const fits = await h.call('POST', '/v1/compat/check', { body: { base: 'meta-llama/Llama-2-7b-hf', adapter } })
    expect(fits.status).toBe(200)
    expect(fits.json).toMatchObject({ compatible: true, base: 'meta-llama/Llama-2-7b-hf', declaredBase: { value: 'meta-llama/Llama-2-7b-hf', matches: true } })
    expect(fits.json.twins).toContain('Qwen/Qwen1.5-7B')
    expect(Object.keys(fits.json.runtimes).sort()).toEqual(['llamacpp', 'lorax', 'tgi', 'vllm'])

    const misfit = await h.call('POST', '/v1/compat/check', { body: { base: 'mistralai/Mistral-7B-v0.1', adapter } })
    expect(misfit.json.compatible).toBe(false)
    const finding = misfit.json.checks.find((check: { severity: string }) => check.severity === 'error')
    expect(finding).toMatchObject({ code: expect.any(String), tensor: expect.stringContaining('v_proj') })
    expect(finding.expected).toBeDefined()
    expect(finding.actual).toBeDefined()

    const byConfig = await h.call('POST', '/v1/compat/check', {
      body: {
        base: { config: { model_type: 'llama', hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32, vocab_size: 32000 } },
        adapter,
      },
    })
    expect(byConfig.status).toBe(200)
    expect(byConfig.json.compatible).toBe(true)

    // Rank 64 loads on vLLM only with a raised --max-lora-rank: the verdict says how.
    const wide = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 64 })
    const highRank = await h.call('POST', '/v1/compat/check', {
      body: { base: 'meta-llama/Llama-2-7b-hf', adapter: { config: configOf(wide), header: headerObject(weightsOf(wide)) } },
    })
    expect(highRank.json.runtimes.vllm).toEqual({ compatible: true, reasons: [], notes: [expect.stringContaining('--max-lora-rank 64')] })

    expectProblem(await h.call('POST', '/v1/compat/check', { body: { base: 'nobody/nothing', adapter } }), 422, 'unknown_base_model')
    const bad = await h.call('POST', '/v1/compat/check', {
      body: { base: 'meta-llama/Llama-2-7b-hf', adapter: { header: { 'x.lora_A.weight': { dtype: 'F16', shape: [4, 4096], data_offsets: [0, 5] } } } },
    })
    expectProblem(bad, 422, 'invalid_safetensors')
    expectProblem(await h.call('POST', '/v1/compat/check', { body: { base: 'meta-llama/Llama-2-7b-hf' } }), 422, 'validation_failed')
  })
})
