import type { BaseModel } from './base-models'
import { DTYPE_BITS, type Dtype } from './dtypes'

export type TensorSpec = { name: string; dtype: Dtype; shape: number[] }

/**
 * The header part of a safetensors file (`8 + N` bytes) for these tensors, laid out in the given
 * order, padded with spaces to 8 bytes like the official writer. Also returns the full file size.
 */
export function buildSafetensorsHeader(tensors: TensorSpec[], metadata?: Record<string, string>): { bytes: Uint8Array<ArrayBuffer>; fileSize: number } {
  // Null prototype: a tensor may be called '__proto__'.
  const header = Object.create(null) as Record<string, unknown>
  if (metadata) header.__metadata__ = metadata
  let offset = 0
  for (const tensor of tensors) {
    const bits = tensor.shape.reduce((product, dim) => product * dim, 1) * DTYPE_BITS[tensor.dtype]
    if (bits % 8 !== 0) throw new Error(`${tensor.name}: ${tensor.dtype} ${JSON.stringify(tensor.shape)} is not a whole number of bytes`)
    header[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bits / 8] }
    offset += bits / 8
  }
  const json = new TextEncoder().encode(JSON.stringify(header))
  const length = Math.ceil(json.length / 8) * 8
  const bytes = new Uint8Array(8 + length).fill(0x20, 8 + json.length)
  new DataView(bytes.buffer).setBigUint64(0, BigInt(length), true)
  bytes.set(json, 8)
  return { bytes, fileSize: 8 + length + offset }
}

/** A complete, valid safetensors file with zero-filled data (tests, CLI, benchmarks). */
export function buildSafetensors(tensors: TensorSpec[], metadata?: Record<string, string>): Uint8Array<ArrayBuffer> {
  const { bytes, fileSize } = buildSafetensorsHeader(tensors, metadata)
  const file = new Uint8Array(fileSize)
  file.set(bytes)
  return file
}

export type LoraTensorOptions = {
  r: number
  /** Keys of `base.modules` ('self_attn.q_proj') or leaf names ('q_proj'); all modules by default. */
  modules?: string[]
  /** Layer indices; all layers by default. */
  layers?: number[]
  dtype?: Dtype
  /** Adds PEFT's DoRA `lora_magnitude_vector` [out] per module. */
  dora?: boolean
}

/**
 * PEFT-style LoRA tensor names and shapes for a base model:
 * `base_model.model.<layer prefix>.<module>.lora_A.weight` [r, in] and `lora_B.weight` [out, r].
 */
export function loraTensorsFor(base: BaseModel, options: LoraTensorOptions): TensorSpec[] {
  const dtype = options.dtype ?? 'F16'
  const moduleKeys = Object.keys(base.modules)
  const modules = (options.modules ?? moduleKeys).map((wanted) => {
    const key = moduleKeys.find((candidate) => candidate === wanted || candidate.endsWith(`.${wanted}`))
    if (key === undefined) throw new Error(`${base.id} has no module ${wanted}`)
    return key
  })
  const layers = options.layers ?? Array.from({ length: base.numHiddenLayers }, (_, index) => index)
  const tensors: TensorSpec[] = []
  for (const layer of layers) {
    const prefix = `base_model.model.${base.layerPrefix.replace('{i}', String(layer))}`
    for (const module of modules) {
      const shape = base.modules[module]
      if (!shape) continue
      const [out, inFeatures] = shape
      tensors.push({ name: `${prefix}.${module}.lora_A.weight`, dtype, shape: [options.r, inFeatures] })
      tensors.push({ name: `${prefix}.${module}.lora_B.weight`, dtype, shape: [out, options.r] })
      if (options.dora) tensors.push({ name: `${prefix}.${module}.lora_magnitude_vector`, dtype, shape: [out] })
    }
  }
  return tensors
}
