/**
 * Writes a small PEFT output folder (adapter_config.json, adapter_model.safetensors, README.md)
 * shaped for a base model, to try publishing without a trained adapter at hand:
 *
 *   npm run example-adapter -- ./my-adapter [--base meta-llama/Llama-2-7b-hf] [--rank 8]
 *
 * The weights are zeros with the exact tensor names and shapes PEFT writes for that base.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { peftFolder } from '../tests/helpers/adapters'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { base: { type: 'string', default: 'meta-llama/Llama-2-7b-hf' }, rank: { type: 'string', default: '8' } },
})
const folder = positionals[0] ?? 'example-adapter'
await mkdir(folder, { recursive: true })
for (const file of peftFolder({ base: values.base, r: Number(values.rank) })) {
  await writeFile(join(folder, file.path), file.bytes)
  console.log(`${join(folder, file.path)}  ${file.bytes.length} bytes`)
}
