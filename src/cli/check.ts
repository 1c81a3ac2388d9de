import { open, readFile, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  analyzeAdapter,
  type BaseModel,
  baseModelFromHfConfig,
  checkAgainstBase,
  type CompatReport,
  CompatInputError,
  normalizeBaseId,
  parseAdapterConfig,
  readSafetensorsHeader,
  seededBaseModels,
} from '../compat'

/** A CLI failure that is the user's to fix: printed as one line, exit code 2. */
export class CliError extends Error {}

/** The safetensors header of a local file, read from its first `8 + N` bytes only. */
export async function readLocalHeader(path: string) {
  const handle = await open(path, 'r')
  try {
    const { size } = await handle.stat()
    const lengthBytes = new Uint8Array(8)
    await handle.read(lengthBytes, 0, 8, 0)
    const headerLength = Number(new DataView(lengthBytes.buffer).getBigUint64(0, true))
    const prefixLength = Math.min(size, 8 + Math.min(headerLength, 100_000_000))
    const prefix = new Uint8Array(prefixLength)
    await handle.read(prefix, 0, prefixLength, 0)
    return readSafetensorsHeader(prefix, size)
  } finally {
    await handle.close()
  }
}

/** A base given as a registered id (or a mirror of one), or as a path to a Hugging Face config.json. */
export async function resolveBase(spec: string): Promise<BaseModel> {
  if (spec.endsWith('.json')) {
    const config = JSON.parse(await readFile(spec, 'utf8')) as Record<string, unknown>
    const id = typeof config._name_or_path === 'string' && config._name_or_path ? config._name_or_path : spec
    return baseModelFromHfConfig(id, config)
  }
  const direct = seededBaseModels.find((base) => base.id.toLowerCase() === spec.toLowerCase())
  if (direct) return direct
  const normalized = normalizeBaseId(spec).normalized
  const mirrored = normalized && seededBaseModels.find((base) => base.id === normalized)
  if (mirrored) return mirrored
  throw new CliError(`'${spec}' is not a known base model; pass a registered id or a config.json path.`)
}

/** Checks a PEFT output folder against a base, offline: config + the weights' header. */
export async function checkFolder(folder: string, baseSpec: string): Promise<CompatReport> {
  const info = await stat(folder).catch(() => undefined)
  if (!info?.isDirectory()) throw new CliError(`${folder} is not a folder.`)
  const names = await readdir(folder)
  const weights = names.includes('adapter_model.safetensors') ? 'adapter_model.safetensors' : names.find((name) => name.endsWith('.safetensors'))
  if (!weights) {
    const pickled = names.find((name) => name.endsWith('.bin') || name.endsWith('.pt'))
    throw new CliError(pickled ? `${pickled} is a pickle checkpoint; save the adapter with safe_serialization=True.` : `No .safetensors file in ${folder}.`)
  }
  const config = names.includes('adapter_config.json')
    ? parseAdapterConfig(JSON.parse(await readFile(join(folder, 'adapter_config.json'), 'utf8')))
    : undefined
  const header = await readLocalHeader(join(folder, weights))
  return checkAgainstBase(analyzeAdapter(header, config), header, await resolveBase(baseSpec), { allBases: seededBaseModels })
}

export const isInputError = (error: unknown) => error instanceof CliError || error instanceof CompatInputError || error instanceof SyntaxError
