/**
 * Bytes read from storage to validate a stored 200 MB adapter: the weights' header comes from one
 * ranged read (header + 64 KiB at most); the file is then streamed exactly once for the
 * fingerprint (seller protection), never buffered.
 *
 *   npx tsx bench/inspect.ts [--rank 40]
 *
 * Publishes a Llama-2-7B LoRA (all 7 linear modules × 32 layers, F16) through the API on the
 * embedded local store, with every store read counted, and validates it.
 */
import { parseArgs } from 'node:util'
import { HEADER_PROBE_BYTES } from '../src/publishing/validate'
import { createLocalStore } from '../src/node/local-store'
import { createListing, peftFolder, publishFolder } from '../tests/helpers/adapters'
import { countingStore } from '../tests/helpers/counting-store'
import { createHarness } from '../tests/helpers/harness'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const { values } = parseArgs({ options: { rank: { type: 'string', default: '40' } } })
const modules = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']

const root = await mkdtemp(join(tmpdir(), 'refinery-bench-inspect-'))
const counted = countingStore(createLocalStore({ root, publicUrl: 'http://localhost:8787', secret: new Uint8Array(32).fill(1) }))
const h = await createHarness({ store: counted.store })
try {
  const seller = await h.teamOwner('bench')
  await createListing(h, seller, 'big-lora')
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: Number(values.rank), modules, layers: [...Array(32).keys()] })
  const weights = files.find((file) => file.path === 'adapter_model.safetensors')!
  const headerBytes = 8 + Number(new DataView(weights.bytes.buffer, weights.bytes.byteOffset, 8).getBigUint64(0, true))
  const started = performance.now()
  const { version } = await publishFolder(h, seller, 'big-lora', '1.0.0', files)
  const seconds = (performance.now() - started) / 1000
  if (version.status !== 'ready') throw new Error(`validation ended ${version.status}: ${JSON.stringify(version.findings)}`)
  const read = counted.readOf('/adapter_model.safetensors')
  console.log(`weights file:                 ${weights.bytes.length.toLocaleString('en')} bytes (${(weights.bytes.length / 1048576).toFixed(0)} MiB), rank ${version.lora.rank}`)
  console.log(`header (8 + N):               ${headerBytes.toLocaleString('en')} bytes`)
  console.log(`read from the weights file:   ${read.toLocaleString('en')} bytes (bound: the 64 KiB header probe + one stream of the file for the fingerprint = ${(HEADER_PROBE_BYTES + weights.bytes.length).toLocaleString('en')})`)
  console.log(`share of the file read:       ${((read / weights.bytes.length) * 100).toFixed(3)}%`)
  console.log(`upload + validation via API:  ${seconds.toFixed(2)} s`)
} finally {
  await h.close()
  await rm(root, { recursive: true, force: true })
}
