import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, mkdirSync } from 'node:fs'
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import { Readable } from 'node:stream'
import { ApiError } from '../lib/errors'
import { checksumMismatch, createUrlSigner, type GetClaims, type UrlSignerConfig, type PutClaims, sizeMismatch, storageUnavailable } from '../storage/signed-urls'
import type { AppServedEndpoint, ObjectHead, ObjectStore } from '../storage/types'
import { LOCAL_STORAGE_PATH, resolveRange } from '../storage/types'

export type LocalStoreConfig = UrlSignerConfig & {
  /** Folder holding the objects (data/), their verified checksums (meta/) and uploads in flight (tmp/). */
  root: string
}

export { LOCAL_STORAGE_PATH }

/**
 * The embedded default: objects in a folder, uploaded and downloaded through short-lived signed
 * URLs the app serves itself. Uploads stream to a temp file while hashing and land atomically.
 */
export function createLocalStore(config: LocalStoreConfig): ObjectStore & AppServedEndpoint {
  const root = resolve(config.root)
  const dataRoot = join(root, 'data')
  const metaRoot = join(root, 'meta')
  const tmpRoot = join(root, 'tmp')
  const { sign, verify, urlFor, expiresAt } = createUrlSigner(config)
  // The data folder exists from the start, so its absence later means the volume is gone (an
  // outage: 503), not that every object is missing (which would reject versions being validated).
  mkdirSync(dataRoot, { recursive: true })

  async function assertAvailable() {
    const info = await stat(dataRoot).catch(() => null)
    if (!info?.isDirectory()) throw storageUnavailable()
  }

  /** A file's stat, or null when it is not there; a store that cannot be read is an outage. */
  async function statObject(path: string) {
    try {
      return await stat(path)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw storageUnavailable()
      await assertAvailable()
      return null
    }
  }

  function pathsOf(key: string) {
    const data = resolve(dataRoot, key)
    if (key.includes('\\') || !data.startsWith(dataRoot + sep)) {
      throw new ApiError('invalid_object_key', 'The object key is not a relative path inside the store.')
    }
    return { data, meta: `${resolve(metaRoot, key)}.json` }
  }

  async function readHead(key: string): Promise<ObjectHead | null> {
    const paths = pathsOf(key)
    const info = await statObject(paths.data)
    if (!info?.isFile()) return null
    const meta = await readFile(paths.meta, 'utf8')
      .then((text) => JSON.parse(text) as { size: number; sha256: string })
      .catch(() => null)
    return { size: info.size, ...(meta && meta.size === info.size ? { sha256: meta.sha256 } : {}) }
  }

  async function existingFile(key: string) {
    const { data } = pathsOf(key)
    const info = await statObject(data)
    if (!info?.isFile()) throw new ApiError('object_missing', `The stored object ${key} is missing.`)
    return { path: data, size: info.size }
  }

  return {
    kind: 'local',

    async planUpload({ key, size, sha256, expiresInSeconds }) {
      pathsOf(key)
      const token = await sign({ op: 'put', key, size, sha256 }, expiresInSeconds)
      return {
        kind: 'single',
        method: 'PUT',
        url: urlFor(token),
        headers: { 'Content-Type': 'application/octet-stream' },
        expiresAt: expiresAt(expiresInSeconds),
      }
    },

    // The local store takes any size in one streamed PUT, so it never plans multipart uploads.
    async completeMultipart() {
      throw new ApiError('invalid_multipart_parts', 'The local store does not use multipart uploads.')
    },
    async abortMultipart() {},

    head: readHead,

    async getRange(key, start, endInclusive) {
      const file = await existingFile(key)
      const end = Math.min(endInclusive, file.size - 1)
      const length = Math.max(0, end - start + 1)
      const handle = await open(file.path, 'r')
      try {
        const buffer = new Uint8Array(length)
        let read = 0
        while (read < length) {
          const { bytesRead } = await handle.read(buffer, read, length - read, start + read)
          if (bytesRead === 0) break
          read += bytesRead
        }
        return buffer.subarray(0, read)
      } finally {
        await handle.close()
      }
    },

    async getStream(key) {
      const file = await existingFile(key)
      return Readable.toWeb(createReadStream(file.path)) as ReadableStream<Uint8Array>
    },

    async presignGet(key, { expiresInSeconds, filename, subject, headers }) {
      pathsOf(key)
      return urlFor(await sign({ op: 'get', key, ...(filename ? { filename } : {}), ...(headers ? { headers } : {}) }, expiresInSeconds, subject))
    },

    async delete(key) {
      const paths = pathsOf(key)
      await rm(paths.data, { force: true })
      await rm(paths.meta, { force: true })
    },

    async receive(token, body, contentLength) {
      const claims = await verify<PutClaims>(token, ['put'])
      const paths = pathsOf(claims.key)
      if (contentLength !== undefined && contentLength !== claims.size) {
        throw sizeMismatch(claims.size, contentLength)
      }
      await assertAvailable()
      await mkdir(tmpRoot, { recursive: true })
      const temp = join(tmpRoot, randomUUID())
      const hash = createHash('sha256')
      let received = 0
      try {
        const handle = await open(temp, 'wx')
        // One batch is written while the next is received and hashed; memory stays at two batches.
        // Written data is flushed to disk along the way, so the final fsync has little left to do.
        let writing: Promise<unknown> = Promise.resolve()
        let flushing: Promise<unknown> | undefined
        try {
          let batch: Uint8Array[] = []
          let batchBytes = 0
          let unflushed = 0
          for await (const chunk of body as AsyncIterable<Uint8Array>) {
            received += chunk.byteLength
            if (received > claims.size) throw sizeMismatch(claims.size, received)
            hash.update(chunk)
            batch.push(chunk)
            batchBytes += chunk.byteLength
            if (batchBytes >= WRITE_BATCH_BYTES) {
              await writing
              writing = handle.writev(batch)
              unflushed += batchBytes
              batch = []
              batchBytes = 0
              if (unflushed >= FLUSH_EVERY_BYTES && !flushing) {
                unflushed = 0
                flushing = writing.then(() => handle.datasync()).finally(() => (flushing = undefined))
              }
            }
          }
          await writing
          if (batch.length > 0) await handle.writev(batch)
          await flushing
          // Acknowledged means durable: the bytes reach the disk before the object appears.
          await handle.sync()
        } finally {
          await writing.catch(() => {})
          await flushing?.catch(() => {})
          await handle.close()
        }
        if (received !== claims.size) throw sizeMismatch(claims.size, received)
        const sha256 = hash.digest('hex')
        if (sha256 !== claims.sha256) {
          throw checksumMismatch(claims.sha256, sha256)
        }
        await mkdir(dirname(paths.data), { recursive: true })
        await mkdir(dirname(paths.meta), { recursive: true })
        // The checksum is recorded before the object appears, so a visible object is a verified one.
        await writeFile(`${temp}.meta`, JSON.stringify({ size: received, sha256 }))
        await rename(`${temp}.meta`, paths.meta)
        await rename(temp, paths.data)
        await syncDirectory(dirname(paths.data))
        return { size: received, sha256 }
      } catch (error) {
        await rm(temp, { force: true })
        await rm(`${temp}.meta`, { force: true })
        if (error instanceof ApiError) throw error
        throw new ApiError('upload_interrupted', 'The upload ended before all its bytes arrived; send it again.')
      }
    },

    async open(token, rangeHeader) {
      const claims = await verify<GetClaims>(token, ['get'])
      const file = await existingFile(claims.key)
      const range = resolveRange(rangeHeader, file.size)
      return {
        size: file.size,
        range,
        filename: claims.filename,
        headers: claims.headers ?? {},
        body: async () => {
          const bounds = range && range !== 'unsatisfiable' ? range : { start: 0, end: Math.max(0, file.size - 1) }
          if (file.size === 0) return new ReadableStream<Uint8Array>({ start: (controller) => controller.close() })
          return Readable.toWeb(createReadStream(file.path, bounds)) as ReadableStream<Uint8Array>
        },
      }
    },
  }
}

/** Incoming chunks (~64 KiB from Node's HTTP parser) are gathered into writes of this size. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024
/** How much written data may wait for the disk before a background flush starts. */
const FLUSH_EVERY_BYTES = 64 * 1024 * 1024

/** Makes a rename in `dir` durable. */
async function syncDirectory(dir: string) {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
