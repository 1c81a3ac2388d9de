import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { buildSafetensorsHeader, CompatInputError, MAX_HEADER_SIZE, MAX_TENSORS, readSafetensorsHeader, type SafetensorsHeader } from '../../src/compat'
import { MAX_API_HEADER_BYTES } from '../../src/compat/safetensors'
import { createHarness } from '../helpers/harness'
import { concat, runs } from './common'
import { byteMutation, FILES, headerLength, jsonMutation, withHeaderText } from './safetensors-inputs'

/**
 * `POST /v1/compat/inspect` takes raw bytes (a whole file, or a prefix with X-File-Size) and keeps
 * only the header. Random and mutated bodies, sent in random chunks, get exactly the answer the
 * pure reader gives for the same bytes; nothing is a 5xx; header bombs are refused with a 4xx code
 * after reading only the bytes that decide it.
 */

const h = await createHarness()
afterAll(() => h.close())

/** A body delivered in the given chunk sizes (the rest in one piece); counts the chunks pulled. */
function chunked(bytes: Uint8Array, sizes: number[] = []) {
  let at = 0
  let index = 0
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close()
      const size = sizes[index++] ?? bytes.length - at
      controller.enqueue(bytes.slice(at, at + size))
      at += size
    },
  })
  return { stream, pulled: () => index }
}

/** A body that never ends: `head`, then 64 KiB chunks of zeros for as long as anyone reads. */
function endless(head: Uint8Array) {
  let pulls = 0
  const zeros = new Uint8Array(64 * 1024)
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(pulls++ === 0 ? head : zeros)
    },
  })
  return { stream, pulled: () => pulls }
}

async function inspect(body: Uint8Array | ReadableStream<Uint8Array> | undefined, headers: Record<string, string> = {}) {
  const init = { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', ...headers }, body: body as BodyInit | undefined, duplex: 'half' }
  const response = await h.app.request('/v1/compat/inspect', init as RequestInit)
  const text = await response.text()
  let json: Record<string, any> | undefined
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, contentType: response.headers.get('content-type'), json, text }
}

type Answer = Awaited<ReturnType<typeof inspect>>

function expectContract(answer: Answer, where: string) {
  expect(answer.status, `${where}: ${answer.text.slice(0, 300)}`).toBeLessThan(500)
  if (answer.status >= 400) {
    expect(answer.contentType, where).toBe('application/problem+json')
    expect(typeof answer.json?.code === 'string' && answer.json.code.length > 0, where).toBe(true)
  }
}

function expectProblemCode(answer: Answer, status: number, code: string, extra: Record<string, unknown> = {}) {
  expect({ status: answer.status, code: answer.json?.code }, answer.text.slice(0, 300)).toEqual({ status, code })
  expect(answer.contentType).toBe('application/problem+json')
  expect(answer.json).toMatchObject(extra)
}

const prefixLength = (bytes: Uint8Array) => (bytes.length >= 8 ? headerLength(bytes) : 0)

/** What the pure reader says about the same bytes: the API must say the same. */
function readerVerdict(bytes: Uint8Array, fileSize: number): { header: SafetensorsHeader } | { code: string } {
  try {
    return { header: readSafetensorsHeader(bytes, fileSize) }
  } catch (error) {
    if (!(error instanceof CompatInputError)) throw error
    return { code: error.code }
  }
}

const chunkSizes = fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 12 })

describe('inspectSafetensors on random and mutated bodies', () => {
  it('answers mutated real files exactly as the reader does, whole or as a prefix with X-File-Size, in any chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...FILES),
        fc.array(fc.oneof(byteMutation, jsonMutation), { maxLength: 2 }),
        fc.constantFrom('whole', 'prefix', 'short prefix'),
        chunkSizes,
        async (file, mutations, mode, sizes) => {
          let bytes: Uint8Array = file
          for (const mutation of mutations) bytes = mutation(bytes.length >= 8 ? bytes : file).bytes
          const claimed = prefixLength(bytes)
          const cut = mode === 'whole' ? bytes.length : mode === 'prefix' ? Math.min(bytes.length, 8 + claimed) : Math.min(bytes.length, 5 + (claimed % 64))
          const sent = bytes.subarray(0, cut)
          const answer = await inspect(chunked(sent, sizes).stream, mode === 'whole' ? {} : { 'X-File-Size': String(bytes.length) })
          const where = `${mode}, ${bytes.length} bytes, header length ${claimed}`
          expectContract(answer, where)
          if (claimed > MAX_API_HEADER_BYTES) {
            expect(answer.status, where).toBe(422)
            return
          }
          const verdict = readerVerdict(sent, bytes.length)
          if ('code' in verdict) {
            expect(answer.json?.code, where).toBe(verdict.code)
            expect(answer.status, where).toBe(422)
          } else {
            expect(answer.status, where).toBe(200)
            expect(answer.json).toMatchObject({ headerBytes: verdict.header.headerBytes, fileSize: bytes.length, metadata: verdict.header.metadata })
            expect(answer.json?.tensors).toEqual(verdict.header.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })))
          }
        },
      ),
      { numRuns: runs(300), timeout: 20_000 },
    )
  })

  it('answers random bytes and random X-File-Size values without a 5xx', async () => {
    const fileSize = fc.oneof(
      fc.constant(undefined),
      fc.nat({ max: 10_000 }).map(String),
      fc.constantFrom('-1', '0', '1.5', '1e3', '1e400', 'abc', '', ' 12', '0x10', '18446744073709551616', String(Number.MAX_SAFE_INTEGER), String(2 ** 60)),
    )
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fileSize, chunkSizes, async (bytes, size, sizes) => {
        const answer = await inspect(chunked(bytes, sizes).stream, size === undefined ? {} : { 'X-File-Size': size })
        expectContract(answer, `${bytes.length} random bytes, X-File-Size ${size}`)
      }),
      { numRuns: runs(300), timeout: 20_000 },
    )
  })
})

describe('inspectSafetensors bombs', () => {
  const lengthPrefix = (length: bigint) => {
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setBigUint64(0, length, true)
    return bytes
  }

  it.each([
    ['100 MB (the format limit, over the API’s)', BigInt(MAX_HEADER_SIZE)],
    ['100 MB + 1', BigInt(MAX_HEADER_SIZE + 1)],
    ['2^64 - 1', (1n << 64n) - 1n],
    [`${MAX_API_HEADER_BYTES} + 1 (the API’s cap)`, BigInt(MAX_API_HEADER_BYTES + 1)],
  ])('refuses a header claiming %s from its length field, reading no further', async (_case, length) => {
    for (const headers of [{}, { 'X-File-Size': String(2 ** 40) }] as Record<string, string>[]) {
      const body = endless(lengthPrefix(length))
      const answer = await inspect(body.stream, headers)
      expectProblemCode(answer, 422, 'header_too_large')
      // The 8-byte prefix, one more chunk to tell a pickle apart, what the stream queues ahead: never the endless rest.
      expect(body.pulled()).toBeLessThanOrEqual(4)
    }
  })

  it('reads a header of exactly the API’s cap, even sent in 1 KiB chunks', async () => {
    const entry = '{"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}'
    const file = concat(withHeaderText(new Uint8Array(8), entry.padEnd(MAX_API_HEADER_BYTES, ' ')), new Uint8Array(4))
    expect(headerLength(file)).toBe(MAX_API_HEADER_BYTES)
    // Tiny chunks once made the prefix buffer grow quadratically: hours for this body.
    const body = chunked(file, Array.from({ length: file.length / 1024 }, () => 1024))
    const answer = await inspect(body.stream)
    expect(answer.status, answer.text.slice(0, 300)).toBe(200)
    expect(answer.json).toMatchObject({ headerBytes: MAX_API_HEADER_BYTES + 8, fileSize: file.length, tensors: [{ name: 't', dtype: 'F16', shape: [2] }] })
  }, 60_000)

  const zeroTensors = (count: number) => Array.from({ length: count }, (_, index) => ({ name: `t${index}`, dtype: 'F16' as const, shape: [0] }))

  it(`lists ${MAX_TENSORS} tensors and refuses ${MAX_TENSORS + 1}`, async () => {
    const atLimit = buildSafetensorsHeader(zeroTensors(MAX_TENSORS))
    const accepted = await inspect(atLimit.bytes)
    expect(accepted.status).toBe(200)
    expect(accepted.json?.tensors).toHaveLength(MAX_TENSORS)
    const above = buildSafetensorsHeader(zeroTensors(MAX_TENSORS + 1))
    expectProblemCode(await inspect(above.bytes), 422, 'invalid_safetensors', { rule: 'tensor_count' })
  }, 60_000)

  it(`analyses ${MAX_TENSORS} LoRA tensors of one module (100,000 layers, 100,000 distinct sizes)`, async () => {
    // Membership tests on arrays made these quadratic: seconds of CPU for one 11 MB request.
    const layers = buildSafetensorsHeader(Array.from({ length: MAX_TENSORS }, (_, i) => ({ name: `base_model.model.model.layers.${i}.self_attn.q_proj.lora_A.weight`, dtype: 'I8' as const, shape: [1, 1] })))
    const byLayer = await inspect(layers.bytes, { 'X-File-Size': String(layers.fileSize) })
    expect(byLayer.status).toBe(200)
    expect(byLayer.json?.lora).toMatchObject({ layerCount: MAX_TENSORS, tensorCount: MAX_TENSORS })
    const sizes = buildSafetensorsHeader(Array.from({ length: MAX_TENSORS }, (_, i) => ({ name: `base_model.model.model.layers.${i % 7}.m${Math.floor(i / 7)}.lora_A.weight`, dtype: 'I8' as const, shape: [1, i + 1] })))
    expect((await inspect(sizes.bytes, { 'X-File-Size': String(sizes.fileSize) })).status).toBe(200)
  }, 60_000)

  it('refuses headers nested 100,000 levels deep', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    for (const text of [`{"t":{"dtype":"F16","shape":${deep},"data_offsets":[0,0]}}`, `{"__metadata__":${deep}}`]) {
      expectProblemCode(await inspect(withHeaderText(new Uint8Array(8), text)), 422, 'invalid_safetensors', { rule: 'nesting' })
    }
  })

  it.each([
    ['a pickle', [0x80, 0x02, 0x7d, 0x71, 0x00, 0x28, 0x58, 0x01, 0x00], 'pickle_rejected'],
    ['a zip checkpoint', [0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0], 'unsupported_format'],
    ['a GGUF file', [...new TextEncoder().encode('GGUF'), 3, 0, 0, 0, 0, 0, 0, 0], 'unsupported_format'],
    ['a Git LFS pointer', [...new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n')], 'unsupported_format'],
    ['nothing', [], 'invalid_safetensors'],
  ])('refuses %s with %s', async (_case, bytes, code) => {
    expectProblemCode(await inspect(new Uint8Array(bytes)), 422, code)
  })

  it('refuses a bad X-File-Size, a body longer than it, and other media types', async () => {
    const file = FILES[0] ?? new Uint8Array()
    for (const size of ['-1', 'abc', '1e400', '1.5', String(2 ** 60)]) expectProblemCode(await inspect(file, { 'X-File-Size': size }), 422, 'validation_failed')
    expectProblemCode(await inspect(file, { 'X-File-Size': String(file.length - 1) }), 422, 'invalid_file_size')
    expectProblemCode(await inspect(file.subarray(0, 100), { 'X-File-Size': '50' }), 422, 'invalid_file_size')
    expectProblemCode(await inspect(undefined), 422, 'invalid_safetensors')
    for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x']) {
      expectProblemCode(await inspect(file, { 'Content-Type': type }), 415, 'unsupported_media_type')
    }
  })
})
