import type { FixedLengthStream as WorkerdFixedLengthStream, R2Bucket, ReadableStream as WorkerdReadableStream } from '@cloudflare/workers-types/latest'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 as sha256Hash } from '@noble/hashes/sha2.js'
import { ApiError } from '../lib/errors'
import {
  checksumMismatch,
  createUrlSigner,
  type GetClaims,
  type PartClaims,
  sizeMismatch,
  storageUnavailable,
  type UploadClaims,
  type UrlSignerConfig,
} from './signed-urls'
import type { AppServedEndpoint, ObjectStore, UploadPlan } from './types'
import { MIN_PART_BYTES, createSha256, partSizeFor, partsOf, resolveRange } from './types'

/**
 * Parts of a multipart upload, and the largest single PUT: well under the 100 MB a Workers
 * request body may have, since every byte comes through the Worker.
 */
export const R2_PART_BYTES = 64 * 1024 * 1024
/** The largest part size allowed (R2_PART_BYTES); above it a part could hit the request-body limit. */
export const R2_MAX_PART_BYTES = 90 * 1024 * 1024


export type R2StoreConfig = UrlSignerConfig & {
  /** The `[[r2_buckets]]` binding (wrangler.toml `ADAPTERS`). */
  bucket: R2Bucket
  /** Files up to this size go up in one PUT, larger ones in parts of it (default R2_PART_BYTES). */
  partBytes?: number
}

/**
 * Adapter files in R2 through the Worker's bucket binding, so the Worker needs no S3 keys:
 * uploads and downloads go through the app's own signed URLs (the local store's protocol) and
 * stream between the client and R2. A whole file is stored with its sha256, which R2 checks; a
 * part's bytes are hashed on the way (workerd's DigestStream) and checked against the
 * `x-amz-checksum-sha256` the uploader sent. Holds no per-request I/O: safe to build once per isolate.
 */
export function createR2Store(config: R2StoreConfig): ObjectStore & AppServedEndpoint {
  const { bucket } = config
  const { sign, verify, urlFor, expiresAt } = createUrlSigner(config)
  const partBytes = Math.max(MIN_PART_BYTES, Math.min(config.partBytes ?? R2_PART_BYTES, R2_MAX_PART_BYTES))

  /**
   * The ETag a part's upload answers with: R2's own for the part and a MAC binding it to this
   * upload and part number, so only parts the Worker received (and checked) can be assembled.
   * R2's part ETags are long already (~170 characters): the MAC keeps 128 bits.
   */
  const macOf = (key: string, uploadId: string, partNumber: number, etag: string) =>
    base64url(hmac(sha256Hash, config.secret, new TextEncoder().encode(`part\n${key}\n${uploadId}\n${partNumber}\n${etag}`)).subarray(0, 16))
  const partEtag = (key: string, uploadId: string, partNumber: number, etag: string) => `${etag}.${macOf(key, uploadId, partNumber, etag)}`
  function r2EtagOf(key: string, uploadId: string, partNumber: number, signed: string) {
    const unquoted = signed.replace(/^(W\/)?"|"$/g, '')
    const dot = unquoted.lastIndexOf('.')
    const etag = unquoted.slice(0, dot)
    if (dot < 0 || !timingSafeEqual(unquoted.slice(dot + 1), macOf(key, uploadId, partNumber, etag))) return undefined
    return etag
  }

  /** Streams `body` into R2 through `write`, hashing it and holding it to `size` bytes on the way. */
  async function streamInto<T>(body: ReadableStream<Uint8Array>, size: number, write: (stream: WorkerdReadableStream) => Promise<T>) {
    const FixedLength = (globalThis as unknown as { FixedLengthStream: typeof WorkerdFixedLengthStream }).FixedLengthStream
    // R2 takes a stream only when its length is known: FixedLengthStream states it, and errors on more or fewer bytes.
    const fixed = new FixedLength(size)
    const hash = createSha256()
    let received = 0
    let refused: ApiError | undefined
    const counting = new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        received += chunk.byteLength
        if (received > size) throw (refused = sizeMismatch(size, received))
        await hash.update(chunk)
        controller.enqueue(chunk)
      },
    })
    const [written, piped] = await Promise.allSettled([write(fixed.readable), body.pipeThrough(counting).pipeTo(fixed.writable as unknown as WritableStream<Uint8Array>)])
    if (refused) throw refused
    // The body broke off (R2 failing mid-stream cuts it too, but then nobody is left to tell apart).
    if (piped.status === 'rejected') throw new ApiError('upload_interrupted', 'The upload ended before all its bytes arrived; send it again.')
    if (received !== size) throw sizeMismatch(size, received)
    const sha256 = await hash.digest()
    return { written, sha256 }
  }

  return {
    kind: 'r2',

    async planUpload({ key, size, sha256, expiresInSeconds }): Promise<UploadPlan> {
      if (size <= partBytes) {
        const token = await sign({ op: 'put', key, size, sha256 }, expiresInSeconds)
        return { kind: 'single', method: 'PUT', url: urlFor(token), headers: { 'Content-Type': 'application/octet-stream' }, expiresAt: expiresAt(expiresInSeconds) }
      }
      const { uploadId } = await r2Call(() => bucket.createMultipartUpload(key))
      const partSize = partSizeFor(size, partBytes)
      const parts = await Promise.all(
        partsOf(size, partSize).map(async (part) => ({
          ...part,
          url: urlFor(await sign({ op: 'part', key, uploadId, partNumber: part.partNumber, size: part.size } satisfies PartClaims, expiresInSeconds)),
        })),
      )
      return { kind: 'multipart', uploadId, partSize, parts, expiresAt: expiresAt(expiresInSeconds) }
    },

    async completeMultipart({ key, uploadId, parts }) {
      const uploaded = [...parts]
        .sort((a, b) => a.partNumber - b.partNumber)
        .map((part) => {
          const etag = r2EtagOf(key, uploadId, part.partNumber, part.etag)
          if (!etag) throw new ApiError('invalid_multipart_parts', `Part ${part.partNumber} has an ETag this upload did not hand out; send the part again.`)
          return { partNumber: part.partNumber, etag }
        })
      try {
        await bucket.resumeMultipartUpload(key, uploadId).complete(uploaded)
      } catch (error) {
        // R2 refuses a parts list it does not hold (a missing part, an upload already completed or aborted).
        throw new ApiError('invalid_multipart_parts', `Storage refused the parts list: ${messageOf(error)}`)
      }
    },

    async abortMultipart({ key, uploadId }) {
      // An upload already completed or aborted is gone either way.
      await bucket
        .resumeMultipartUpload(key, uploadId)
        .abort()
        .catch(() => {})
    },

    async head(key) {
      const object = await r2Call(() => bucket.head(key))
      if (!object) return null
      // A whole-file PUT is stored with the sha256 R2 checked; a multipart object has none (validation hashes it).
      const checked = object.checksums.sha256 ? hexOf(object.checksums.sha256) : object.customMetadata?.sha256
      return { size: object.size, ...(checked ? { sha256: checked } : {}), etag: object.httpEtag }
    },

    async getRange(key, start, endInclusive) {
      const object = await r2Call(() => bucket.get(key, { range: { offset: start, length: endInclusive - start + 1 } }))
      if (!object) throw objectMissing(key)
      return new Uint8Array(await object.arrayBuffer())
    },

    async getStream(key) {
      const object = await r2Call(() => bucket.get(key))
      if (!object) throw objectMissing(key)
      return object.body as unknown as ReadableStream<Uint8Array>
    },

    async presignGet(key, { expiresInSeconds, filename, subject, headers }) {
      return urlFor(await sign({ op: 'get', key, ...(filename ? { filename } : {}), ...(headers ? { headers } : {}) } satisfies GetClaims, expiresInSeconds, subject))
    },

    async delete(key) {
      await r2Call(() => bucket.delete(key))
    },

    async receive(token, body, contentLength, partSha256) {
      const claims = await verify<UploadClaims>(token, ['put', 'part'])
      if (contentLength !== undefined && contentLength !== claims.size) throw sizeMismatch(claims.size, contentLength)
      const stream = body instanceof ReadableStream ? body : streamOf(body)
      if (claims.op === 'put') {
        // R2 checks the sha256 itself and stores nothing on a mismatch; our own digest names the actual one.
        const { written, sha256 } = await streamInto(stream, claims.size, (bytes) =>
          bucket.put(claims.key, bytes, { sha256: claims.sha256, customMetadata: { sha256: claims.sha256 } }),
        )
        if (sha256 !== claims.sha256) throw checksumMismatch(claims.sha256, sha256)
        if (written.status === 'rejected') throw storageUnavailable()
        return { size: claims.size, sha256 }
      }
      const upload = bucket.resumeMultipartUpload(claims.key, claims.uploadId)
      const { written, sha256 } = await streamInto(stream, claims.size, (bytes) => upload.uploadPart(claims.partNumber, bytes))
      if (written.status === 'rejected') {
        throw new ApiError('multipart_upload_gone', `This multipart upload is no longer open: ${messageOf(written.reason)}`)
      }
      // The part is in R2 either way, but without its signed ETag it cannot be assembled.
      if (partSha256 !== undefined && partSha256 !== sha256) throw checksumMismatch(partSha256, sha256)
      return { size: claims.size, sha256, etag: partEtag(claims.key, claims.uploadId, claims.partNumber, written.value.etag) }
    },

    async open(token, rangeHeader) {
      const claims = await verify<GetClaims>(token, ['get'])
      const object = await r2Call(() => bucket.head(claims.key))
      if (!object) throw objectMissing(claims.key)
      const range = resolveRange(rangeHeader, object.size)
      return {
        size: object.size,
        range,
        filename: claims.filename,
        headers: claims.headers ?? {},
        body: async () => {
          const bounds = range && range !== 'unsatisfiable' ? { range: { offset: range.start, length: range.end - range.start + 1 } } : {}
          const body = await r2Call(() => bucket.get(claims.key, bounds))
          if (!body) throw objectMissing(claims.key)
          return body.body as unknown as ReadableStream<Uint8Array>
        },
      }
    },
  }
}

/** Runs an R2 call; anything it throws is an outage (503), not the client's doing. */
async function r2Call<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    if (error instanceof ApiError) throw error
    console.error('R2 call failed', error)
    throw storageUnavailable()
  }
}

/** A web stream over chunks (the Worker hands its request body as a stream already). */
function streamOf(chunks: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next()
      if (next.done) controller.close()
      else controller.enqueue(next.value)
    },
    cancel: () => void iterator.return?.(),
  })
}

const objectMissing = (key: string) => new ApiError('object_missing', `The stored object ${key} is missing.`)
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))
const base64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')

/** Compares two MACs in time independent of where they differ. */
function timingSafeEqual(a: string, b: string) {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

const hexOf = (buffer: ArrayBuffer) => [...new Uint8Array(buffer)].map((byte) => byte.toString(16).padStart(2, '0')).join('')
