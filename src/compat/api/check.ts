import type { z } from '@hono/zod-openapi'
import { ApiError } from '../../lib/errors'
import type { ServiceContext } from '../../lib/context'
import { loadVersionFacts } from '../../publishing/versions'
import {
  analyzeAdapter,
  type AdapterConfig,
  checkAgainstBase,
  CompatInputError,
  parseAdapterConfig,
  readSafetensorsHeader,
  type SafetensorsHeader,
  validateHeaderObject,
} from '../index'
import { baseFromConfig, compatProblem, listRegistry, requireBaseModel } from './registry'
import type { CheckCompatibilitySchema } from './schemas'

/** The largest header the API reads: real LoRA headers are tens of KB; 100k tensors fit in ~10 MB. */
export const MAX_API_HEADER_BYTES = 16 * 1024 * 1024

export async function checkCompatibility(ctx: ServiceContext, input: z.infer<typeof CheckCompatibilitySchema>) {
  const allBases = await listRegistry(ctx.db)
  const base =
    typeof input.base === 'string'
      ? await requireBaseModel(ctx.db, input.base)
      : baseFromConfig(input.base.id ?? 'custom/config', input.base.config)

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
  return checkAgainstBase(analyzeAdapter(header, config), header, base, { allBases })
}

/**
 * Reads a safetensors header from a request body that is the whole file or a prefix of it.
 * Keeps only the header bytes in memory; the rest of the body is counted, not stored.
 */
export async function inspectSafetensors(body: ReadableStream<Uint8Array> | null, declaredSize: number | undefined) {
  if (!body) throw new ApiError(422, 'invalid_safetensors', 'Send the file, or its first 8 + header-length bytes, as the body.')
  const reader = body.getReader()
  let prefix: Uint8Array = new Uint8Array(0)
  let needed = 8
  let received = 0
  let done = false
  while (prefix.length < needed) {
    const chunk = await reader.read()
    if (chunk.done) {
      done = true
      break
    }
    received += chunk.value.length
    const keep = chunk.value.subarray(0, Math.max(0, Math.min(chunk.value.length, MAX_API_HEADER_BYTES + 8 - prefix.length)))
    prefix = concat(prefix, keep)
    if (prefix.length >= 8 && needed === 8) needed = headerEnd(prefix)
  }
  if (declaredSize === undefined) {
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
    throw new ApiError(422, 'invalid_file_size', `X-File-Size says ${declaredSize} bytes but the body has more.`)
  }
  try {
    const header = readSafetensorsHeader(prefix, fileSize)
    return {
      headerBytes: header.headerBytes,
      fileSize,
      metadata: header.metadata,
      tensors: header.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
      lora: analyzeAdapter(header) as unknown as Record<string, unknown>,
    }
  } catch (error) {
    if (error instanceof CompatInputError && error.code === 'incomplete_header' && Number(error.extra?.needBytes) > MAX_API_HEADER_BYTES + 8) {
      throw new ApiError(422, 'header_too_large', `This API reads safetensors headers up to ${MAX_API_HEADER_BYTES} bytes.`)
    }
    throw compatProblem(error)
  }
}

/** How many bytes the header needs, read from the length prefix; capped for the API. */
function headerEnd(prefix: Uint8Array): number {
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true)
  if (length > BigInt(MAX_API_HEADER_BYTES)) {
    // Let the reader classify it (pickle, zip, too large) from the first bytes alone.
    return 8
  }
  return 8 + Number(length)
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}
