import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'

/** Where the app serves the local store's signed upload and download URLs. */
export const LOCAL_STORAGE_PATH = '/v1/storage/local'

/** Files up to this size go up in one presigned PUT; larger ones as a multipart upload. */
export const SINGLE_PART_MAX_BYTES = 64 * 1024 * 1024
/** S3 allows at most this many parts in one multipart upload. */
export const MAX_PARTS = 10_000

/** How the uploader sends one file: one PUT, or PUTs of numbered parts then completeMultipart. */
export type UploadPlan =
  | { kind: 'single'; method: 'PUT'; url: string; headers: Record<string, string>; expiresAt: string }
  | {
      kind: 'multipart'
      uploadId: string
      partSize: number
      parts: { partNumber: number; url: string; size: number }[]
      expiresAt: string
    }

export type ObjectHead = {
  size: number
  /** Hex sha256 of the whole object, only when the store itself verified it on upload. */
  sha256?: string
  etag?: string
}

export type PlanUploadInput = { key: string; size: number; sha256: string; expiresInSeconds: number }
export type CompletedPart = { partNumber: number; etag: string }

/** Where adapter files live. Uploads and downloads go straight to the store through signed URLs. */
export interface ObjectStore {
  /** `none`: no storage is configured (a Worker without S3 settings or an R2 binding); every call answers 503. */
  readonly kind: 's3' | 'local' | 'r2' | 'none'
  planUpload(input: PlanUploadInput): Promise<UploadPlan>
  completeMultipart(input: { key: string; uploadId: string; parts: CompletedPart[] }): Promise<void>
  abortMultipart(input: { key: string; uploadId: string }): Promise<void>
  /** Size (and verified checksum when known) of a stored object; null when there is none. */
  head(key: string): Promise<ObjectHead | null>
  /** The bytes start..endInclusive, fetched with a ranged read. */
  getRange(key: string, start: number, endInclusive: number): Promise<Uint8Array>
  getStream(key: string): Promise<ReadableStream<Uint8Array>>
  /**
   * A URL that serves the object for a while, as an attachment named `filename`. `headers` go on
   * the object's response where the store can add them (the local store; S3 serves its own).
   */
  presignGet(key: string, options: { expiresInSeconds: number; filename?: string; subject?: string; headers?: Record<string, string> }): Promise<string>
  delete(key: string): Promise<void>
}

/** A byte range asked for with a Range header, resolved against the object's size. */
export type ResolvedRange = { start: number; end: number } | 'unsatisfiable' | null

/**
 * The part of a store the app serves itself (the local folder, or R2 through its binding) that
 * the app's own upload/download routes drive. It lives beside the interface so the routes
 * compile into the Worker without pulling in node:fs.
 */
export interface AppServedEndpoint {
  /**
   * Streams a PUT body into the store against its signed token, verifying size and sha256. A part
   * of a multipart upload is checked against `partSha256` (hex) when the uploader sends one; its
   * `etag` is what completeVersion takes back.
   */
  receive(
    token: string,
    body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
    contentLength: number | undefined,
    partSha256?: string,
  ): Promise<{ size: number; sha256: string; etag?: string }>
  /** Opens the object a signed download token names, honouring a Range header. */
  open(
    token: string,
    range: string | undefined,
  ): Promise<{
    size: number
    range: ResolvedRange
    filename: string | undefined
    /** The headers the URL was signed with (`presignGet`'s `headers`). */
    headers: Record<string, string>
    body: () => Promise<ReadableStream<Uint8Array>>
  }>
}

export function isAppServed(store: ObjectStore): store is ObjectStore & AppServedEndpoint {
  return 'receive' in store && 'open' in store
}

/** Hex sha256 of a stream, read chunk by chunk (runs on Node and in workerd, natively there). */
export async function sha256OfStream(stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createSha256()
  for await (const chunk of stream as AsyncIterable<Uint8Array>) await hash.update(chunk)
  return hash.digest()
}

type WorkerdDigestStream = WritableStream<Uint8Array> & { readonly digest: Promise<ArrayBuffer> }
type DigestStreamConstructor = new (algorithm: string) => WorkerdDigestStream

/**
 * An incremental sha256: workerd's native DigestStream where there is one (hashing a large file
 * in JavaScript would spend the Worker's CPU budget), the portable @noble/hashes elsewhere.
 */
export function createSha256(): { update(chunk: Uint8Array): Promise<void>; digest(): Promise<string> } {
  const Native = (globalThis as { DigestStream?: DigestStreamConstructor }).DigestStream
  if (Native) {
    const stream = new Native('SHA-256')
    const writer = stream.getWriter()
    return {
      update: (chunk) => writer.write(chunk),
      digest: async () => {
        await writer.close()
        return bytesToHex(new Uint8Array(await stream.digest))
      },
    }
  }
  const hash = sha256.create()
  return {
    update: async (chunk) => void hash.update(chunk),
    digest: async () => bytesToHex(hash.digest()),
  }
}

export const hexToBase64 = (hex: string) => btoa(String.fromCharCode(...hex.match(/../g)!.map((byte) => parseInt(byte, 16))))

export function base64ToHex(base64: string): string {
  const binary = atob(base64)
  let hex = ''
  for (let i = 0; i < binary.length; i += 1) hex += binary.charCodeAt(i).toString(16).padStart(2, '0')
  return hex
}

/** Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` (one range only) against a size. */
export function resolveRange(header: string | undefined, size: number): ResolvedRange {
  if (!header) return null
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!match) return null // Malformed or multi-range: serve the whole object, as RFC 9110 allows.
  const [, first, last] = match
  if (first === '' && last === '') return null
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  if (start >= size) return 'unsatisfiable'
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (end < start) return null
  return { start, end }
}

/** S3's smallest part (all but the last). */
export const MIN_PART_BYTES = 5 * 1024 * 1024

/** A part size of at least `preferred` (and S3's 5 MiB) that keeps the upload within S3's part limit. */
export function partSizeFor(size: number, preferred = SINGLE_PART_MAX_BYTES): number {
  const mib = 1024 * 1024
  return Math.max(preferred, MIN_PART_BYTES, Math.ceil(size / MAX_PARTS / mib) * mib)
}

export function partsOf(size: number, partSize: number): { partNumber: number; size: number }[] {
  const parts = []
  for (let offset = 0, partNumber = 1; offset < size; offset += partSize, partNumber += 1) {
    parts.push({ partNumber, size: Math.min(partSize, size - offset) })
  }
  return parts
}

/** `attachment`, adding the UTF-8 name (RFC 6266) only when the plain one had to lose characters. */
export function contentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_')
  if (ascii === filename) return `attachment; filename="${ascii}"`
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`
}
