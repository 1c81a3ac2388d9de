import type { AdapterFile } from '../helpers/adapters'

/** Multiplies every fuzz run count: `FUZZ_SCALE=20 npx vitest run tests/fuzz` for a long local run. */
export const FUZZ_SCALE = (() => {
  const value = Number(process.env.FUZZ_SCALE ?? '1')
  if (!Number.isFinite(value) || value <= 0) throw new Error(`FUZZ_SCALE must be a positive number, got ${process.env.FUZZ_SCALE}`)
  return value
})()

export const runs = (count: number) => Math.max(1, Math.round(count * FUZZ_SCALE))

export function fileOf(files: AdapterFile[], path: string): Uint8Array {
  const file = files.find((candidate) => candidate.path === path)
  if (!file) throw new Error(`no ${path} in the folder`)
  return file.bytes
}

export const textOf = (files: AdapterFile[], path: string) => new TextDecoder().decode(fileOf(files, path))

/** The JSON header of a folder's safetensors file, as an API client would send it. */
export function headerObjectOf(files: AdapterFile[]): Record<string, unknown> {
  const bytes = fileOf(files, 'adapter_model.safetensors')
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)))
}

/** Concatenates byte arrays (spreading a 500 KB file into an array per run would dominate the run time). */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

export type Path = (string | number)[]

/** Paths to every value inside a JSON value, the root included, down to `maxDepth` levels. */
export function pathsIn(value: unknown, maxDepth = Number.POSITIVE_INFINITY, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix)
  if (prefix.length >= maxDepth || typeof value !== 'object' || value === null) return out
  for (const [key, child] of Object.entries(value)) pathsIn(child, maxDepth, [...prefix, Array.isArray(value) ? Number(key) : key], out)
  return out
}

/** A copy with the value at `path` replaced (removed when `value` is undefined). */
export function setAt(root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value
  const copy = structuredClone(root) as Record<string | number, unknown>
  let node = copy
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>
  const last = path[path.length - 1] as string | number
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(Number(last), 1)
    else delete node[last]
  } else {
    // defineProperty: assigning '__proto__' would change the prototype instead of adding the key.
    Object.defineProperty(node, last, { value, enumerable: true, configurable: true, writable: true })
  }
  return copy
}
