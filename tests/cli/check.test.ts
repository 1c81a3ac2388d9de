import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { peftFolder } from '../helpers/adapters'
import { runCli, writeFolder } from '../helpers/cli'

const run = (...argv: string[]) => runCli(argv)

describe('refinery check (offline)', () => {
  let dir: string
  const folder = () => join(dir, 'adapter')

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'refinery-cli-'))
    await writeFolder(folder(), peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 32 }))
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('says yes for the right base, with its twins and engine verdicts (exit 0)', async () => {
    const result = await run('check', folder(), '--base', 'meta-llama/Llama-2-7b-hf')
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('✔ compatible with meta-llama/Llama-2-7b-hf')
    expect(result.stdout).toContain('also fits: Qwen/Qwen1.5-7B')
    expect(result.stdout).toMatch(/vllm\s+yes\s+start vLLM with --max-lora-rank 32/)
  })

  it('says no for a wrong base, naming the tensor and the shapes (exit 1), and as JSON', async () => {
    const result = await run('check', folder(), '--base', 'mistralai/Mistral-7B-v0.1')
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/error\s+shape_mismatch\s+base_model\.model\.model\.layers\.0\.self_attn\.v_proj\.lora_B\.weight/)
    const json = await run('check', folder(), '--base', 'mistralai/Mistral-7B-v0.1', '--json')
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toMatchObject({ compatible: false, base: 'mistralai/Mistral-7B-v0.1', runtimes: { vllm: { compatible: false } } })
  })

  it('takes the base as a Hugging Face config.json, or a quantised mirror id', async () => {
    const config = join(dir, 'config.json')
    await writeFile(
      config,
      JSON.stringify({ _name_or_path: 'my-org/llama-2-7b-finetune-base', architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 32, vocab_size: 32000 }),
    )
    expect((await run('check', folder(), '--base', config)).code).toBe(0)
    expect((await run('check', folder(), '--base', 'TheBloke/Llama-2-7B-GPTQ')).code).toBe(0)
  })

  it('exits 2 with one clear line for what the user must fix', async () => {
    expect(await run('check', join(dir, 'missing'), '--base', 'meta-llama/Llama-2-7b-hf')).toMatchObject({ code: 2, stderr: expect.stringContaining('is not a folder') })
    expect(await run('check', folder(), '--base', 'nobody/unknown-7b')).toMatchObject({ code: 2, stderr: expect.stringContaining('not a known base model') })
    expect((await run('check', folder())).code).toBe(2)

    const pickled = join(dir, 'pickled')
    await mkdir(pickled)
    await writeFile(join(pickled, 'adapter_model.bin'), new Uint8Array([0x80, 0x04, 0x95]))
    expect(await run('check', pickled, '--base', 'meta-llama/Llama-2-7b-hf')).toMatchObject({ code: 2, stderr: expect.stringContaining('pickle checkpoint') })

    const renamed = join(dir, 'renamed')
    await mkdir(renamed)
    await writeFile(join(renamed, 'adapter_model.safetensors'), new Uint8Array([0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x7d, 0x94, 0x2e]))
    expect(await run('check', renamed, '--base', 'meta-llama/Llama-2-7b-hf')).toMatchObject({ code: 2, stderr: expect.stringContaining('(pickle_rejected)') })
  })

  it('runs as the `refinery` command', () => {
    const result = spawnSync(process.execPath, ['bin/refinery.mjs', 'check', folder(), '--base', 'mistralai/Mistral-7B-v0.1'], { encoding: 'utf8' })
    expect(result.status).toBe(1)
    expect(result.stdout).toContain('✘ incompatible with mistralai/Mistral-7B-v0.1')
  })
})
