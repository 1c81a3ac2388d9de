import { DTYPE_BITS, type Dtype, isDtype } from './dtypes'
import { CompatInputError } from './errors'
import { sniffFormat } from './sniff'
import { hasLoneSurrogate } from '../lib/text'

/**
 * Strict safetensors header reader. It reproduces the rules of the official Rust parser
 * (huggingface/safetensors `safetensors/src/tensor.rs`: `read_metadata`, `Metadata::validate`,
 * serde's `usize`/`Dtype` deserialisation) and is stricter where safety asks:
 * duplicate keys, unknown fields, control characters in names, NUL characters in metadata (Postgres
 * cannot store them), a tensor-count cap.
 *
 * Speed: `JSON.parse` builds the structure; one raw pass over the bytes (strings skipped with
 * the native `indexOf`) catches what `JSON.parse` hides: number forms (`1.0`, `1e3`, `-0`),
 * duplicate keys (key counts per depth against the parsed object) and numbers too long for a
 * double, which send the (rare) header through an exact BigInt path.
 */

/** `MAX_HEADER_SIZE` in tensor.rs. */
export const MAX_HEADER_SIZE = 100_000_000
/** Refinery's own cap; LoRA files hold hundreds to a few thousand tensors. */
export const MAX_TENSORS = 100_000

export type TensorInfo = { name: string; dtype: Dtype; shape: number[]; dataOffsets: [number, number] }

export type SafetensorsHeader = {
  /** 8 + N: where the byte buffer starts (0 when validated from a JSON object). */
  headerBytes: number
  metadata: Record<string, string>
  /** Sorted by data offsets, like the official reader. */
  tensors: TensorInfo[]
}

const U64_MAX = (1n << 64n) - 1n
const U64_MAX_TEXT = '18446744073709551615'
const TENSOR_FIELDS = ['dtype', 'shape', 'data_offsets']
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/
// Fatal: invalid UTF-8 throws (`core::str::from_utf8`). ignoreBOM keeps a BOM visible so it is rejected.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

type U64 = number | bigint
type Entry = { name: string; dtype: Dtype; shape: U64[]; begin: U64; end: U64 }

function invalid(rule: string, message: string, extra: Record<string, unknown> = {}): CompatInputError {
  return new CompatInputError('invalid_safetensors', message, { rule, ...extra })
}

/**
 * Reads and validates the header from the first bytes of a file (at least 8 + N of them) and the
 * full file size. Throws `incomplete_header` with `extra.needBytes` when the prefix is too short.
 */
export function readSafetensorsHeader(prefix: Uint8Array, fileSize: number | bigint): SafetensorsHeader {
  rejectForeignFormats(prefix)
  const size = checkedFileSize(fileSize)
  if (size < 8) throw invalid('header_too_small', `A safetensors file has at least 8 bytes; this one has ${size}.`)
  if (prefix.length < 8) {
    throw new CompatInputError('incomplete_header', 'Send at least the first 8 bytes (the header length).', { needBytes: 8 })
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8)
  const high = view.getUint32(4, true)
  const length = high * 2 ** 32 + view.getUint32(0, true)
  if (high !== 0 || length > MAX_HEADER_SIZE) {
    // 80 02..05 + zeros may still be a pickle: byte 8 tells ('{' or not).
    if (prefix.length < 9 && size >= 9 && prefix[0] === 0x80) {
      throw new CompatInputError('incomplete_header', 'Send at least 9 bytes to tell a pickle from safetensors.', { needBytes: 9 })
    }
    throw new CompatInputError(
      'header_too_large',
      `The header length field says ${view.getBigUint64(0, true)} bytes; safetensors allows at most ${MAX_HEADER_SIZE}.`,
      { headerLength: String(view.getBigUint64(0, true)), max: MAX_HEADER_SIZE },
    )
  }
  const headerEnd = 8 + length
  if (headerEnd > size) {
    throw invalid('header_outside_file', `The header claims ${length} bytes but the file has only ${size} bytes.`, { headerLength: length, fileSize: String(size) })
  }
  if (prefix.length < headerEnd) {
    throw new CompatInputError('incomplete_header', `The header needs the first ${headerEnd} bytes; got ${prefix.length}.`, { needBytes: headerEnd })
  }
  const bytes = prefix.subarray(8, headerEnd)
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) throw invalid('bom', 'The header starts with a UTF-8 byte-order mark.')
  if (bytes[0] !== 0x7b) throw invalid('header_start', "The header must start with '{'.")
  const raw = scanTokens(bytes)

  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw invalid('utf8', 'The header is not valid UTF-8.')
  }
  const bigs: bigint[] = []
  if (raw.longNumbers) text = replaceLongNumbers(text, bigs)
  let root: unknown
  try {
    root = JSON.parse(text)
  } catch (error) {
    throw invalid('json', `The header is not valid JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
  const checkStrings = raw.escapes || bytes.indexOf(0x7f) >= 0 || bytes.indexOf(0xc2) >= 0
  const { metadata, entries } = collectEntries(root, { bigs, counts: raw, checkStrings, surrogates: raw.escapes })
  const end = validateLayout(entries)
  const total = typeof end === 'number' && typeof size === 'number' ? headerEnd + end : BigInt(headerEnd) + BigInt(end)
  if (total !== (typeof total === 'number' ? size : BigInt(size))) {
    throw invalid('buffer_size', `The tensors cover ${String(end)} bytes after the header, but the file has ${String(BigInt(size) - BigInt(headerEnd))}.`, {
      expected: String(BigInt(size) - BigInt(headerEnd)),
      actual: String(end),
    })
  }
  return { headerBytes: headerEnd, metadata, tensors: toTensorInfos(entries) }
}

/**
 * The same rules for a header that arrives already parsed (an API body). Token-level rules
 * (duplicate keys, `1.0`) cannot be seen here; numbers must be exact non-negative integers, and
 * offsets are checked for contiguity from 0 (there is no file size to compare with).
 */
export function validateHeaderObject(header: unknown): SafetensorsHeader {
  const { metadata, entries } = collectEntries(header, { checkStrings: true, surrogates: true })
  validateLayout(entries)
  return { headerBytes: 0, metadata, tensors: toTensorInfos(entries) }
}

function rejectForeignFormats(prefix: Uint8Array): void {
  const format = sniffFormat(prefix)
  if (format === 'pickle') {
    throw new CompatInputError(
      'pickle_rejected',
      'This is a Python pickle (a PyTorch .bin or .pt under another name). Pickles run code when loaded and are never opened here; convert the adapter to safetensors.',
      { format },
    )
  }
  if (format === 'zip' || format === 'gguf' || format === 'numpy' || format === 'git_lfs_pointer') {
    const what = {
      zip: 'a zip archive (a PyTorch checkpoint)',
      gguf: 'a llama.cpp GGUF/GGML file',
      numpy: 'a NumPy .npy array',
      git_lfs_pointer: 'a Git LFS pointer, not the file it points to (fetch it with git lfs pull)',
    }[format]
    throw new CompatInputError('unsupported_format', `This is ${what}, not a safetensors file.`, { format })
  }
}

function checkedFileSize(fileSize: number | bigint): number | bigint {
  if (typeof fileSize === 'bigint') {
    if (fileSize < 0n) throw invalid('file_size', 'The file size must be a non-negative integer.')
    return fileSize <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(fileSize) : fileSize
  }
  if (!Number.isSafeInteger(fileSize) || fileSize < 0) throw invalid('file_size', 'The file size must be a non-negative integer.')
  return fileSize
}

type RawFacts = { top: number; inner: number; longNumbers: boolean; escapes: boolean }

/**
 * One pass over the header bytes outside strings: nesting depth, number tokens and key counts
 * (one `:` per key) at depth 1 (tensors, `__metadata__`) and depth 2 (their fields).
 */
function scanTokens(b: Uint8Array): RawFacts {
  const n = b.length
  let depth = 0
  let top = 0
  let inner = 0
  let longNumbers = false
  let backslash = b.indexOf(0x5c)
  const escapes = backslash >= 0
  let i = 0
  while (i < n) {
    const c = b[i] ?? 0
    if (c === 0x22) {
      let from = i + 1
      for (;;) {
        const quote = b.indexOf(0x22, from)
        if (quote < 0) throw invalid('json', 'The header has an unterminated string.')
        if (backslash >= 0 && backslash < quote) {
          let k = quote - 1
          while (b[k] === 0x5c) k--
          if ((quote - 1 - k) % 2 === 1) {
            from = quote + 1
            continue
          }
        }
        i = quote + 1
        break
      }
      if (backslash >= 0 && backslash < i) backslash = b.indexOf(0x5c, i)
      continue
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1
      let integer = c !== 0x2d
      while (j < n) {
        const d = b[j] ?? 0
        if (d >= 0x30 && d <= 0x39) j++
        else if (d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) {
          integer = false
          j++
        } else break
      }
      if (!integer) {
        const token = new TextDecoder().decode(b.subarray(i, j))
        throw invalid('number_form', `Shapes and offsets are non-negative integers written without sign, fraction or exponent; found ${token}.`, { token })
      }
      if (j - i > 15) longNumbers = true
      i = j
      continue
    }
    if (c === 0x7b || c === 0x5b) {
      depth++
      if (depth > 3) throw invalid('nesting', 'The header nests deeper than {tensor: {shape: [...]}}.')
    } else if (c === 0x7d || c === 0x5d) depth--
    else if (c === 0x3a) {
      if (depth === 1) top++
      else if (depth === 2) inner++
    }
    i++
  }
  return { top, inner, longNumbers, escapes }
}

/**
 * Numbers longer than 15 digits may not survive a double: each becomes a negative placeholder
 * (negative tokens are already rejected, so none can collide) indexing an exact BigInt.
 */
function replaceLongNumbers(text: string, bigs: bigint[]): string {
  let out = ''
  let last = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      let from = i + 1
      for (;;) {
        const quote = text.indexOf('"', from)
        if (quote < 0) return out + text.slice(last)
        let k = quote - 1
        while (text.charCodeAt(k) === 0x5c) k--
        if ((quote - 1 - k) % 2 === 1) {
          from = quote + 1
          continue
        }
        i = quote + 1
        break
      }
      continue
    }
    if (c >= 0x30 && c <= 0x39) {
      let j = i + 1
      while (j < n && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x39) j++
      if (j - i > 15) {
        const token = text.slice(i, j)
        if (token.startsWith('0')) throw invalid('json', `The header is not valid JSON: a number has a leading zero (${token}).`)
        if (token.length > 20 || (token.length === 20 && token > U64_MAX_TEXT)) {
          throw invalid('integer_out_of_range', `${token} does not fit an unsigned 64-bit integer.`, { token })
        }
        bigs.push(BigInt(token))
        out += text.slice(last, i) + String(-bigs.length)
        last = j
      }
      i = j
      continue
    }
    i++
  }
  return out + text.slice(last)
}

type CollectOptions = {
  bigs?: bigint[]
  counts?: RawFacts
  /** Check names for control characters (always needed unless the raw bytes rule them out). */
  checkStrings: boolean
  /** Check strings for lone surrogates (only `\u` escapes can produce them). */
  surrogates: boolean
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function collectEntries(root: unknown, options: CollectOptions): { metadata: Record<string, string>; entries: Entry[] } {
  if (!isObject(root)) throw invalid('not_object', 'The header must be a JSON object.')
  const names = Object.keys(root)
  if (names.length - (Object.hasOwn(root, '__metadata__') ? 1 : 0) > MAX_TENSORS) throw invalid('tensor_count', `The header lists ${names.length} entries; the limit is ${MAX_TENSORS} tensors.`)
  let metadata: Record<string, string> = {}
  let innerKeys = 0
  const entries: Entry[] = []
  for (const name of names) {
    const value = root[name]
    if (name === '__metadata__') {
      // serde reads `Option<HashMap<String, String>>`: null is "no metadata".
      if (value === null) continue
      if (!isObject(value)) throw invalid('metadata', '__metadata__ must be an object of strings.')
      const keys = Object.keys(value)
      innerKeys += keys.length
      for (const key of keys) {
        const text = value[key]
        if (typeof text !== 'string') throw invalid('metadata', `__metadata__.${key} must be a string.`, { key })
        if (options.surrogates && (hasLoneSurrogate(key) || hasLoneSurrogate(text))) {
          throw invalid('utf8', `__metadata__.${key} holds an unpaired UTF-16 surrogate escape.`)
        }
        // Only a \u0000 escape can put one there; Postgres text and jsonb refuse it, so a stored header could never be saved.
        if (options.surrogates && (key.includes('\u0000') || text.includes('\u0000'))) {
          throw invalid('nul_character', `__metadata__.${JSON.stringify(key)} holds a NUL character (\\u0000).`)
        }
      }
      metadata = value as Record<string, string>
      continue
    }
    if (options.checkStrings) checkName(name, options.surrogates)
    if (!isObject(value)) throw invalid('tensor_info', `${name}: expected {dtype, shape, data_offsets}.`, { tensor: name })
    const keys = Object.keys(value)
    innerKeys += keys.length
    if (keys.length !== 3 || !('dtype' in value) || !('shape' in value) || !('data_offsets' in value)) {
      const unknown = keys.find((key) => !TENSOR_FIELDS.includes(key))
      if (unknown !== undefined) throw invalid('unknown_field', `${name}: unknown field '${unknown}'.`, { tensor: name, field: unknown })
      const missing = TENSOR_FIELDS.find((key) => !(key in value))
      throw invalid('tensor_info', `${name}: missing field '${missing ?? ''}'.`, { tensor: name, field: missing })
    }
    const dtype = value.dtype
    if (!isDtype(dtype)) throw invalid('dtype', `${name}: unknown dtype ${describeValue(dtype)}.`, { tensor: name })
    const shapeValue = value.shape
    if (!Array.isArray(shapeValue)) throw invalid('shape', `${name}: shape must be an array of non-negative integers.`, { tensor: name })
    const shape: U64[] = new Array<U64>(shapeValue.length)
    for (let i = 0; i < shapeValue.length; i++) {
      const dim = toU64(shapeValue[i], options.bigs)
      if (dim === undefined) throw invalid('shape', `${name}: shape must be an array of non-negative integers.`, { tensor: name })
      shape[i] = dim
    }
    const offsets = value.data_offsets
    if (!Array.isArray(offsets) || offsets.length !== 2) throw invalid('offsets', `${name}: data_offsets must be [begin, end].`, { tensor: name })
    const begin = toU64(offsets[0], options.bigs)
    const end = toU64(offsets[1], options.bigs)
    if (begin === undefined || end === undefined) throw invalid('offsets', `${name}: data_offsets must be non-negative integers.`, { tensor: name })
    entries.push({ name, dtype, shape, begin, end })
  }
  if (options.counts && (options.counts.top !== names.length || options.counts.inner !== innerKeys)) {
    throw invalid('duplicate_key', 'The header repeats a key (compared after unescaping).')
  }
  return { metadata, entries }
}

/** A short description of any value for a message: parsed bodies may nest 100,000 levels deep. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (Array.isArray(value)) return 'an array'
  if (value === null || typeof value !== 'object') return String(value)
  return 'an object'
}

function checkName(name: string, surrogates: boolean): void {
  if (CONTROL_CHARS.test(name)) throw invalid('control_character', `Tensor name ${JSON.stringify(name)} contains a control character.`, { tensor: name })
  if (surrogates && hasLoneSurrogate(name)) throw invalid('utf8', `Tensor name ${JSON.stringify(name)} holds an unpaired UTF-16 surrogate escape.`, { tensor: name })
}

function toU64(value: unknown, bigs: bigint[] | undefined): U64 | undefined {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return Object.is(value, -0) ? undefined : value
    if (bigs && Number.isSafeInteger(value) && value < 0) {
      const exact = bigs[-value - 1]
      return exact !== undefined && exact <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(exact) : exact
    }
    return undefined
  }
  if (typeof value === 'bigint' && value >= 0n && value <= U64_MAX) return value
  return undefined
}

function compareOffsets(a: Entry, b: Entry): number {
  if (a.begin !== b.begin) return a.begin < b.begin ? -1 : 1
  if (a.end !== b.end) return a.end < b.end ? -1 : 1
  return 0
}

/** `Metadata::validate`: sorted by offsets, contiguous from 0, each span exactly the tensor's bytes. */
function validateLayout(entries: Entry[]): U64 {
  for (let i = 1; i < entries.length; i++) {
    const previous = entries[i - 1]
    const current = entries[i]
    if (previous && current && compareOffsets(previous, current) > 0) {
      entries.sort(compareOffsets)
      break
    }
  }
  let start: U64 = 0
  for (const entry of entries) {
    const { begin, end } = entry
    // Mixed number/bigint compare exactly in JS.
    if (begin != start || end < begin) {
      const problem = end < begin ? 'ends before it begins' : begin > start ? `leaves a gap after byte ${String(start)}` : `overlaps the previous tensor (which ends at ${String(start)})`
      throw invalid('offsets', `${entry.name}: data_offsets [${String(begin)}, ${String(end)}] ${problem}.`, { tensor: entry.name })
    }
    start = end
    const bytes = byteSize(entry)
    const span = typeof begin === 'number' && typeof end === 'number' ? end - begin : BigInt(end) - BigInt(begin)
    if (span != bytes) {
      throw invalid('tensor_size', `${entry.name}: ${entry.dtype}${JSON.stringify(entry.shape.map(String))} needs ${String(bytes)} bytes but data_offsets span ${String(span)}.`, {
        tensor: entry.name,
        expected: String(bytes),
        actual: String(span),
      })
    }
  }
  return start
}

/** Elements × bits / 8 with the official overflow rules (`checked_mul` at every step, u64). */
function byteSize(entry: Entry): U64 {
  const bits = DTYPE_BITS[entry.dtype]
  const shape = entry.shape
  let elements = 1
  let i = 0
  for (; i < shape.length; i++) {
    const dim = shape[i]
    if (typeof dim !== 'number') break
    const next = elements * dim
    if (next > Number.MAX_SAFE_INTEGER) break
    elements = next
  }
  if (i === shape.length) {
    const totalBits = elements * bits
    if (totalBits <= Number.MAX_SAFE_INTEGER) {
      if (totalBits % 8 !== 0) throw misaligned(entry)
      return totalBits / 8
    }
  }
  let exact = BigInt(elements)
  for (; i < shape.length; i++) {
    exact *= BigInt(shape[i] ?? 0)
    if (exact > U64_MAX) throw overflow(entry)
  }
  const totalBits = exact * BigInt(bits)
  if (totalBits > U64_MAX) throw overflow(entry)
  if (totalBits % 8n !== 0n) throw misaligned(entry)
  const bytes = totalBits / 8n
  return bytes <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(bytes) : bytes
}

function overflow(entry: Entry): CompatInputError {
  return invalid('overflow', `${entry.name}: the element count of shape [${entry.shape.map(String).join(', ')}] overflows 64 bits.`, { tensor: entry.name })
}

function misaligned(entry: Entry): CompatInputError {
  return invalid('misaligned', `${entry.name}: ${entry.dtype} [${entry.shape.map(String).join(', ')}] is not a whole number of bytes.`, { tensor: entry.name })
}

function toTensorInfos(entries: Entry[]): TensorInfo[] {
  const tensors: TensorInfo[] = new Array<TensorInfo>(entries.length)
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as Entry
    const { begin, end } = entry
    if (typeof begin !== 'number' || typeof end !== 'number' || entry.shape.some((dim) => typeof dim !== 'number')) {
      // Valid for the official reader only with a zero dimension or an exabyte file; never a LoRA.
      throw invalid('integer_too_large', `${entry.name}: a dimension or offset exceeds 2^53 and cannot be represented exactly.`, { tensor: entry.name })
    }
    tensors[i] = { name: entry.name, dtype: entry.dtype, shape: entry.shape as number[], dataOffsets: [begin, end] }
  }
  return tensors
}

/** The largest header the API reads: real LoRA headers are tens of KB; 100k tensors fit in ~10 MB. */
export const MAX_API_HEADER_BYTES = 16 * 1024 * 1024
