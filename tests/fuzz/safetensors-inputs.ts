import fc from 'fast-check'
import { buildSafetensors } from '../../src/compat'
import { peftFolder } from '../helpers/adapters'
import { concat, fileOf, pathsIn, setAt } from './common'

/** Real PEFT safetensors files and the ways fuzzing breaks them (shared by the reader and API suites). */

export const FOLDERS = [
  peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }),
  peftFolder({ base: 'Qwen/Qwen-7B', modules: ['attn.c_attn'], r: 8 }),
  peftFolder({ base: 'THUDM/chatglm3-6b', modules: ['self_attention.query_key_value'], layers: [0, 27] }),
  peftFolder({ base: 'openai-community/gpt2', modules: ['attn.c_attn', 'mlp.c_fc'], r: 2 }),
]
export const FILES = [
  ...FOLDERS.map((folder) => fileOf(folder, 'adapter_model.safetensors')),
  buildSafetensors([{ name: '__proto__', dtype: 'F32', shape: [2] }, { name: 'é 𝟘', dtype: 'I8', shape: [3, 1] }], { format: 'pt', '': 'empty' }),
  buildSafetensors([]),
]

export const headerLength = (file: Uint8Array) => Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true))
export const headerText = (file: Uint8Array) => new TextDecoder().decode(file.subarray(8, 8 + headerLength(file)))

/** A file around new header text: the length field right, the data region kept as long as before. */
export function withHeaderText(file: Uint8Array, text: string): Uint8Array {
  const json = new TextEncoder().encode(text)
  const data = file.length - 8 - headerLength(file)
  const out = new Uint8Array(8 + json.length + Math.max(0, data))
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  return out
}

const RAW = '@@raw-token@@'
/** JSON tokens that `JSON.stringify` cannot write or that test the number rules. */
export const rawTokens = fc.constantFrom(
  '-1',
  '-0',
  '0',
  '1.5',
  '1.0',
  '1e3',
  '1E+2',
  '1e400',
  '-1e400',
  '007',
  '9007199254740991',
  '9007199254740993',
  '18446744073709551615',
  '18446744073709551616',
  '99999999999999999999999999',
  '"F16"',
  '"BOOL"',
  '"F8_E4M3"',
  '"f16"',
  '"\\u0000"',
  '"\\ud800"',
  'null',
  'true',
  '[]',
  '{}',
  '[0,0]',
  '[[1]]',
  '"__proto__"',
  '{"__proto__":{"polluted":true}}',
  `${'['.repeat(1000)}${']'.repeat(1000)}`,
)

/** The raw tokens that are JSON on their own, parsed. */
export const parsedTokens = rawTokens
  .filter((token) => {
    try {
      JSON.parse(token)
      return true
    } catch {
      return false
    }
  })
  .map((token) => JSON.parse(token) as unknown)

export type Mutation = (file: Uint8Array) => { bytes: Uint8Array; fileSize: number }

export const byteMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, value]): Mutation => (file) => {
    const bytes = file.slice()
    bytes[at % bytes.length] = value
    return { bytes, fileSize: bytes.length }
  }),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([at, insert]): Mutation => (file) => {
    const cut = at % (file.length + 1)
    const bytes = concat(file.subarray(0, cut), insert, file.subarray(cut))
    return { bytes, fileSize: bytes.length }
  }),
  fc.tuple(fc.nat(), fc.nat({ max: 64 })).map(([at, count]): Mutation => (file) => {
    const cut = at % (file.length + 1)
    const bytes = concat(file.subarray(0, cut), file.subarray(cut + count))
    return { bytes, fileSize: bytes.length }
  }),
  fc.tuple(fc.nat(), fc.nat(), fc.nat({ max: 80 })).map(([from, to, count]): Mutation => (file) => {
    const start = from % file.length
    const cut = to % (file.length + 1)
    const copy = file.subarray(start, start + count)
    const bytes = concat(file.subarray(0, cut), copy, file.subarray(cut))
    return { bytes, fileSize: bytes.length }
  }),
  // The length field: any u64, or off by a little.
  fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.integer({ min: -16, max: 16 }).map((delta) => delta)).map((length): Mutation => (file) => {
    const bytes = file.slice()
    const view = new DataView(bytes.buffer)
    const value = typeof length === 'bigint' ? length : BigInt(Math.max(0, headerLength(file) + length))
    view.setBigUint64(0, value, true)
    return { bytes, fileSize: bytes.length }
  }),
  // The declared file size disagrees with the bytes, or only a prefix is given.
  fc.tuple(fc.integer({ min: -1000, max: 1000 }), fc.boolean()).map(([delta, prefixOnly]): Mutation => (file) => {
    const bytes = prefixOnly ? file.subarray(0, Math.min(file.length, 8 + headerLength(file))) : file
    return { bytes, fileSize: Math.max(0, file.length + delta) }
  }),
)

/** Mutates the parsed header (a value swapped for a raw token, a key renamed or duplicated) and re-encodes it. */
export const jsonMutation: fc.Arbitrary<Mutation> = fc.tuple(fc.nat(), rawTokens, fc.constantFrom('value', 'rename', 'duplicate'), fc.constantFrom('__proto__', '__metadata__', 'constructor', 'dtype', 'shape', '', 'x')).map(
  ([pick, token, how, key]): Mutation =>
    (file) => {
      const text = headerText(file).trimEnd()
      let root: unknown
      try {
        root = JSON.parse(text)
      } catch {
        root = undefined
      }
      if (typeof root !== 'object' || root === null) return { bytes: file, fileSize: file.length }
      const paths = pathsIn(root)
      const path = paths[pick % paths.length] ?? []
      let mutated: string
      if (how === 'value') mutated = JSON.stringify(setAt(root, path, RAW)).replace(JSON.stringify(RAW), token)
      else {
        // Text-level, so duplicates survive: `{"a":…,"a":…}`, or a key renamed after unescaping.
        const name = path.length > 0 ? String(path[path.length - 1]) : Object.keys(root)[0] ?? 'x'
        const quoted = JSON.stringify(name)
        const at = text.indexOf(`${quoted}:`)
        if (at < 0) mutated = text
        else if (how === 'rename') mutated = `${text.slice(0, at)}${JSON.stringify(key)}${text.slice(at + quoted.length)}`
        else mutated = `${text.slice(0, at)}${quoted}:${token},${text.slice(at)}`
      }
      const bytes = withHeaderText(file, mutated)
      return { bytes, fileSize: bytes.length }
    },
)
