import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { ApiError } from '../lib/errors'
import { createGetPresigner, type PresignCredentials } from './sigv4'
import type { ObjectStore, UploadPlan } from './types'
import { SINGLE_PART_MAX_BYTES, base64ToHex, contentDisposition, hexToBase64, partSizeFor, partsOf } from './types'

export type S3StoreConfig = PresignCredentials & {
  /** Files up to this size go up in one PUT; defaults to SINGLE_PART_MAX_BYTES (tests lower it). */
  singlePartMaxBytes?: number
  /** How long connecting to the store may take (default S3_CONNECT_TIMEOUT_MS). */
  connectTimeoutMs?: number
  /** How long a request or a body being read may go without a byte (default S3_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number
  /** The time URLs are signed at (default: the system clock; tests move it). */
  clock?: () => Date
}

/**
 * A store that stops answering is an outage too: without these the SDK waits forever (Node has
 * no default timeout). The idle timeout counts silence, not duration, so hashing a large
 * object still streams for as long as bytes keep coming. (workerd ignores both; its own
 * request limits apply.)
 */
export const S3_CONNECT_TIMEOUT_MS = 5_000
export const S3_IDLE_TIMEOUT_MS = 30_000

const CHECKSUM_HEADER = 'x-amz-checksum-sha256'

/** Adapter files in any S3 API (AWS, R2, MinIO): uploads and downloads use presigned URLs. */
export function createS3Store(config: S3StoreConfig): ObjectStore {
  const client = new S3Client({
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    // Checksums are ours to choose: whole-object sha256 on single PUTs, nothing added behind our back.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: config.connectTimeoutMs ?? S3_CONNECT_TIMEOUT_MS,
      socketTimeout: config.idleTimeoutMs ?? S3_IDLE_TIMEOUT_MS,
    },
  })
  const Bucket = config.bucket
  const singlePartMax = config.singlePartMaxBytes ?? SINGLE_PART_MAX_BYTES
  // Downloads sign a URL per request: a lean signer, not the SDK's presigner (see sigv4.ts).
  const presignGet = createGetPresigner(config)
  const clock = config.clock ?? (() => new Date())
  const expiresAt = (seconds: number) => new Date(clock().getTime() + seconds * 1000).toISOString()

  return {
    kind: 's3',

    async planUpload({ key, size, sha256, expiresInSeconds }): Promise<UploadPlan> {
      return storageCall(async () => {
        if (size <= singlePartMax) {
          const checksum = hexToBase64(sha256)
          const command = new PutObjectCommand({ Bucket, Key: key, ContentLength: size, ChecksumSHA256: checksum })
          // The checksum stays a signed header: S3 rejects a body whose sha256 differs.
          const url = await getSignedUrl(client, command, {
            expiresIn: expiresInSeconds,
            signingDate: clock(),
            unhoistableHeaders: new Set([CHECKSUM_HEADER]),
          })
          return { kind: 'single', method: 'PUT', url, headers: { [CHECKSUM_HEADER]: checksum }, expiresAt: expiresAt(expiresInSeconds) }
        }
        const created = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: key }))
        const uploadId = created.UploadId
        if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId')
        const partSize = partSizeFor(size, singlePartMax)
        const parts = await Promise.all(
          partsOf(size, partSize).map(async (part) => ({
            ...part,
            url: await getSignedUrl(
              client,
              new UploadPartCommand({ Bucket, Key: key, UploadId: uploadId, PartNumber: part.partNumber, ContentLength: part.size }),
              { expiresIn: expiresInSeconds, signingDate: clock() },
            ),
          })),
        )
        return { kind: 'multipart', uploadId, partSize, parts, expiresAt: expiresAt(expiresInSeconds) }
      })
    },

    async completeMultipart({ key, uploadId, parts }) {
      await storageCall(
        () =>
          client.send(
            new CompleteMultipartUploadCommand({
              Bucket,
              Key: key,
              UploadId: uploadId,
              MultipartUpload: {
                Parts: [...parts].sort((a, b) => a.partNumber - b.partNumber).map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })),
              },
            }),
          ),
        (error): undefined => {
          if (['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall', 'NoSuchUpload', 'MalformedXML'].includes(error.name)) {
            throw new ApiError('invalid_multipart_parts', `Storage refused the parts list: ${error.message}`)
          }
        },
      )
    },

    async abortMultipart({ key, uploadId }) {
      await storageCall(
        () => client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId })),
        (error) => (error.name === 'NoSuchUpload' ? null : undefined),
      )
    },

    async head(key) {
      return storageCall(
        async () => {
          const head = await client.send(new HeadObjectCommand({ Bucket, Key: key, ChecksumMode: 'ENABLED' }))
          // A composite checksum ("…-N") covers parts, not the whole object: only a plain one counts.
          const checksum = head.ChecksumSHA256 && !head.ChecksumSHA256.includes('-') ? base64ToHex(head.ChecksumSHA256) : undefined
          return { size: head.ContentLength ?? 0, ...(checksum ? { sha256: checksum } : {}), ...(head.ETag ? { etag: head.ETag } : {}) }
        },
        (error) => (isNotFound(error) ? null : undefined),
      )
    },

    async getRange(key, start, endInclusive) {
      return storageCall(async () => {
        const object = await client.send(new GetObjectCommand({ Bucket, Key: key, Range: `bytes=${start}-${endInclusive}` }))
        if (!object.Body) throw new Error('GetObject returned no body')
        return object.Body.transformToByteArray()
      }, notFoundAsMissing(key))
    },

    async getStream(key) {
      return storageCall(async () => {
        const object = await client.send(new GetObjectCommand({ Bucket, Key: key }))
        if (!object.Body) throw new Error('GetObject returned no body')
        return object.Body.transformToWebStream() as ReadableStream<Uint8Array>
      }, notFoundAsMissing(key))
    },

    async presignGet(key, { expiresInSeconds, filename }) {
      return presignGet(key, { expiresInSeconds, now: clock(), ...(filename ? { contentDisposition: contentDisposition(filename) } : {}) })
    },

    async delete(key) {
      await storageCall(() => client.send(new DeleteObjectCommand({ Bucket, Key: key })))
    },
  }
}

function isNotFound(error: S3ServiceException): boolean {
  return error.name === 'NotFound' || error.name === 'NoSuchKey' || error.$metadata?.httpStatusCode === 404
}

const notFoundAsMissing =
  (key: string) =>
  (error: S3ServiceException): undefined => {
    if (isNotFound(error)) throw new ApiError('object_missing', `The stored object ${key} is missing.`)
  }

/**
 * Runs a storage call; `known` maps an S3 error to a value (or throws an ApiError for it). Anything
 * else S3 answers with 5xx, or a connection that fails, is an outage: 503 storage_unavailable.
 */
async function storageCall<T, K = never>(
  call: () => Promise<T>,
  known?: (error: S3ServiceException) => K | undefined,
): Promise<T | Exclude<K, undefined>> {
  try {
    return await call()
  } catch (error) {
    if (error instanceof ApiError) throw error
    if (error instanceof S3ServiceException) {
      const mapped = known?.(error)
      if (mapped !== undefined) return mapped as Exclude<K, undefined>
      const status = error.$metadata?.httpStatusCode ?? 500
      if (status < 500 && status !== 429) throw error
    }
    throw new ApiError('storage_unavailable', 'Object storage is unavailable right now; try again shortly.', {
      headers: { 'Retry-After': '5' },
    })
  }
}
