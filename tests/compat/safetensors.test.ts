import { describe, expect, it } from 'vitest'
import { CompatInputError, DTYPE_BITS, DTYPES, MAX_TENSORS, readSafetensorsHeader, sniffFormat, validateHeaderObject } from '../../src/compat'

/** A file: u64 LE header length, the header bytes as given, then `dataBytes` zero bytes. */
function craft(header: string | Uint8Array, dataBytes = 0, lengthField?: bigint): Uint8Array {
  const json = typeof header === 'string' ? new TextEncoder().encode(header) : header
  const file = new Uint8Array(8 + json.length + dataBytes)
  new DataView(file.buffer).setBigUint64(0, lengthField ?? BigInt(json.length), true)
  file.set(json, 8)
  return file
}

function read(file: Uint8Array, size: number | bigint = file.length) {
  return readSafetensorsHeader(file, size)
}

function failure(run: () => unknown): { code: string; rule?: unknown; extra?: Record<string, unknown> } {
  try {
    run()
  } catch (error) {
    if (!(error instanceof CompatInputError)) throw error
    return { code: error.code, rule: error.extra?.rule, extra: error.extra }
  }
  throw new Error('expected a CompatInputError')
}

const t = (dtype: string, shape: unknown, offsets: unknown) => JSON.stringify({ dtype, shape, data_offsets: offsets })

describe('readSafetensorsHeader accepts what the official parser accepts', () => {
  it("reads the official serializer's output byte for byte (tensor.rs test_serialization)", () => {
    const bytes = new Uint8Array([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97,
      112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0,
      0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ])
    const header = read(bytes)
    expect(header).toEqual({ headerBytes: 72, metadata: {}, tensors: [{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], dataOffsets: [0, 24] }] })
  })

  it('reads the empty file, with and without metadata (test_empty)', () => {
    expect(read(new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])).tensors).toEqual([])
    const withMetadata = craft('{"__metadata__":{"framework":"pt"}}     ')
    expect(read(withMetadata).metadata).toEqual({ framework: 'pt' })
  })

  it('accepts __metadata__: null, whitespace, newlines and padding', () => {
    const header = read(craft(`{\n  "__metadata__": null,\n  "a": ${t('F16', [2], [0, 4])}\n}\n\t  `, 4))
    expect(header.metadata).toEqual({})
    expect(header.tensors).toHaveLength(1)
  })

  it('sorts tensors by offsets whatever the key order', () => {
    const header = read(craft(`{"b":${t('F32', [1], [4, 8])},"a":${t('F32', [1], [0, 4])}}`, 8))
    expect(header.tensors.map((tensor) => tensor.name)).toEqual(['a', 'b'])
  })

  it('accepts scalars, zero-size tensors and every dtype with its bit size', () => {
    const header = read(craft(`{"s":${t('F64', [], [0, 8])},"z":${t('F32', [0, 4], [8, 8])}}`, 8))
    expect(header.tensors.map((tensor) => tensor.shape)).toEqual([[], [0, 4]])
    for (const dtype of DTYPES) {
      const bytes = (8 * DTYPE_BITS[dtype]) / 8
      expect(read(craft(`{"x":${t(dtype, [2, 4], [0, bytes])}}`, bytes)).tensors[0]?.dtype).toBe(dtype)
    }
    expect(read(craft(`{"x":${t('F4', [2], [0, 1])}}`, 1)).tensors).toHaveLength(1)
    expect(read(craft(`{"x":${t('F6_E2M3', [4], [0, 3])}}`, 3)).tensors).toHaveLength(1)
  })

  it('accepts unicode and escaped names', () => {
    const header = read(craft(`{"\\u00e9t\\u00e9":${t('U8', [1], [0, 1])},"层":${t('U8', [1], [1, 2])}}`, 2))
    expect(header.tensors.map((tensor) => tensor.name)).toEqual(['été', '层'])
  })

  it('takes the exact BigInt path for numbers longer than a double holds', () => {
    const header = read(craft(`{"z":${t('F32', [0, 1234567890123456], [0, 0])}}`, 0))
    expect(header.tensors[0]?.shape).toEqual([0, 1234567890123456])
  })

  it('accepts a bigint file size', () => {
    const file = craft(`{"a":${t('U8', [3], [0, 3])}}`, 3)
    expect(read(file, BigInt(file.length)).tensors).toHaveLength(1)
  })
})

describe('readSafetensorsHeader rejects what the official parser rejects', () => {
  const cases: [string, () => Uint8Array, { code: string; rule?: string }, (number | bigint)?][] = [
    ['a file under 8 bytes (HeaderTooSmall)', () => new Uint8Array([1, 0, 0]), { code: 'invalid_safetensors', rule: 'header_too_small' }],
    ['a header over 100,000,000 bytes (HeaderTooLarge)', () => craft('{}', 0, 100_000_001n), { code: 'header_too_large' }],
    ['a length with high bits set', () => craft('{}', 0, 1n << 40n), { code: 'header_too_large' }],
    ['a header reaching past the file (InvalidHeaderLength)', () => craft('{}', 0, 64n), { code: 'invalid_safetensors', rule: 'header_outside_file' }],
    ['invalid UTF-8 (InvalidHeader)', () => craft(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), { code: 'invalid_safetensors', rule: 'utf8' }],
    ['a byte-order mark', () => craft(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), { code: 'invalid_safetensors', rule: 'bom' }],
    ['leading whitespace (InvalidHeaderStart)', () => craft(' {}'), { code: 'invalid_safetensors', rule: 'header_start' }],
    ['a top-level array', () => craft('[]'), { code: 'invalid_safetensors', rule: 'header_start' }],
    ['truncated JSON', () => craft('{"a":'), { code: 'invalid_safetensors', rule: 'json' }],
    ['trailing characters', () => craft('{}x'), { code: 'invalid_safetensors', rule: 'json' }],
    ['NUL padding', () => craft('{}\u0000\u0000'), { code: 'invalid_safetensors', rule: 'json' }],
    ['an unterminated string', () => craft('{"abc'), { code: 'invalid_safetensors', rule: 'json' }],
    ['__metadata__ with a number value', () => craft('{"__metadata__":{"epoch":3}}'), { code: 'invalid_safetensors', rule: 'metadata' }],
    ['__metadata__ as a list', () => craft('{"__metadata__":["pt"]}'), { code: 'invalid_safetensors', rule: 'metadata' }],
    ['an unknown dtype', () => craft(`{"a":${t('F17', [1], [0, 4])}}`, 4), { code: 'invalid_safetensors', rule: 'dtype' }],
    ['a lowercase dtype', () => craft(`{"a":${t('f32', [1], [0, 4])}}`, 4), { code: 'invalid_safetensors', rule: 'dtype' }],
    ['a float in a shape (1.0)', () => craft('{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}', 4), { code: 'invalid_safetensors', rule: 'number_form' }],
    ['an exponent (1e0)', () => craft('{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}', 4), { code: 'invalid_safetensors', rule: 'number_form' }],
    ['a negative dimension', () => craft('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', 4), { code: 'invalid_safetensors', rule: 'number_form' }],
    ['negative zero', () => craft('{"a":{"dtype":"F32","shape":[-0],"data_offsets":[0,0]}}'), { code: 'invalid_safetensors', rule: 'number_form' }],
    ['a string dimension', () => craft('{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}', 4), { code: 'invalid_safetensors', rule: 'shape' }],
    ['a leading zero in a long number', () => craft('{"a":{"dtype":"F32","shape":[0000000000000000001],"data_offsets":[0,4]}}', 4), { code: 'invalid_safetensors', rule: 'json' }],
    ['three data_offsets', () => craft('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}}', 1), { code: 'invalid_safetensors', rule: 'offsets' }],
    ['a missing field', () => craft('{"a":{"dtype":"U8","shape":[1]}}', 1), { code: 'invalid_safetensors', rule: 'tensor_info' }],
    ['a tensor that is not an object', () => craft('{"a":5}'), { code: 'invalid_safetensors', rule: 'tensor_info' }],
    ['a gap before the first tensor (InvalidOffset)', () => craft(`{"a":${t('U8', [1], [1, 2])}}`, 2), { code: 'invalid_safetensors', rule: 'offsets' }],
    ['overlapping tensors', () => craft(`{"a":${t('U8', [2], [0, 2])},"b":${t('U8', [2], [1, 3])}}`, 3), { code: 'invalid_safetensors', rule: 'offsets' }],
    ['a gap between tensors', () => craft(`{"a":${t('U8', [1], [0, 1])},"b":${t('U8', [1], [2, 3])}}`, 3), { code: 'invalid_safetensors', rule: 'offsets' }],
    ['an end before the begin', () => craft(`{"a":${t('U8', [0], [0, 0])},"b":${t('U8', [0], [1, 0])}}`, 1), { code: 'invalid_safetensors', rule: 'offsets' }],
    ['a size that disagrees with the shape (TensorInvalidInfo)', () => craft(`{"a":${t('F32', [2], [0, 4])}}`, 4), { code: 'invalid_safetensors', rule: 'tensor_size' }],
    ['a sub-byte tensor (MisalignedSlice)', () => craft(`{"a":${t('F4', [3], [0, 2])}}`, 2), { code: 'invalid_safetensors', rule: 'misaligned' }],
    ['an element count overflowing u64 before a zero (ValidationOverflow)', () => craft('{"a":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}'), { code: 'invalid_safetensors', rule: 'overflow' }],
    ['a byte count overflowing u64', () => craft('{"a":{"dtype":"F64","shape":[18446744073709551615],"data_offsets":[0,0]}}'), { code: 'invalid_safetensors', rule: 'overflow' }],
    ['a number beyond u64', () => craft('{"a":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,0]}}'), { code: 'invalid_safetensors', rule: 'integer_out_of_range' }],
    ['a buffer longer than the tensors (MetadataIncompleteBuffer)', () => craft(`{"a":${t('U8', [1], [0, 1])}}`, 2), { code: 'invalid_safetensors', rule: 'buffer_size' }],
    ['a buffer shorter than the tensors', () => craft(`{"a":${t('U8', [4], [0, 4])}}`, 3), { code: 'invalid_safetensors', rule: 'buffer_size' }],
  ]
  it.each(cases)('rejects %s', (_case, file, expected, size) => {
    const bytes = file()
    const result = failure(() => read(bytes, size ?? bytes.length))
    expect(result.code).toBe(expected.code)
    if (expected.rule) expect(result.rule).toBe(expected.rule)
  })
})

describe('readSafetensorsHeader is stricter where safety asks', () => {
  it.each([
    ['a repeated tensor name', `{"a":${t('U8', [1], [0, 1])},"a":${t('U8', [1], [0, 1])}}`, 1, 'duplicate_key'],
    ['a name repeated through an escape', `{"a":${t('U8', [1], [0, 1])},"\\u0061":${t('U8', [1], [0, 1])}}`, 1, 'duplicate_key'],
    ['a repeated field', '{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1, 'duplicate_key'],
    ['a repeated metadata key', '{"__metadata__":{"k":"a","k":"b"}}', 0, 'duplicate_key'],
    ['an unknown field', '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}', 1, 'unknown_field'],
    ['a control character in a name', `{"a\\u0001":${t('U8', [1], [0, 1])}}`, 1, 'control_character'],
    ['a DEL in a name', `{"a\u007f":${t('U8', [1], [0, 1])}}`, 1, 'control_character'],
    ['a lone surrogate in a name', `{"a\\ud800":${t('U8', [1], [0, 1])}}`, 1, 'utf8'],
    ['nesting deeper than a header needs', '{"a":{"dtype":"U8","shape":[[1]],"data_offsets":[0,1]}}', 1, 'nesting'],
    ['a dimension past 2^53 (exact but not representable)', `{"z":${t('F32', [0, 9007199254740993], [0, 0])}}`, 0, 'integer_too_large'],
  ])('rejects %s', (_case, header, data, rule) => {
    expect(failure(() => read(craft(header, data)))).toMatchObject({ code: 'invalid_safetensors', rule })
  })

  it(`caps the tensor count at ${MAX_TENSORS}`, () => {
    const header: Record<string, unknown> = {}
    for (let i = 0; i <= MAX_TENSORS; i++) header[`t${i}`] = { dtype: 'U8', shape: [0], data_offsets: [0, 0] }
    expect(failure(() => validateHeaderObject(header))).toMatchObject({ code: 'invalid_safetensors', rule: 'tensor_count' })
  })
})

describe('reading from a prefix', () => {
  const file = craft(`{"__metadata__":{"format":"pt"},"a":${t('F16', [4, 4], [0, 32])}}`, 32)
  const headerEnd = file.length - 32

  it('asks for the header length first, then for the whole header', () => {
    expect(failure(() => readSafetensorsHeader(file.subarray(0, 3), file.length))).toMatchObject({ code: 'incomplete_header', extra: { needBytes: 8 } })
    expect(failure(() => readSafetensorsHeader(file.subarray(0, 20), file.length))).toMatchObject({ code: 'incomplete_header', extra: { needBytes: headerEnd } })
  })

  it('validates from exactly 8 + N bytes and the file size', () => {
    expect(readSafetensorsHeader(file.subarray(0, headerEnd), file.length).headerBytes).toBe(headerEnd)
  })
})

describe('sniffing foreign formats first', () => {
  const pad = (bytes: number[]) => new Uint8Array([...bytes, ...new Array(32).fill(0)])
  it.each([
    ['a pickle (torch legacy .bin)', pad([0x80, 0x02, 0x8a, 0x0a]), 'pickle', 'pickle_rejected'],
    ['a protocol-5 pickle', pad([0x80, 0x05, 0x95]), 'pickle', 'pickle_rejected'],
    ['a zip (torch.save default)', pad([0x50, 0x4b, 0x03, 0x04]), 'zip', 'unsupported_format'],
    ['a GGUF file', pad([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0]), 'gguf', 'unsupported_format'],
    ['an old llama.cpp LoRA (ggla)', pad([0x61, 0x6c, 0x67, 0x67]), 'gguf', 'unsupported_format'],
    ['a NumPy array', pad([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]), 'numpy', 'unsupported_format'],
    ['a Git LFS pointer', new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:6e50\nsize 209876621\n'), 'git_lfs_pointer', 'unsupported_format'],
  ])('recognises %s', (_case, bytes, format, code) => {
    expect(sniffFormat(bytes)).toBe(format)
    expect(failure(() => readSafetensorsHeader(bytes, 10_000)).code).toBe(code)
  })

  it('recognises safetensors and leaves other bytes unknown', () => {
    expect(sniffFormat(craft('{}'))).toBe('safetensors')
    expect(sniffFormat(new TextEncoder().encode('hello world, not a tensor file'))).toBe('unknown')
    expect(sniffFormat(new Uint8Array())).toBe('unknown')
  })
})

describe('validateHeaderObject', () => {
  it('applies the same rules to a parsed header, offsets checked for contiguity only', () => {
    const header = validateHeaderObject({ __metadata__: { format: 'pt' }, b: { dtype: 'F16', shape: [2], data_offsets: [4, 8] }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } })
    expect(header.headerBytes).toBe(0)
    expect(header.tensors.map((tensor) => tensor.name)).toEqual(['a', 'b'])
  })

  it.each([
    ['a negative number', { a: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } }, 'shape'],
    ['a fraction', { a: { dtype: 'U8', shape: [1.5], data_offsets: [0, 1] } }, 'shape'],
    ['negative zero', { a: { dtype: 'U8', shape: [-0], data_offsets: [0, 0] } }, 'shape'],
    ['an unsafe integer', { a: { dtype: 'U8', shape: [2 ** 60], data_offsets: [0, 0] } }, 'shape'],
    ['a gap', { a: { dtype: 'U8', shape: [1], data_offsets: [1, 2] } }, 'offsets'],
    ['a wrong size', { a: { dtype: 'F32', shape: [1], data_offsets: [0, 2] } }, 'tensor_size'],
    ['a non-object', ['a'], 'not_object'],
  ])('rejects %s', (_case, header, rule) => {
    expect(failure(() => validateHeaderObject(header))).toMatchObject({ code: 'invalid_safetensors', rule })
  })
})

describe('sniffing regressions', () => {
  it('does not take a safetensors file whose header length is 640 (80 02 00 …) for a pickle', () => {
    const header = `{"a":${JSON.stringify({ dtype: 'U8', shape: [0], data_offsets: [0, 0] })}}`.padEnd(640, ' ')
    const file = new Uint8Array(8 + 640)
    new DataView(file.buffer).setBigUint64(0, 640n, true)
    file.set(new TextEncoder().encode(header), 8)
    expect([...file.subarray(0, 2)]).toEqual([0x80, 0x02])
    expect(sniffFormat(file)).toBe('safetensors')
    expect(readSafetensorsHeader(file, file.length).tensors).toHaveLength(1)
  })
})
