import { buildSafetensorsHeader, type Dtype, type TensorSpec } from '../../src/compat'
import type { BaseModel } from '../../src/compat'
import type { AdapterFile } from './adapters'

/**
 * LoRA adapters with seeded random weights in real PEFT layout, and the transformations a copier
 * would apply (rescaling between A and B, rotations, rank padding, dtype, tensor order, metadata):
 * each leaves ΔW = B·A unchanged.
 */

export type Matrix = { rows: number; cols: number; data: Float64Array }
/** `path`: the module path below `base_model.model.` ('model.layers.0.self_attn.q_proj'). */
export type LoraModule = { path: string; a: Matrix; b: Matrix }

export function prng(seed: number) {
  let state = seed >>> 0
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform())
  return { uniform, normal }
}

function randomMatrix(rows: number, cols: number, scale: number, normal: () => number): Matrix {
  const data = new Float64Array(rows * cols)
  for (let i = 0; i < data.length; i++) data[i] = normal() * scale
  return { rows, cols, data }
}

/** A trained-looking LoRA: A ~ N(0, 1/in), B ~ N(0, 0.01²), per module of the base. */
export function randomLora(base: BaseModel, options: { r: number; modules: string[]; layers: number[]; seed: number }): LoraModule[] {
  const { normal } = prng(options.seed)
  const out: LoraModule[] = []
  for (const layer of options.layers) {
    for (const module of options.modules) {
      const shape = base.modules[module]
      if (!shape) throw new Error(`${base.id} has no module ${module}`)
      const [outFeatures, inFeatures] = shape
      out.push({
        path: `${base.layerPrefix.replace('{i}', String(layer))}.${module}`,
        a: randomMatrix(options.r, inFeatures, 1 / Math.sqrt(inFeatures), normal),
        b: randomMatrix(outFeatures, options.r, 0.01, normal),
      })
    }
  }
  return out
}

function multiply(left: Matrix, right: Matrix): Matrix {
  const data = new Float64Array(left.rows * right.cols)
  for (let i = 0; i < left.rows; i++) {
    for (let k = 0; k < left.cols; k++) {
      const value = left.data[i * left.cols + k] ?? 0
      if (value === 0) continue
      const row = k * right.cols
      const outRow = i * right.cols
      for (let j = 0; j < right.cols; j++) data[outRow + j] = (data[outRow + j] ?? 0) + value * (right.data[row + j] ?? 0)
    }
  }
  return { rows: left.rows, cols: right.cols, data }
}

const transpose = (m: Matrix): Matrix => {
  const data = new Float64Array(m.rows * m.cols)
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) data[j * m.rows + i] = m.data[i * m.cols + j] ?? 0
  return { rows: m.cols, cols: m.rows, data }
}

/** A random orthogonal r × r matrix (Gram–Schmidt on Gaussian columns). */
export function randomOrthogonal(r: number, seed: number): Matrix {
  const { normal } = prng(seed)
  const q = new Float64Array(r * r)
  for (let col = 0; col < r; col++) {
    const v = Array.from({ length: r }, normal)
    for (let prev = 0; prev < col; prev++) {
      let dot = 0
      for (let i = 0; i < r; i++) dot += v[i]! * q[i * r + prev]!
      for (let i = 0; i < r; i++) v[i]! -= dot * q[i * r + prev]!
    }
    const norm = Math.hypot(...v)
    for (let i = 0; i < r; i++) q[i * r + col] = v[i]! / norm
  }
  return { rows: r, cols: r, data: q }
}

/** A → c·A, B → B/c. */
export const rescale = (modules: LoraModule[], c: number): LoraModule[] =>
  modules.map((m) => ({ path: m.path, a: { ...m.a, data: m.a.data.map((x) => x * c) }, b: { ...m.b, data: m.b.data.map((x) => x / c) } }))

/** A → R·A, B → B·Rᵀ for a random orthogonal R per module. */
export const rotate = (modules: LoraModule[], seed: number): LoraModule[] =>
  modules.map((m, i) => {
    const r = randomOrthogonal(m.a.rows, seed + i)
    return { path: m.path, a: multiply(r, m.a), b: multiply(m.b, transpose(r)) }
  })

/** Pads the rank with zero rows of A and zero columns of B. */
export const padRank = (modules: LoraModule[], rank: number): LoraModule[] =>
  modules.map((m) => {
    const a = new Float64Array(rank * m.a.cols)
    a.set(m.a.data)
    const b = new Float64Array(m.b.rows * rank)
    for (let i = 0; i < m.b.rows; i++) for (let j = 0; j < m.b.cols; j++) b[i * rank + j] = m.b.data[i * m.b.cols + j] ?? 0
    return { path: m.path, a: { rows: rank, cols: m.a.cols, data: a }, b: { rows: m.b.rows, cols: rank, data: b } }
  })

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

function toBf16(value: number): number {
  f32[0] = value
  const bits = u32[0]!
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff
}

function toF16(value: number): number {
  f32[0] = value
  const x = u32[0]!
  const sign = (x >>> 16) & 0x8000
  let exponent = ((x >>> 23) & 0xff) - 127 + 15
  let mantissa = x & 0x7fffff
  if (exponent <= 0) {
    if (exponent < -10) return sign
    mantissa |= 0x800000
    const shift = 14 - exponent
    const half = (mantissa >>> shift) + ((mantissa >>> (shift - 1)) & 1)
    return sign | half
  }
  if (exponent >= 31) return sign | 0x7c00
  const rounded = mantissa + 0x1000
  if (rounded & 0x800000) {
    exponent += 1
    if (exponent >= 31) return sign | 0x7c00
    return sign | (exponent << 10)
  }
  return sign | (exponent << 10) | (rounded >>> 13)
}

function encode(data: Float64Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(Float32Array.from(data).buffer)
  const out = new Uint16Array(data.length)
  for (let i = 0; i < data.length; i++) out[i] = dtype === 'BF16' ? toBf16(data[i]!) : toF16(data[i]!)
  return new Uint8Array(out.buffer)
}

/** A DoRA magnitude vector m of one module (`lora_magnitude_vector`, one number per output feature). */
export type Magnitude = { path: string; data: Float64Array }
/** A full matrix saved with the adapter (`modules_to_save`: lm_head, embed_tokens, score). */
export type SavedModule = { path: string; matrix: Matrix }

export type SaveOptions = {
  dtype?: 'F32' | 'F16' | 'BF16'
  order?: 'peft' | 'reversed' | 'b-first'
  metadata?: Record<string, string>
  magnitudes?: Magnitude[]
  saved?: SavedModule[]
}

/**
 * Row norms of a stand-in base weight for a module: what PEFT initialises DoRA's m to (‖W₀‖ per
 * output row). Seeded by the module's path and `baseSeed` only, so every adapter "of the same base"
 * starts from the same vector; rows vary ±20% around 1.3 (a Llama-2-7B projection row of 4096
 * weights with standard deviation 0.02).
 */
export function baseRowNorms(path: string, length: number, baseSeed = 0): Float64Array {
  let seed = baseSeed
  for (let i = 0; i < path.length; i++) seed = Math.imul(seed ^ path.charCodeAt(i), 0x01000193)
  const { normal } = prng(seed)
  return Float64Array.from({ length }, () => 1.3 * (1 + 0.2 * normal()))
}

/**
 * DoRA magnitudes for LoRA modules after training: the base's row norms, each moved by a relative
 * drift N(0, drift²) drawn from `seed` (training moves every m_i a little; drift 0 is an untrained m).
 */
export function doraMagnitudes(modules: LoraModule[], options: { drift: number; seed: number; baseSeed?: number }): Magnitude[] {
  const { normal } = prng(options.seed)
  return modules.map((m) => ({
    path: m.path,
    data: baseRowNorms(m.path, m.b.rows, options.baseSeed).map((value) => value * (1 + options.drift * normal())),
  }))
}

/**
 * A saved full matrix near a shared base matrix: W = W₀ + Δ, W₀ ~ N(0, 0.02²) seeded by the path and
 * `baseSeed` (the base's own weights, the same for every adapter), Δ = drift · N(0, 0.02²) from `seed`
 * (fine-tuning moves it by `drift` of its norm). `drift: Infinity` gives a freshly initialised,
 * trained head with no base part (a classifier `score`): W ~ N(0, 0.02²) from `seed`.
 */
export function savedMatrix(path: string, rows: number, cols: number, options: { drift: number; seed: number; baseSeed?: number }): SavedModule {
  const own = prng(options.seed)
  if (!Number.isFinite(options.drift)) return { path, matrix: randomMatrix(rows, cols, 0.02, own.normal) }
  const base = baseMatrix(path, rows, cols, options.baseSeed ?? 0)
  const data = new Float64Array(rows * cols)
  for (let i = 0; i < data.length; i++) data[i] = 0.02 * ((base[i] as number) + options.drift * own.normal())
  return { path, matrix: { rows, cols, data } }
}

const baseMatrices = new Map<string, Float64Array>()
/** The stand-in base matrix W₀ / 0.02 of a saved module (cached: many adapters share one base). */
function baseMatrix(path: string, rows: number, cols: number, baseSeed: number): Float64Array {
  const key = `${path}|${rows}|${cols}|${baseSeed}`
  let cached = baseMatrices.get(key)
  if (!cached) {
    let seed = baseSeed
    for (let i = 0; i < path.length; i++) seed = Math.imul(seed ^ path.charCodeAt(i), 0x01000193)
    const { normal } = prng(seed)
    cached = Float64Array.from({ length: rows * cols }, normal)
    baseMatrices.set(key, cached)
  }
  return cached
}

/** The adapter as a safetensors file: PEFT key names, the given dtype, tensor order and metadata. */
export function saveLora(modules: LoraModule[], options: SaveOptions = {}): Uint8Array {
  const dtype = options.dtype ?? 'F16'
  const entries = modules.flatMap((m) => [
    { spec: { name: `base_model.model.${m.path}.lora_A.weight`, dtype: dtype as Dtype, shape: [m.a.rows, m.a.cols] } as TensorSpec, data: m.a.data },
    { spec: { name: `base_model.model.${m.path}.lora_B.weight`, dtype: dtype as Dtype, shape: [m.b.rows, m.b.cols] } as TensorSpec, data: m.b.data },
  ])
  for (const m of options.magnitudes ?? []) {
    entries.push({ spec: { name: `base_model.model.${m.path}.lora_magnitude_vector`, dtype: dtype as Dtype, shape: [m.data.length] }, data: m.data })
  }
  for (const saved of options.saved ?? []) {
    entries.push({ spec: { name: `base_model.model.${saved.path}.weight`, dtype: dtype as Dtype, shape: [saved.matrix.rows, saved.matrix.cols] }, data: saved.matrix.data })
  }
  if (options.order === 'reversed') entries.reverse()
  if (options.order === 'b-first') entries.sort((x, y) => Number(x.spec.name.includes('lora_A')) - Number(y.spec.name.includes('lora_A')))
  const { bytes, fileSize } = buildSafetensorsHeader(
    entries.map((entry) => entry.spec),
    options.metadata ?? { format: 'pt' },
  )
  const file = new Uint8Array(fileSize)
  file.set(bytes)
  let offset = bytes.length
  for (const entry of entries) {
    const encoded = encode(entry.data, dtype)
    file.set(encoded, offset)
    offset += encoded.length
  }
  return file
}

/** A PEFT folder (config + weights) for these modules, to upload as a version. */
export function loraFolder(base: BaseModel, modules: LoraModule[], options: SaveOptions & { r: number }): AdapterFile[] {
  const leafs = [...new Set(modules.map((m) => m.path.split('.').at(-1)))]
  const config = {
    peft_type: 'LORA',
    base_model_name_or_path: base.id,
    r: options.r,
    lora_alpha: options.r * 2,
    target_modules: leafs,
    task_type: 'CAUSAL_LM',
  }
  return [
    { path: 'adapter_config.json', bytes: new TextEncoder().encode(JSON.stringify(config)) },
    { path: 'adapter_model.safetensors', bytes: saveLora(modules, options) },
  ]
}
