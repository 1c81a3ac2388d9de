import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { buildSafetensorsHeader, type TensorSpec } from '../../src/compat'
import { createListing, publishFolder, sha256, type AdapterFile } from '../helpers/adapters'
import { runCli } from '../helpers/cli'
import { createHarness, type Harness } from '../helpers/harness'
import { describeOracle, runPython } from '../helpers/python'

/**
 * The whole path a buyer takes, ending in the real library: an adapter published through
 * Refinery (local store) on a base registered from its config.json, bought, downloaded by
 * `refinery pull`, loaded with PeftModel.from_pretrained into that base (random weights, CPU),
 * and a forward pass that differs from the base's.
 */
const TINY_LLAMA = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 128,
  tie_word_embeddings: false,
}
const BASE_ID = 'oracle-test/tiny-llama'
const R = 4

/** A LoRA on q_proj and v_proj of both layers, with deterministic non-zero F32 weights. */
function tinyAdapter(): AdapterFile[] {
  const headDim = TINY_LLAMA.hidden_size / TINY_LLAMA.num_attention_heads
  const outs: Record<string, number> = { 'self_attn.q_proj': TINY_LLAMA.hidden_size, 'self_attn.v_proj': TINY_LLAMA.num_key_value_heads * headDim }
  const tensors: TensorSpec[] = []
  for (const layer of [0, 1]) {
    for (const [module, out] of Object.entries(outs)) {
      const prefix = `base_model.model.model.layers.${layer}.${module}`
      tensors.push({ name: `${prefix}.lora_A.weight`, dtype: 'F32', shape: [R, TINY_LLAMA.hidden_size] })
      tensors.push({ name: `${prefix}.lora_B.weight`, dtype: 'F32', shape: [out, R] })
    }
  }
  const { bytes: header, fileSize } = buildSafetensorsHeader(tensors, { format: 'pt' })
  const file = new Uint8Array(fileSize)
  file.set(header)
  const data = new Float32Array(file.buffer, header.length, (fileSize - header.length) / 4)
  let state = 7
  for (let i = 0; i < data.length; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31
    data[i] = (state / 2 ** 31 - 0.5) * 0.5
  }
  const config = { peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: BASE_ID, r: R, lora_alpha: 2 * R, lora_dropout: 0, target_modules: ['q_proj', 'v_proj'], bias: 'none', fan_in_fan_out: false, use_dora: false, use_rslora: false }
  return [
    { path: 'adapter_config.json', bytes: new TextEncoder().encode(JSON.stringify(config, null, 2)) },
    { path: 'adapter_model.safetensors', bytes: file },
    { path: 'README.md', bytes: new TextEncoder().encode('# A tiny LoRA, loaded by PEFT in the oracle tests\n') },
  ]
}

describeOracle('a published adapter loads with PeftModel.from_pretrained', () => {
  let h: Harness
  let dir: string
  const files = tinyAdapter()

  beforeAll(async () => {
    h = await createHarness()
    dir = await mkdtemp(join(tmpdir(), 'refinery-oracle-load-'))
  })
  afterAll(async () => {
    await h?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('publishes, sells, pulls with the CLI, loads in PEFT, and changes the forward pass', async () => {
    const seller = await h.teamOwner('oracle')
    const registered = await h.call('POST', '/v1/base-models', { auth: seller.token, body: { id: BASE_ID, config: TINY_LLAMA, team: seller.team } })
    expect(registered.status).toBe(201)
    await createListing(h, seller, 'tiny-lora')
    const { version } = await publishFolder(h, seller, 'tiny-lora', '1.0.0', files, { baseModel: BASE_ID, publish: true })
    expect(version.status).toBe('published')
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/tiny-lora/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    const buyer = await h.user('oracle-buyer')
    expect((await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id } })).status).toBe(201)

    const target = join(dir, 'pulled')
    const pulled = await runCli(['pull', `${seller.team}/tiny-lora@1.0.0`, '--dir', target], {
      fetch: h.network,
      env: { REFINERY_URL: 'http://localhost:8787', REFINERY_API_KEY: buyer.token },
    })
    expect(pulled.code, pulled.stderr).toBe(0)
    for (const file of files) expect(sha256(await readFile(join(target, file.path)))).toBe(sha256(file.bytes))

    const result = await runPython<{ loraModules: string[]; maxDifference: number; disabledDifference: number; finite: boolean }>('tests/oracle/real_load.py', {
      config: TINY_LLAMA,
      adapterDir: target,
      seed: 0,
    })
    expect(result.loraModules).toEqual([
      'base_model.model.model.layers.0.self_attn.q_proj',
      'base_model.model.model.layers.0.self_attn.v_proj',
      'base_model.model.model.layers.1.self_attn.q_proj',
      'base_model.model.model.layers.1.self_attn.v_proj',
    ])
    expect(result.finite).toBe(true)
    expect(result.maxDifference).toBeGreaterThan(1e-4)
    expect(result.disabledDifference).toBe(0)
  })
})
