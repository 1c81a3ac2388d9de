import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { baseModelFromHfConfig, buildSafetensors, loraTensorsFor } from '../../src/compat'
import { createListing, publishFolder, sha256 } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { describeOracle, oraclePython } from '../helpers/python'

/**
 * The end-to-end proof with the buyer's real tools: Python's huggingface_hub `snapshot_download`, the `hf` CLI
 * and PEFT's `PeftModel.from_pretrained` on a tiny Llama built from a config, with only
 * HF_ENDPOINT and HF_TOKEN set. Runs where the Python environment exists (`.oracle/venv`, from
 * the local wheel index: huggingface_hub, transformers, peft, torch CPU): skipped without it locally, a failure in CI.
 */
const python = oraclePython()!
const run = promisify(execFile)

const TINY = { model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: 256 }

const SCRIPT = `
import hashlib, json, os, subprocess, sys
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError
repo, config, stranger = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
path = snapshot_download(repo)
files = {name: hashlib.sha256(open(os.path.join(path, name), 'rb').read()).hexdigest() for name in sorted(os.listdir(path))}
# The CLI, as the README documents it.
cli = os.path.join(os.environ['HF_HOME'], 'cli')
subprocess.run([os.path.join(os.path.dirname(sys.executable), 'hf'), 'download', repo, '--revision', '1.0.0', '--local-dir', cli], check=True, capture_output=True)
cli_files = {name: hashlib.sha256(open(os.path.join(cli, name), 'rb').read()).hexdigest() for name in sorted(os.listdir(cli)) if not name.startswith('.')}
from transformers import LlamaConfig, LlamaForCausalLM
from peft import PeftModel
model = PeftModel.from_pretrained(LlamaForCausalLM(LlamaConfig(**config)), repo)
lora = sorted(name for name, _ in model.named_parameters() if 'lora_A' in name)
try:
    hf_hub_download(repo, 'adapter_model.safetensors', token=stranger, cache_dir=os.path.join(os.environ['HF_HOME'], 'stranger'))
    refused = None
except GatedRepoError as error:
    refused = type(error).__name__ + ': ' + str(error)
print(json.dumps({'files': files, 'cliFiles': cli_files, 'lora': lora, 'refused': refused}))
`

describeOracle('Python huggingface_hub and PEFT against /hf', () => {
  let h: Harness
  let home: string
  let repo: string
  let key: string
  let strangerKey: string
  const config = { peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: 'tiny-org/tiny-llama', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'] }
  const weights = buildSafetensors(loraTensorsFor(baseModelFromHfConfig('tiny-org/tiny-llama', TINY), { r: 4, modules: ['q_proj', 'v_proj'], dtype: 'F32' }), { format: 'pt' })
  const files = [
    { path: 'adapter_config.json', bytes: new TextEncoder().encode(JSON.stringify(config)) },
    { path: 'adapter_model.safetensors', bytes: weights },
    { path: 'README.md', bytes: new TextEncoder().encode('# A tiny LoRA\n') },
  ]

  beforeAll(async () => {
    h = await createHarness({ listen: true })
    home = await mkdtemp(join(tmpdir(), 'refinery-hf-home-'))
    const seller = await h.teamOwner('py-e2e')
    const registered = await h.call('POST', '/v1/base-models', { auth: seller.token, body: { id: 'tiny-org/tiny-llama', config: TINY } })
    expect(registered.status).toBe(201)
    await createListing(h, seller, 'tiny-lora')
    repo = `${seller.team}/tiny-lora`
    const published = await publishFolder(h, seller, 'tiny-lora', '1.0.0', files, { baseModel: 'tiny-org/tiny-llama', publish: true })
    expect(published.version.status).toBe('published')
    const offer = await h.call('POST', `/v1/adapters/${repo}/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    const buyer = await h.user('py-e2e-buyer')
    await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id } })
    key = (await h.call('POST', '/v1/api-keys', { auth: buyer.token, body: { name: 'py', scopes: ['read'] } })).json.key
    const stranger = await h.user('py-e2e-stranger')
    strangerKey = (await h.call('POST', '/v1/api-keys', { auth: stranger.token, body: { name: 'py', scopes: ['read'] } })).json.key
  })
  afterAll(async () => {
    await h?.close()
    if (home) await rm(home, { recursive: true, force: true })
  })

  it('snapshot_download and `hf download` pull the purchased adapter and PeftModel.from_pretrained loads it; a non-buyer gets GatedRepoError', { timeout: 300_000 }, async () => {
    const { stdout } = await run(python, ['-c', SCRIPT, repo, JSON.stringify(TINY), strangerKey], {
      env: { PATH: process.env.PATH ?? '', HOME: home, HF_HOME: home, HF_ENDPOINT: `${h.url}/hf`, HF_TOKEN: key, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_XET: '1' },
      maxBuffer: 10 * 1024 * 1024,
    })
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { files: Record<string, string>; cliFiles: Record<string, string>; lora: string[]; refused: string | null }
    const expected = Object.fromEntries(files.map((file) => [file.path, sha256(file.bytes)]))
    expect(result.files).toEqual(expected)
    expect(result.cliFiles).toEqual(expected)
    expect(result.lora).toHaveLength(4) // q_proj and v_proj in each of 2 layers
    expect(result.refused).toContain('GatedRepoError')
    expect(result.refused).toContain(`${h.url}/${repo}`)
  })
})
