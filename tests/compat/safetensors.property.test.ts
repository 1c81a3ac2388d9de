import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { buildSafetensors, CompatInputError, DTYPE_BITS, type Dtype, readSafetensorsHeader, type SafetensorsHeader } from '../../src/compat'

const WHOLE_BYTE_DTYPES = (Object.keys(DTYPE_BITS) as Dtype[]).filter((dtype) => DTYPE_BITS[dtype] % 8 === 0)

const tensorName = fc.oneof(
  fc.stringMatching(/^[a-z_][a-z0-9_.]{0,30}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((name) => !/[\u0000-\u001f\u007f-\u009f]/.test(name) && name !== '__metadata__'),
)

const tensorSpecs = fc.uniqueArray(
  fc.record({ name: tensorName, dtype: fc.constantFrom(...WHOLE_BYTE_DTYPES), shape: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 4 }) }),
  { minLength: 0, maxLength: 12, selector: (spec) => spec.name },
)

const metadata = fc.option(fc.dictionary(fc.string({ maxLength: 8 }).filter((key) => key !== '__proto__'), fc.string({ maxLength: 16 }), { maxKeys: 4 }), { nil: undefined })

/** What a reader that accepted must guarantee, whatever the bytes were. */
function assertInvariants(header: SafetensorsHeader, fileSize: number): void {
  let offset = 0
  for (const tensor of header.tensors) {
    expect(tensor.dataOffsets[0]).toBe(offset)
    const bits = tensor.shape.reduce((product, dim) => product * dim, 1) * DTYPE_BITS[tensor.dtype]
    expect(tensor.dataOffsets[1] - tensor.dataOffsets[0]).toBe(bits / 8)
    expect(/[\u0000-\u001f\u007f-\u009f]/.test(tensor.name)).toBe(false)
    offset = tensor.dataOffsets[1]
  }
  expect(header.headerBytes + offset).toBe(fileSize)
  expect(new Set(header.tensors.map((tensor) => tensor.name)).size).toBe(header.tensors.length)
}

describe('safetensors properties', () => {
  it('round-trips random valid files', () => {
    fc.assert(
      fc.property(tensorSpecs, metadata, (specs, meta) => {
        const file = buildSafetensors(specs, meta)
        const header = readSafetensorsHeader(file, file.length)
        const byName = new Map(header.tensors.map((tensor) => [tensor.name, tensor]))
        expect(byName.size).toBe(specs.length)
        for (const spec of specs) expect(byName.get(spec.name)).toMatchObject({ dtype: spec.dtype, shape: spec.shape })
        expect(header.metadata).toEqual(meta ?? {})
        assertInvariants(header, file.length)
      }),
      { numRuns: 300 },
    )
  })

  it('never crashes and never passes wrongly when header bytes are flipped', () => {
    fc.assert(
      fc.property(
        tensorSpecs.filter((specs) => specs.length > 0),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (specs, flips) => {
          const file = buildSafetensors(specs)
          const headerEnd = 8 + Number(new DataView(file.buffer).getBigUint64(0, true))
          for (const [position, value] of flips) file[position % headerEnd] = value
          try {
            const header = readSafetensorsHeader(file, file.length)
            assertInvariants(header, file.length)
          } catch (error) {
            expect(error).toBeInstanceOf(CompatInputError)
          }
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('answers any bytes with a header or a CompatInputError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 1000 }), (bytes, extra) => {
        try {
          const header = readSafetensorsHeader(bytes, bytes.length + extra)
          assertInvariants(header, bytes.length + extra)
        } catch (error) {
          expect(error).toBeInstanceOf(CompatInputError)
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('asks for exactly the missing bytes on any truncated prefix', () => {
    fc.assert(
      fc.property(tensorSpecs, fc.nat(), (specs, cut) => {
        const file = buildSafetensors(specs)
        const headerEnd = 8 + Number(new DataView(file.buffer).getBigUint64(0, true))
        const length = cut % (headerEnd + 1)
        try {
          readSafetensorsHeader(file.subarray(0, length), file.length)
          expect(length).toBe(headerEnd)
        } catch (error) {
          expect(error).toBeInstanceOf(CompatInputError)
          expect((error as CompatInputError).code).toBe('incomplete_header')
          expect((error as CompatInputError).extra?.needBytes).toBe(length < 8 ? 8 : headerEnd)
        }
      }),
      { numRuns: 300 },
    )
  })
})
