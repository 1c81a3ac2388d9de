import fc from 'fast-check'
import { beforeAll, expect, it } from 'vitest'
import { CompatInputError, DTYPE_BITS, type Dtype, DTYPES, readSafetensorsHeader } from '../../src/compat'
import { describeOracle, runPython } from '../helpers/python'

/**
 * Refinery's strict reader against the official safetensors library (its Rust core, through
 * `safetensors.deserialize`), on thousands of generated files: valid ones and ones corrupted at
 * the byte, JSON and layout level. Every file the library refuses, Refinery refuses; every file it
 * accepts, Refinery accepts unless one of the stricter rules below says why not.
 */

/** Rules (CompatInputError extra.rule) where Refinery refuses what the library accepts, and why. */
export const STRICTER_RULES: Record<string, string> = {
  duplicate_key: 'a repeated key is ambiguous (serde keeps the last one silently); a validator must not guess which tensor a loader sees',
  unknown_field: 'a tensor entry with fields beyond dtype/shape/data_offsets is not written by any safetensors writer',
  control_character: 'control characters in tensor names are unprintable in reports and logs',
  nul_character: 'Postgres text and jsonb cannot store NUL, and metadata is stored',
  utf8: 'unpaired UTF-16 surrogate escapes cannot be stored as UTF-8 text',
  integer_too_large: 'dimensions or offsets above 2^53 cannot be represented exactly in JSON numbers read by JavaScript clients',
  tensor_count: 'Refinery caps a header at 100,000 tensors (LoRA files hold thousands at most)',
}

const WHOLE_BYTE = DTYPES.filter((dtype) => DTYPE_BITS[dtype] % 8 === 0)

type Spec = { name: string; dtype: Dtype; shape: number[] }

const specs = fc.uniqueArray(
  fc.record({
    name: fc.oneof(fc.stringMatching(/^[a-z][a-z0-9_.]{0,12}$/), fc.string({ minLength: 1, maxLength: 6 })),
    dtype: fc.constantFrom(...WHOLE_BYTE),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  }),
  { minLength: 0, maxLength: 5, selector: (spec) => spec.name },
)

/** One way to write or break a file; each returns the header's JSON text and the data size. */
type Layout = { json: string; dataBytes: number }

function entries(list: Spec[]): { name: string; dtype: string; shape: unknown[]; offsets: unknown[] }[] {
  let offset = 0
  return list.map((spec) => {
    const bytes = (spec.shape.reduce((product, dim) => product * dim, 1) * DTYPE_BITS[spec.dtype]) / 8
    const entry = { name: spec.name, dtype: spec.dtype as string, shape: spec.shape as unknown[], offsets: [offset, offset + bytes] as unknown[] }
    offset += bytes
    return entry
  })
}

function serialize(list: ReturnType<typeof entries>, metadata: Record<string, unknown> | undefined, extra = ''): string {
  const parts: string[] = []
  if (metadata) parts.push(`"__metadata__":${JSON.stringify(metadata)}`)
  for (const entry of list) {
    const offsets = entry.offsets.map((value) => (typeof value === 'string' ? value : JSON.stringify(value))).join(',')
    const shape = entry.shape.map((value) => (typeof value === 'string' ? value : JSON.stringify(value))).join(',')
    parts.push(`${JSON.stringify(entry.name)}:{"dtype":${JSON.stringify(entry.dtype)},"shape":[${shape}],"data_offsets":[${offsets}]${extra}}`)
  }
  return `{${parts.join(',')}}`
}

const dataSize = (list: ReturnType<typeof entries>) => list.reduce((max, entry) => Math.max(max, Number(entry.offsets[1]) || 0), 0)

const JSON_MUTATIONS: ((list: ReturnType<typeof entries>, pick: number) => Layout | undefined)[] = [
  (list) => ({ json: serialize(list, undefined), dataBytes: dataSize(list) }),
  (list) => ({ json: serialize(list, { format: 'pt', note: 'ok' }), dataBytes: dataSize(list) }),
  (list, pick) => {
    // one offset moved: gaps, overlaps, reversed ranges
    const entry = list[pick % Math.max(list.length, 1)]
    if (!entry) return undefined
    entry.offsets = [entry.offsets[0], Number(entry.offsets[1]) + ((pick % 5) - 2)]
    return { json: serialize(list, undefined), dataBytes: dataSize(list) }
  },
  (list, pick) => {
    const entry = list[pick % Math.max(list.length, 1)]
    if (!entry) return undefined
    entry.shape = [...entry.shape, ['1.0', '-0', '1e0', '-1', '01', '2', '18446744073709551616', '9007199254740993'][pick % 8]]
    return { json: serialize(list, undefined), dataBytes: dataSize(list) }
  },
  (list, pick) => {
    const entry = list[pick % Math.max(list.length, 1)]
    if (!entry) return undefined
    entry.dtype = ['F4', 'f32', 'I128', 'BF16', 'F8_E4M3', 'E8M0', 'BOOL', ''][pick % 8] ?? 'F32'
    return { json: serialize(list, undefined), dataBytes: dataSize(list) }
  },
  (list) => ({ json: serialize(list, undefined, ',"extra":1'), dataBytes: dataSize(list) }),
  (list) => {
    const first = list[0]
    if (!first) return undefined
    return { json: serialize([...list, { ...first }], undefined), dataBytes: dataSize(list) }
  },
  (list, pick) => ({ json: serialize(list, [{ a: 1 }, { a: 'x\u0000y' }, { '': '' }, []][pick % 4] as Record<string, unknown>), dataBytes: dataSize(list) }),
  (list, pick) => {
    const entry = list[pick % Math.max(list.length, 1)]
    if (!entry) return undefined
    entry.name = ['a\u0001b', '__metadata__', 'é', '\ud800', 'x\u007f'][pick % 5] ?? 'x'
    return { json: serialize(list, undefined), dataBytes: dataSize(list) }
  },
]

type FileCase = { bytes: Uint8Array; kind: string }

const fileCase: fc.Arbitrary<FileCase> = fc
  .record({
    list: specs,
    mutation: fc.nat(JSON_MUTATIONS.length - 1),
    pick: fc.nat(100),
    padding: fc.constantFrom(' ', '\n', '\t', '\u0000'),
    bytes: fc.constantFrom('none', 'none', 'none', 'none', 'none', 'flip', 'truncate', 'append', 'length', 'prefix'),
    position: fc.nat(10_000),
    value: fc.integer({ min: 0, max: 255 }),
  })
  .map(({ list, mutation, pick, padding, bytes: byteMutation, position, value }) => {
    const layout = JSON_MUTATIONS[mutation]?.(entries(list), pick) ?? { json: serialize(entries(list), undefined), dataBytes: dataSize(entries(list)) }
    const json = new TextEncoder().encode(layout.json)
    const padded = Math.ceil(json.length / 8) * 8
    const file = new Uint8Array(8 + padded + layout.dataBytes)
    file.fill(padding.charCodeAt(0), 8 + json.length, 8 + padded)
    new DataView(file.buffer).setBigUint64(0, BigInt(padded), true)
    file.set(json, 8)
    let out = file
    if (byteMutation === 'flip') out[8 + (position % Math.max(padded, 1))] = value
    if (byteMutation === 'truncate') out = out.slice(0, Math.max(0, out.length - 1 - (position % 9)))
    if (byteMutation === 'append') out = Uint8Array.from([...out, ...new Uint8Array(1 + (position % 9))])
    if (byteMutation === 'length') new DataView(out.buffer).setBigUint64(0, BigInt(Math.max(0, padded + (position % 17) - 8)), true)
    if (byteMutation === 'prefix') out[position % 8] = value
    return { bytes: out, kind: `${mutation}/${byteMutation}` }
  })

/** Seeded: the same files on every run, so a failure is a change in Refinery or the library. */
const FILES = fc.sample(fileCase, { seed: 2026, numRuns: 4000 })

function refineryVerdict(bytes: Uint8Array): { accepted: boolean; rule?: string } {
  try {
    readSafetensorsHeader(bytes, bytes.length)
    return { accepted: true }
  } catch (error) {
    if (!(error instanceof CompatInputError)) throw error
    const rule = error.extra?.rule
    return { accepted: false, rule: typeof rule === 'string' ? rule : error.code }
  }
}

describeOracle('the strict reader against the official safetensors library', () => {
  let official: [boolean, string][]

  beforeAll(async () => {
    official = await runPython<[boolean, string][]>('tests/oracle/safetensors_verdicts.py', { files: FILES.map((file) => Buffer.from(file.bytes).toString('base64')) })
  }, 300_000)

  it('refuses every file the library refuses, and accepts every file it accepts unless a stricter rule says why', () => {
    const tally = { files: FILES.length, bothAccept: 0, bothRefuse: 0, stricter: {} as Record<string, number> }
    const wrong: string[] = []
    FILES.forEach((file, index) => {
      const [accepted, message] = official[index] ?? [false, 'missing']
      const ours = refineryVerdict(file.bytes)
      if (accepted && ours.accepted) tally.bothAccept++
      else if (!accepted && !ours.accepted) tally.bothRefuse++
      else if (accepted && ours.rule !== undefined && ours.rule in STRICTER_RULES) tally.stricter[ours.rule] = (tally.stricter[ours.rule] ?? 0) + 1
      else {
        const header = new TextDecoder().decode(file.bytes.slice(8, Math.min(file.bytes.length, 400)))
        wrong.push(`${file.kind}: official ${accepted ? 'accepts' : `refuses (${message})`}, Refinery ${ours.accepted ? 'accepts' : `refuses (${ours.rule})`}: ${JSON.stringify(header)}`)
      }
    })
    console.log('safetensors oracle:', JSON.stringify(tally))
    expect(tally.bothAccept).toBeGreaterThan(300)
    expect(tally.bothRefuse).toBeGreaterThan(300)
    expect(wrong.slice(0, 20)).toEqual([])
  })
})
