import { parseKey } from './analyze'
import { CompatInputError } from './errors'
import type { SafetensorsHeader, TensorInfo } from './safetensors'

/**
 * Fingerprints of the function a LoRA adapter computes (docs/fingerprints.md has the maths).
 *
 * Per module, ΔW = s·B·A (A: r × in, B: out × r). The fingerprint is the sketch S = Pᵀ·(B·A)·Q with
 * fixed, seeded CountSketch matrices Q (in × K) and P (out × K), computed as (Pᵀ·B)·(A·Q) without ever
 * forming ΔW: A·Q while A's bytes stream by (r × K numbers kept), Pᵀ·B while B's do (K × r), then one
 * K × r × K product. S depends on B·A only, so A → R·A, B → B·R⁻¹ (rotations, rescalings), zero rank
 * padding, dtype changes (within rounding), tensor order and metadata leave it unchanged; normalised,
 * it also ignores the per-module scale s (lora_alpha, rsLoRA), which a copier could move into B.
 * Pure and streaming: it runs unchanged on Node and in workerd, one pass over the file, memory bounded
 * by the tensor count (never by the file).
 */

/**
 * The stored format. 1: LoRA entries only. 2 adds DoRA magnitude and saved-module entries; its LoRA
 * entries are computed exactly as in 1 (same seeds, same bytes), so a version-1 fingerprint is still
 * compared, on its LoRA entries only (`COMPARED_KINDS`). A change to the LoRA sketch would need a new
 * number and a backfill (re-streaming every validated version's file).
 */
export const FINGERPRINT_VERSION = 2
/** What each stored version computed: entries of other kinds are left out of a comparison with it. */
export const COMPARED_KINDS: Record<number, readonly EntryKind[]> = { 1: ['lora'], 2: ['lora', 'magnitude', 'saved'] }
/** The seed family of the LoRA sketch and its LSH planes: version 1's, unchanged in version 2. */
const LORA_SEED = 'refinery-fingerprint-v1'
/** The seed family of the entries version 2 added. */
const EXTRA_SEED = 'refinery-fingerprint-v2'
/** CountSketch buckets per side: S is K × K. */
export const SKETCH_K = 8
export const SKETCH_SIZE = SKETCH_K * SKETCH_K
/**
 * Numbers in a magnitude or saved-module sketch. Stored as F16 (2 bytes each), so every entry kind
 * takes the same SKETCH_SIZE bytes: these entries are compared by a small distance (a fraction of a
 * percent), which one signed byte per number could not resolve.
 */
export const EXTRA_SIZE = SKETCH_SIZE / 2
/** Buckets of a saved matrix's sketch Pᵀ·W·Q: rows into 4, columns into 8 (4 × 8 = EXTRA_SIZE). */
const SAVED_ROW_BUCKETS = 4
const SAVED_COL_BUCKETS = 8
/** Projections and cell width of the p-stable LSH of magnitude and saved entries (their module keys). */
const EXTRA_LSH_PROJECTIONS = 3
const EXTRA_LSH_WIDTH = 0.03
/** Sign bits of random projections of the normalised sketch, the LSH part of a module key. */
export const LSH_BITS = 24
/** The dtypes whose values the fingerprint reads (LoRA A/B tensors must be one of them). */
export const FINGERPRINT_DTYPES = ['F32', 'F16', 'BF16', 'F64'] as const

/**
 * `lora`: the ΔW = B·A of a LoRA (or embedding LoRA) module, named 'path|out|in'.
 * `magnitude`: a DoRA magnitude vector m (one number per output feature), named 'path|magnitude|out'.
 * `saved`: a full matrix saved with the adapter (`modules_to_save`: lm_head, embed_tokens, a
 * classifier head), named 'path|saved|rows|cols'.
 */
export type EntryKind = 'lora' | 'magnitude' | 'saved'

export type ModuleFingerprint = {
  /** The module path below `base_model.model.`, the entry kind and its shape: 'model.layers.0.self_attn.q_proj|4096|4096'. */
  module: string
  kind: EntryKind
  /**
   * Normalised sketch: S / ‖S‖ (length SKETCH_SIZE) for `lora`; Pᵀ·m or Pᵀ·W·Q normalised and rounded
   * to F16 (length EXTRA_SIZE) for the others. All zeros when the entry is zero (nothing to protect).
   */
  sketch: Float32Array
  zero: boolean
}

/** The kind of an entry from its name (stored fingerprints keep names only). */
export function entryKind(module: string): EntryKind {
  const parts = module.split('|')
  return parts[1] === 'magnitude' ? 'magnitude' : parts[1] === 'saved' ? 'saved' : 'lora'
}

export type AdapterFingerprint = {
  version: typeof FINGERPRINT_VERSION
  modules: ModuleFingerprint[]
  /** A 52-bit hash of each non-zero module's lora_A and lora_B data as stored: exact copies (a fast, non-cryptographic hash; it only finds candidates). */
  exactKeys: number[]
}

type Role = 'A' | 'B' | 'M' | 'W'
/** M: a magnitude vector (dim = its length). W: a saved matrix (rank = its columns, dim = its rows). */
type Slot = { module: string; role: Role; tensor: TensorInfo; rank: number; dim: number }
type Pending = { a?: Float64Array; b?: Float64Array; rank: number; aHash?: number; bHash?: number; zero: boolean }

const BYTES = { F32: 4, F16: 2, BF16: 2, F64: 8 } as const
type ReadDtype = keyof typeof BYTES

function isReadable(dtype: string): dtype is ReadDtype {
  return dtype in BYTES
}

/**
 * The tensors a fingerprint reads, by module: LoRA A/B pairs, DoRA magnitude vectors and saved
 * (modules_to_save) matrices; throws `unsupported_dtype` for one it cannot read.
 */
function slotsOf(header: SafetensorsHeader): Map<TensorInfo, Slot> {
  const slots = new Map<TensorInfo, Slot>()
  const shapes = new Map<string, { in?: number; out?: number }>()
  const found: { tensor: TensorInfo; path: string; role: Role }[] = []
  const readable = (tensor: TensorInfo) => {
    if (!isReadable(tensor.dtype)) {
      throw new CompatInputError(
        'unsupported_dtype',
        `${tensor.name} is ${tensor.dtype}; fingerprints (seller protection) read LoRA weights, DoRA magnitudes and saved modules in ${FINGERPRINT_DTYPES.join(', ')} only. Save the adapter in one of them.`,
        { tensor: tensor.name, dtype: tensor.dtype },
      )
    }
  }
  for (const tensor of header.tensors) {
    const parsed = parseKey(tensor.name)
    if (!parsed) continue
    if (parsed.role === 'magnitude' && tensor.shape.length === 1) {
      // DoRA's m: one number per output feature.
      const [length = 0] = tensor.shape
      if (length === 0) continue
      readable(tensor)
      slots.set(tensor, { module: `${parsed.path}|magnitude|${length}`, role: 'M', tensor, rank: 1, dim: length })
      continue
    }
    if (parsed.role === 'weight' && tensor.shape.length === 2) {
      // A full saved matrix (modules_to_save); 1-D saved tensors (norms, biases) are left out.
      const [rows = 0, cols = 0] = tensor.shape
      if (rows === 0 || cols === 0) continue
      readable(tensor)
      slots.set(tensor, { module: `${parsed.path}|saved|${rows}|${cols}`, role: 'W', tensor, rank: cols, dim: rows })
      continue
    }
    if (tensor.shape.length !== 2) continue
    const role = parsed.role === 'lora_A' || parsed.role === 'embedding_A' ? 'A' : parsed.role === 'lora_B' || parsed.role === 'embedding_B' ? 'B' : undefined
    if (!role) continue
    readable(tensor)
    const path = `${parsed.path}|${parsed.role.startsWith('embedding') ? 'embedding' : 'lora'}`
    const shape = shapes.get(path) ?? {}
    if (role === 'A') shape.in = tensor.shape[1]
    else shape.out = tensor.shape[0]
    shapes.set(path, shape)
    found.push({ tensor, path, role })
  }
  for (const { tensor, path, role } of found) {
    const shape = shapes.get(path)
    if (shape?.in === undefined || shape.out === undefined) continue // half a module: analysis reports it
    const [rows = 0, cols = 0] = tensor.shape
    slots.set(tensor, {
      module: `${path.slice(0, path.lastIndexOf('|'))}|${shape.out}|${shape.in}`,
      role,
      tensor,
      rank: role === 'A' ? rows : cols,
      dim: role === 'A' ? cols : rows,
    })
  }
  return slots
}

/** mulberry32: a small, fast seeded PRNG; the same numbers on every platform. */
function prng(seed: number) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** FNV-1a, 32 bits. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return hash >>> 0
}

type CountSketch = { bucket: Uint8Array; sign: Float64Array }
const sketches = new Map<string, CountSketch>()

/**
 * The CountSketch of one side for a dimension: each index to one of `buckets` buckets with a ± sign.
 * 'in' and 'out' are the LoRA sides (version 1's seeds); 'magnitude', 'saved-rows' and 'saved-cols'
 * the entries version 2 added.
 */
function countSketch(side: 'in' | 'out' | 'magnitude' | 'saved-rows' | 'saved-cols', dim: number): CountSketch {
  const key = `${side}|${dim}`
  let cached = sketches.get(key)
  if (cached) return cached
  const [seed, buckets] =
    side === 'in' || side === 'out'
      ? [LORA_SEED, SKETCH_K]
      : [EXTRA_SEED, side === 'magnitude' ? EXTRA_SIZE : side === 'saved-rows' ? SAVED_ROW_BUCKETS : SAVED_COL_BUCKETS]
  const random = prng(fnv1a(`${seed}|${key}`))
  const bucket = new Uint8Array(dim)
  const sign = new Float64Array(dim)
  for (let i = 0; i < dim; i++) {
    bucket[i] = Math.floor(random() * buckets)
    sign[i] = random() < 0.5 ? -1 : 1
  }
  cached = { bucket, sign }
  if (sketches.size >= 64) sketches.clear() // dims are few (hidden, intermediate, vocab sizes); bound it anyway
  sketches.set(key, cached)
  return cached
}

let hyperplanes: Float64Array | undefined
/** LSH_BITS Gaussian directions in sketch space (Box–Muller over the seeded PRNG). */
function lshPlanes(): Float64Array {
  if (hyperplanes) return hyperplanes
  const random = prng(fnv1a(`${LORA_SEED}|lsh`))
  const planes = new Float64Array(LSH_BITS * SKETCH_SIZE)
  for (let i = 0; i < planes.length; i++) {
    const u = 1 - random()
    planes[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
  }
  hyperplanes = planes
  return planes
}

let extraProjections: { directions: Float64Array; offsets: Float64Array } | undefined
/** EXTRA_LSH_PROJECTIONS Gaussian directions in EXTRA_SIZE dimensions and offsets in [0, width). */
function extraLsh() {
  if (extraProjections) return extraProjections
  const random = prng(fnv1a(`${EXTRA_SEED}|lsh`))
  const directions = new Float64Array(EXTRA_LSH_PROJECTIONS * EXTRA_SIZE)
  for (let i = 0; i < directions.length; i++) {
    const u = 1 - random()
    directions[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
  }
  const offsets = Float64Array.from({ length: EXTRA_LSH_PROJECTIONS }, () => random() * EXTRA_LSH_WIDTH)
  extraProjections = { directions, offsets }
  return extraProjections
}

/**
 * The index key of a module's fingerprint: 28 bits of the entry's name and shape, then 24 bits of
 * locality-sensitive hash of its sketch. LoRA entries: LSH_BITS sign bits of random projections
 * (SimHash). A true copy keeps almost every bit (its sketch is the same up to rounding), so it shares
 * most modules' keys with the original; an unrelated adapter shares one with probability 2^-24 per
 * module. Magnitude and saved entries are all close to the base's own weights (docs/fingerprints.md),
 * so sign bits would give every adapter of a base the same key: their bits hash the cells of
 * EXTRA_LSH_PROJECTIONS projections quantised at EXTRA_LSH_WIDTH (p-stable LSH), which separate
 * sketches a few times the match distance apart. Undefined for a zero module.
 */
export function moduleKey(module: ModuleFingerprint): number | undefined {
  if (module.zero) return undefined
  if (module.kind !== 'lora') {
    const { directions, offsets } = extraLsh()
    let cells = 0x9747b28c
    for (let p = 0; p < EXTRA_LSH_PROJECTIONS; p++) {
      let dot = 0
      for (let i = 0; i < EXTRA_SIZE; i++) dot += (directions[p * EXTRA_SIZE + i] ?? 0) * (module.sketch[i] ?? 0)
      cells = Math.imul(cells ^ Math.floor((dot + (offsets[p] ?? 0)) / EXTRA_LSH_WIDTH), 0x9e3779b1)
      cells ^= cells >>> 15
    }
    return (fnv1a(module.module) & 0xfffffff) * 2 ** LSH_BITS + ((cells >>> 0) % 2 ** LSH_BITS)
  }
  const planes = lshPlanes()
  let bits = 0
  for (let b = 0; b < LSH_BITS; b++) {
    let dot = 0
    for (let i = 0; i < SKETCH_SIZE; i++) dot += (planes[b * SKETCH_SIZE + i] ?? 0) * (module.sketch[i] ?? 0)
    bits = bits * 2 + (dot >= 0 ? 1 : 0)
  }
  return (fnv1a(module.module) & 0xfffffff) * 2 ** LSH_BITS + bits
}

/** Cosine of two sketches of the same kind (both normalised, or quantised: the scale cancels). */
export function sketchSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0
  let na = 0
  let nb = 0
  const length = Math.max(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a[i] ?? 0
    const y = b[i] ?? 0
    dot += x * y
    na += x * x
    nb += y * y
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}

/**
 * Sketches as stored, SKETCH_SIZE bytes per entry: a LoRA sketch as one signed byte per number,
 * scaled so the largest magnitude is 127; a magnitude or saved sketch as EXTRA_SIZE little-endian F16
 * (the sketch is already rounded to F16, so the stored numbers are exactly the computed ones).
 */
export function quantiseSketches(modules: ModuleFingerprint[]): Uint8Array {
  const out = new Uint8Array(modules.length * SKETCH_SIZE)
  const signed = new Int8Array(out.buffer)
  const view = new DataView(out.buffer)
  modules.forEach((module, m) => {
    if (module.kind !== 'lora') {
      for (let i = 0; i < EXTRA_SIZE; i++) view.setUint16(m * SKETCH_SIZE + i * 2, toHalf(module.sketch[i] ?? 0), true)
      return
    }
    let max = 0
    for (const value of module.sketch) max = Math.max(max, Math.abs(value))
    if (max === 0) return
    for (let i = 0; i < SKETCH_SIZE; i++) signed[m * SKETCH_SIZE + i] = Math.round(((module.sketch[i] ?? 0) / max) * 127)
  })
  return out
}

/** The stored bytes back, per entry name: an Int8Array (LoRA) or the F16 numbers as a Float32Array. */
export function storedSketches(bytes: Uint8Array, modules: readonly string[]): (Int8Array | Float32Array)[] {
  const signed = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const table = halfTable()
  return modules.map((module, m) => {
    if (entryKind(module) === 'lora') return signed.subarray(m * SKETCH_SIZE, (m + 1) * SKETCH_SIZE)
    return Float32Array.from({ length: EXTRA_SIZE }, (_, i) => table[view.getUint16(m * SKETCH_SIZE + i * 2, true)] as number)
  })
}

const halfScratch = new Float32Array(1)
const halfBits = new Uint32Array(halfScratch.buffer)
/** A finite number to IEEE half precision bits, round to nearest even (normalised sketches: |x| ≤ 1). */
function toHalf(value: number): number {
  halfScratch[0] = value
  const x = halfBits[0] as number
  const sign = (x >>> 16) & 0x8000
  const exponent = ((x >>> 23) & 0xff) - 127 + 15
  const mantissa = x & 0x7fffff
  if (exponent >= 31) return sign | 0x7c00
  if (exponent <= 0) {
    if (exponent < -10) return sign
    const full = mantissa | 0x800000
    const shift = 14 - exponent
    const half = full >>> shift
    const rest = full & ((1 << shift) - 1)
    const midway = 1 << (shift - 1)
    return sign | (half + (rest > midway || (rest === midway && half & 1) ? 1 : 0))
  }
  const half = (exponent << 10) | (mantissa >>> 13)
  const rest = mantissa & 0x1fff
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0))
}

let f16Table: Float32Array | undefined
function halfTable(): Float32Array {
  if (f16Table) return f16Table
  const table = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1
    const exponent = (h >> 10) & 0x1f
    const fraction = h & 0x3ff
    table[h] =
      exponent === 0 ? sign * 2 ** -14 * (fraction / 1024) : exponent === 31 ? (fraction ? NaN : sign * Infinity) : sign * 2 ** (exponent - 15) * (1 + fraction / 1024)
  }
  f16Table = table
  return table
}

const DECODE_BATCH = 16384

/**
 * Fingerprints a safetensors file fed in order as chunks (the whole file from byte 0, or from
 * `header.headerBytes`). Throws `unsupported_dtype` at once when a LoRA tensor is in a dtype it cannot
 * read, and `not_finite` for a NaN or infinite weight.
 */
export function createFingerprinter(header: SafetensorsHeader, options: { startsAt?: number } = {}) {
  const slots = slotsOf(header)
  const tensors = header.tensors.filter((tensor) => slots.has(tensor))
  const pending = new Map<string, Pending>()
  const done: ModuleFingerprint[] = []
  const exactKeys: number[] = []
  const scratch = new ArrayBuffer(DECODE_BATCH * 8)
  const u32 = new Uint32Array(scratch)
  const f32 = new Float32Array(scratch)
  const f64 = new Float64Array(DECODE_BATCH)
  const carry = new Uint8Array(8)
  let carried = 0
  let position = options.startsAt ?? 0
  let index = 0
  let element = 0
  // Per-tensor data hash (two 32-bit lanes over the raw words): exact copies, not a security boundary.
  let lane1 = 0
  let lane2 = 0
  let accumulator: Float64Array | undefined
  let nonZero = false

  const begin = (slot: Slot) => {
    element = 0
    carried = 0
    nonZero = false
    lane1 = 0x243f6a88
    lane2 = 0x85a308d3
    accumulator = new Float64Array(slot.role === 'M' || slot.role === 'W' ? EXTRA_SIZE : SKETCH_K * slot.rank)
  }

  /** Adds `count` decoded values (in f64) at element positions element.. to the current tensor's sketch. */
  const accumulate = (slot: Slot, count: number) => {
    const acc = accumulator as Float64Array
    const rank = slot.rank
    if (slot.role === 'M') {
      // m (length out): Pᵀ·m adds ±m_i to acc[bucket(i)].
      const { bucket, sign } = countSketch('magnitude', slot.dim)
      for (let i = 0, at = element; i < count; i++, at++) {
        const value = f64[i] as number
        if (value !== 0) {
          nonZero = true
          const b = bucket[at] as number
          acc[b] = (acc[b] as number) + (sign[at] as number) * value
        }
      }
    } else if (slot.role === 'W') {
      // A saved matrix (rows × cols, row-major), streamed row by row: Pᵀ·W·Q adds ±w to
      // acc[bucket(row)][bucket(col)], the sign the product of the row's and the column's.
      const rows = countSketch('saved-rows', slot.dim)
      const cols = countSketch('saved-cols', rank)
      let row = Math.floor(element / rank)
      let col = element - row * rank
      let base = (rows.bucket[row] as number) * SAVED_COL_BUCKETS
      let s = rows.sign[row] as number
      for (let i = 0; i < count; i++) {
        const value = f64[i] as number
        if (value !== 0) {
          nonZero = true
          const at = base + (cols.bucket[col] as number)
          acc[at] = (acc[at] as number) + s * (cols.sign[col] as number) * value
        }
        if (++col === rank) {
          col = 0
          if (++row < slot.dim) {
            base = (rows.bucket[row] as number) * SAVED_COL_BUCKETS
            s = rows.sign[row] as number
          }
        }
      }
    } else if (slot.role === 'A') {
      // A is r × in, row-major: A·Q adds ±a to acc[row][bucket(col)].
      const { bucket, sign } = countSketch('in', slot.dim)
      const cols = slot.dim
      let row = Math.floor(element / cols)
      let col = element - row * cols
      let base = row * SKETCH_K
      for (let i = 0; i < count; i++) {
        const value = f64[i] as number
        if (value !== 0) {
          nonZero = true
          const at = base + (bucket[col] as number)
          acc[at] = (acc[at] as number) + (sign[col] as number) * value
        }
        if (++col === cols) {
          col = 0
          base += SKETCH_K
        }
      }
    } else {
      // B is out × r, row-major: Pᵀ·B adds ±b to acc[bucket(row)][col].
      const { bucket, sign } = countSketch('out', slot.dim)
      let row = Math.floor(element / rank)
      let col = element - row * rank
      let base = (bucket[row] as number) * rank
      let s = sign[row] as number
      for (let i = 0; i < count; i++) {
        const value = f64[i] as number
        if (value !== 0) {
          nonZero = true
          acc[base + col] = (acc[base + col] as number) + s * value
        }
        if (++col === rank) {
          col = 0
          if (++row < slot.dim) {
            base = (bucket[row] as number) * rank
            s = sign[row] as number
          }
        }
      }
    }
    element += count
  }

  /** Decodes whole elements of `bytes` into f64 and accumulates them, in batches. */
  const feed = (slot: Slot, bytes: Uint8Array) => {
    const dtype = slot.tensor.dtype as ReadDtype
    const width = BYTES[dtype]
    const total = bytes.length / width
    const table = dtype === 'F16' ? halfTable() : undefined
    for (let from = 0; from < total; from += DECODE_BATCH) {
      const count = Math.min(DECODE_BATCH, total - from)
      let at = from * width
      // Raw words first (hashed as stored), then values.
      if (width === 2) {
        for (let i = 0; i < count; i++, at += 2) u32[i] = (bytes[at] as number) | ((bytes[at + 1] as number) << 8)
      } else if (width === 4) {
        for (let i = 0; i < count; i++, at += 4) {
          u32[i] = (bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)
        }
      }
      let h1 = lane1
      let h2 = lane2
      if (width !== 8) {
        for (let i = 0; i < count; i++) {
          const word = u32[i] as number
          h1 = Math.imul(h1 ^ word, 0x9e3779b1)
          h1 ^= h1 >>> 15
          h2 = Math.imul(h2 + word, 0x85ebca77)
          h2 ^= h2 >>> 13
        }
      }
      if (dtype === 'BF16') {
        for (let i = 0; i < count; i++) u32[i] = (u32[i] as number) << 16
        for (let i = 0; i < count; i++) f64[i] = f32[i] as number
      } else if (dtype === 'F16' && table) {
        for (let i = 0; i < count; i++) f64[i] = table[u32[i] as number] as number
      } else if (dtype === 'F32') {
        for (let i = 0; i < count; i++) f64[i] = f32[i] as number
      } else {
        const view = new DataView(bytes.buffer, bytes.byteOffset + at, count * 8)
        for (let i = 0; i < count; i++) {
          const low = view.getUint32(i * 8, true)
          const high = view.getUint32(i * 8 + 4, true)
          h1 = Math.imul(Math.imul(h1 ^ low, 0x9e3779b1) ^ high, 0x9e3779b1)
          h2 = Math.imul(Math.imul(h2 + low, 0x85ebca77) + high, 0x85ebca77)
          f64[i] = view.getFloat64(i * 8, true)
        }
      }
      lane1 = h1
      lane2 = h2
      for (let i = 0; i < count; i++) {
        const value = f64[i] as number
        if (value - value !== 0) {
          throw new CompatInputError('not_finite', `${slot.tensor.name} holds a NaN or infinite weight.`, { tensor: slot.tensor.name })
        }
      }
      accumulate(slot, count)
    }
  }

  const finishTensor = (slot: Slot) => {
    const key = dataKey(lane1, lane2, element)
    if (slot.role === 'M' || slot.role === 'W') {
      // A whole entry in one tensor: done at once.
      const sketch = nonZero ? normaliseHalf(accumulator as Float64Array) : new Float32Array(EXTRA_SIZE)
      const zero = sketch.every((value) => value === 0)
      done.push({ module: slot.module, kind: slot.role === 'M' ? 'magnitude' : 'saved', sketch, zero })
      if (!zero) exactKeys.push(key)
      accumulator = undefined
      return
    }
    const entry = pending.get(slot.module) ?? { rank: slot.rank, zero: false }
    if (slot.role === 'A') {
      entry.a = accumulator
      entry.aHash = key
    } else {
      entry.b = accumulator
      entry.bHash = key
    }
    if (!nonZero) entry.zero = true
    pending.set(slot.module, entry)
    accumulator = undefined
    if (entry.a && entry.b) {
      pending.delete(slot.module)
      const sketch = combine(entry.a, entry.b, entry.rank)
      const zero = entry.zero || sketch.every((value) => value === 0)
      done.push({ module: slot.module, kind: 'lora', sketch, zero })
      if (!zero && entry.aHash !== undefined && entry.bHash !== undefined) exactKeys.push(entry.aHash, entry.bHash)
    }
  }

  return {
    /** Feeds the next bytes of the file. */
    update(chunk: Uint8Array) {
      let offset = 0
      while (offset < chunk.length && index < tensors.length) {
        const tensor = tensors[index] as TensorInfo
        const slot = slots.get(tensor) as Slot
        const start = header.headerBytes + tensor.dataOffsets[0]
        const end = header.headerBytes + tensor.dataOffsets[1]
        if (position < start) {
          const skip = Math.min(start - position, chunk.length - offset)
          position += skip
          offset += skip
          continue
        }
        if (position === start && !accumulator) begin(slot)
        const take = Math.min(end - position, chunk.length - offset)
        const piece = chunk.subarray(offset, offset + take)
        const width = BYTES[tensor.dtype as ReadDtype]
        let body = piece
        if (carried > 0) {
          const need = Math.min(width - carried, piece.length)
          carry.set(piece.subarray(0, need), carried)
          carried += need
          body = piece.subarray(need)
          if (carried === width) {
            feed(slot, carry.subarray(0, width))
            carried = 0
          }
        }
        const whole = body.length - (body.length % width)
        if (whole > 0) feed(slot, body.subarray(0, whole))
        if (whole < body.length) {
          carry.set(body.subarray(whole), carried)
          carried += body.length - whole
        }
        position += take
        offset += take
        if (position === end) {
          finishTensor(slot)
          index++
        }
      }
      position += chunk.length - offset
    },
    finish(): AdapterFingerprint {
      if (index < tensors.length) {
        throw new CompatInputError('invalid_safetensors', 'The file ended before its last tensor.', { rule: 'buffer_size' })
      }
      done.sort((x, y) => (x.module < y.module ? -1 : x.module > y.module ? 1 : 0))
      return { version: FINGERPRINT_VERSION, modules: done, exactKeys: [...new Set(exactKeys)].sort((x, y) => x - y) }
    },
  }
}

/** 52 bits (a safe integer, a Postgres bigint) from the two lanes and the element count. */
function dataKey(h1: number, h2: number, count: number): number {
  const a = Math.imul(h1 ^ count, 0xcc9e2d51) >>> 0
  const b = Math.imul(h2 ^ (a >>> 7), 0x1b873593) >>> 0
  return (a & 0xfffff) * 2 ** 32 + b
}

/** S = (Pᵀ·B)(A·Q), normalised: K × r by r × K. */
function combine(aq: Float64Array, pb: Float64Array, rank: number): Float32Array {
  const sketch = new Float64Array(SKETCH_SIZE)
  for (let i = 0; i < SKETCH_K; i++) {
    for (let c = 0; c < rank; c++) {
      const left = pb[i * rank + c] as number
      if (left === 0) continue
      for (let j = 0; j < SKETCH_K; j++) sketch[i * SKETCH_K + j] = (sketch[i * SKETCH_K + j] as number) + left * (aq[c * SKETCH_K + j] as number)
    }
  }
  let norm = 0
  for (const value of sketch) norm += value * value
  norm = Math.sqrt(norm)
  const out = new Float32Array(SKETCH_SIZE)
  if (norm > 0) for (let i = 0; i < SKETCH_SIZE; i++) out[i] = (sketch[i] as number) / norm
  return out
}

/** v / ‖v‖ rounded to F16 precision (what is stored): the stored and the computed sketch are equal. */
function normaliseHalf(values: Float64Array): Float32Array {
  let norm = 0
  for (const value of values) norm += value * value
  norm = Math.sqrt(norm)
  const out = new Float32Array(values.length)
  if (norm === 0) return out
  const table = halfTable()
  for (let i = 0; i < values.length; i++) out[i] = table[toHalf((values[i] as number) / norm)] as number
  return out
}

/** Fingerprints a whole file held in memory (tests, the CLI, small files). */
export function fingerprintBytes(header: SafetensorsHeader, file: Uint8Array): AdapterFingerprint {
  const fingerprinter = createFingerprinter(header)
  fingerprinter.update(file)
  return fingerprinter.finish()
}

/** Fingerprints a stream of the whole file, chunk by chunk. */
export async function fingerprintStream(header: SafetensorsHeader, stream: AsyncIterable<Uint8Array>): Promise<AdapterFingerprint> {
  const fingerprinter = createFingerprinter(header)
  for await (const chunk of stream) fingerprinter.update(chunk)
  return fingerprinter.finish()
}
