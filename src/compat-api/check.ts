import type { z } from '@hono/zod-openapi'
import { ApiError } from '../lib/errors'
import type { Deps, ServiceContext } from '../lib/context'
import { loadVersionFacts } from '../publishing'
import { analyzeAdapter, type AdapterConfig, type BaseModel, checkAgainstBase, CompatInputError, parseAdapterConfig, MAX_API_HEADER_BYTES, readSafetensorsHeader, seededBaseModels, type SafetensorsHeader, validateHeaderObject } from '../compat'
import { type BaseAccess, baseFromConfig, compatProblem, unknownBaseModel } from '../registry'
import { registryReader } from '../registry'
import type { CheckCompatibilitySchema } from './schemas'

/**
 * The verdict for one adapter on one base. Bases the caller may use: verified ones and the
 * pending registrations of the caller's teams. Twins come from the seeded table and, among
 * registered bases, from those with the same shape signature. With the registry cache, a check
 * by base id and header from an anonymous caller does no I/O at all (a signed-in one: one small
 * query for its teams' own registrations); without it, indexed lookups that do not grow with
 * the registry.
 */
export async function checkCompatibility(ctx: ServiceContext & Pick<Deps, 'registry'>, input: z.infer<typeof CheckCompatibilitySchema>) {
  const access: BaseAccess = { principal: ctx.principal }
  const registry = await registryReader(ctx, access)
  let base: BaseModel
  if (typeof input.base === 'string') {
    const found = await registry.find(input.base)
    if (!found) throw unknownBaseModel(input.base)
    base = found
  } else {
    base = baseFromConfig(input.base.id ?? 'custom/config', input.base.config)
  }

  let header: SafetensorsHeader
  let config: AdapterConfig | undefined
  if ('version' in input.adapter) {
    const facts = await loadVersionFacts(ctx, input.adapter.version)
    header = facts.header
    config = facts.config
  } else {
    try {
      header = validateHeaderObject(input.adapter.header)
      config = input.adapter.config === undefined ? undefined : parseAdapterConfig(input.adapter.config)
    } catch (error) {
      throw compatProblem(error)
    }
  }
  let analysis: ReturnType<typeof analyzeAdapter>
  try {
    // The config's patterns are matched here, within a work budget: a config too costly is a 422.
    analysis = analyzeAdapter(header, config)
  } catch (error) {
    throw compatProblem(error)
  }
  const declared = analysis.declaredBase?.trim() ? await registry.find(analysis.declaredBase.trim()) : undefined
  const candidates = new Map<string, BaseModel>()
  for (const known of [...seededBaseModels, base, ...(await registry.twinsOf(base)), ...(declared ? [declared] : [])]) {
    if (!candidates.has(known.id)) candidates.set(known.id, known)
  }
  return checkAgainstBase(analysis, header, base, { allBases: [...candidates.values()] })
}

/**
 * Reads a safetensors header from a request body that is the whole file or a prefix of it.
 * Keeps only the header bytes in memory; the rest of the body is counted, not stored.
 */
export async function inspectSafetensors(body: ReadableStream<Uint8Array> | null, declaredSize: number | undefined) {
  if (!body) throw new ApiError('invalid_safetensors', 'Send the file, or its first 8 + header-length bytes, as the body.')
  const reader = body.getReader()
  const kept = new HeaderBuffer(MAX_API_HEADER_BYTES + 8)
  let needed = 8
  let received = 0
  let done = false
  while (kept.length < needed) {
    const chunk = await reader.read()
    if (chunk.done) {
      done = true
      break
    }
    received += chunk.value.length
    kept.append(chunk.value)
    if (kept.length >= 8 && needed === 8) needed = headerEnd(kept.bytes())
  }
  const prefix = kept.bytes()
  // A header length past the API's cap decides the answer already: the rest of the body (gigabytes,
  // or a stream that never ends) is not read just to learn the file size.
  const claimed = prefix.length >= 8 ? new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true) : 0n
  const hopeless = declaredSize === undefined && !done && claimed > BigInt(MAX_API_HEADER_BYTES)
  if (declaredSize === undefined && !hopeless) {
    while (!done) {
      const chunk = await reader.read()
      if (chunk.done) done = true
      else received += chunk.value.length
    }
  } else {
    await reader.cancel()
  }
  const fileSize = declaredSize ?? received
  if (declaredSize !== undefined && received > declaredSize) {
    throw new ApiError('invalid_file_size', `X-File-Size says ${declaredSize} bytes but the body has more.`)
  }
  try {
    const header = readSafetensorsHeader(prefix, hopeless ? 8n + claimed : fileSize)
    return {
      headerBytes: header.headerBytes,
      fileSize,
      metadata: header.metadata,
      tensors: header.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
      lora: analyzeAdapter(header) as unknown as Record<string, unknown>,
    }
  } catch (error) {
    if (error instanceof CompatInputError && error.code === 'incomplete_header' && Number(error.extra?.needBytes) > MAX_API_HEADER_BYTES + 8) {
      throw new ApiError('header_too_large', `This API reads safetensors headers up to ${MAX_API_HEADER_BYTES} bytes.`)
    }
    throw compatProblem(error)
  }
}

/** How many bytes the header needs, read from the length prefix; capped for the API. */
function headerEnd(prefix: Uint8Array): number {
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true)
  if (length > BigInt(MAX_API_HEADER_BYTES)) {
    // Let the reader classify it (pickle, zip, too large) from the first bytes alone: 9 tell a pickle apart.
    return 9
  }
  return 8 + Number(length)
}

/**
 * The first bytes of a body, up to a cap, in a buffer that doubles as it fills: a header sent in
 * tiny chunks costs linear time (concatenating per chunk is quadratic: hours for 16 MiB in 16-byte chunks).
 */
class HeaderBuffer {
  private buffer = new Uint8Array(1024)
  length = 0

  constructor(private readonly cap: number) {}

  append(chunk: Uint8Array): void {
    const take = Math.min(chunk.length, this.cap - this.length)
    if (take <= 0) return
    if (this.length + take > this.buffer.length) {
      const grown = new Uint8Array(Math.min(this.cap, Math.max(this.buffer.length * 2, this.length + take)))
      grown.set(this.buffer.subarray(0, this.length))
      this.buffer = grown
    }
    this.buffer.set(chunk.subarray(0, take), this.length)
    this.length += take
  }

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length)
  }
}
