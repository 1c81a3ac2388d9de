import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError } from '../../src/lib/errors'
import { createLocalStore } from '../../src/node/local-store'
import { createS3Store } from '../../src/storage/s3'
import type { ObjectStore } from '../../src/storage/types'
import { resolveRange, sha256OfStream } from '../../src/storage/types'
import { sha256 } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

const PART = 5 * 1024 * 1024

function bytesOf(size: number, seed = 7): Uint8Array {
  const bytes = new Uint8Array(size)
  let state = seed
  for (let i = 0; i < size; i += 1) {
    state = (state * 1103515245 + 12345) >>> 0
    bytes[i] = state >>> 24
  }
  return bytes
}

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(ApiError)
  return error as ApiError
}

describe.each(['local', 's3'] as const)('the %s object store', (kind) => {
  let h: Harness
  let store: ObjectStore
  let localRoot = ''
  const secret = new TextEncoder().encode('a local store secret of thirty-two bytes or more')

  beforeAll(async () => {
    if (kind === 'local') {
      localRoot = await mkdtemp(join(tmpdir(), 'refinery-store-'))
      h = await createHarness({ store: createLocalStore({ root: localRoot, publicUrl: 'http://localhost:8787', secret }) })
    } else {
      h = await createHarness({ storage: 's3', singlePartMaxBytes: PART })
    }
    store = h.deps.store
  })
  afterAll(async () => {
    await h.close()
    if (localRoot) await rm(localRoot, { recursive: true, force: true })
  })

  async function upload(key: string, bytes: Uint8Array) {
    const plan = await store.planUpload({ key, size: bytes.length, sha256: sha256(bytes), expiresInSeconds: 600 })
    if (plan.kind !== 'single') throw new Error('expected a single PUT')
    return h.put(plan.url, plan.headers, bytes)
  }

  it('takes a single PUT through a signed URL and reads it back whole and by range', async () => {
    const bytes = bytesOf(300_000)
    const put = await upload('adapters/a/b/adapter_model.safetensors', bytes)
    expect(put.status).toBe(200)

    const head = await store.head('adapters/a/b/adapter_model.safetensors')
    expect(head?.size).toBe(bytes.length)
    // The local store verified the sha256 while writing; s3rver keeps no checksums.
    if (kind === 'local') expect(head?.sha256).toBe(sha256(bytes))
    expect(await store.head('adapters/a/b/missing')).toBeNull()

    expect(await store.getRange('adapters/a/b/adapter_model.safetensors', 0, 9)).toEqual(bytes.subarray(0, 10))
    expect(await store.getRange('adapters/a/b/adapter_model.safetensors', 299_990, 299_999)).toEqual(bytes.subarray(299_990))
    expect(await sha256OfStream(await store.getStream('adapters/a/b/adapter_model.safetensors'))).toBe(sha256(bytes))
    const missing = await rejection(store.getRange('adapters/a/b/missing', 0, 9))
    expect(missing).toMatchObject({ status: 404, code: 'object_missing' })
  })

  it('hands out download URLs that serve the file, its ranges and HEAD, named as asked', async () => {
    const bytes = bytesOf(70_000, 11)
    await upload('adapters/a/c/weights.safetensors', bytes)
    const url = await store.presignGet('adapters/a/c/weights.safetensors', { expiresInSeconds: 300, filename: 'legal-zh-1.0.0.safetensors', subject: 'user-1' })

    const whole = await h.fetchUrl(url)
    expect(whole.status).toBe(200)
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(bytes)
    expect(whole.headers.get('content-disposition')).toContain('legal-zh-1.0.0.safetensors')

    const range = await h.fetchUrl(url, { headers: { Range: 'bytes=100-199' } })
    expect(range.status).toBe(206)
    expect(range.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`)
    expect(new Uint8Array(await range.arrayBuffer())).toEqual(bytes.subarray(100, 200))

    if (kind === 'local') {
      // (s3rver serves `bytes=-n` as `bytes=0-n`; real S3 and our local store serve the last n bytes.)
      const suffix = await h.fetchUrl(url, { headers: { Range: 'bytes=-10' } })
      expect(suffix.status).toBe(206)
      expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 10))
    }

    const past = await h.fetchUrl(url, { headers: { Range: `bytes=${bytes.length}-` } })
    expect(past.status).toBe(416)
    await past.arrayBuffer()

    if (kind === 'local') {
      // (A presigned S3 URL is signed for GET only; the app's own download URLs also answer HEAD.)
      const head = await h.fetchUrl(url, { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(head.headers.get('content-length')).toBe(String(bytes.length))
      expect(await head.text()).toBe('')
    }
  })

  it('refuses bytes other than the ones the URL was signed for, and keeps nothing of them', async () => {
    const bytes = bytesOf(1000, 3)
    const plan = await store.planUpload({ key: 'adapters/a/d/file.bin', size: bytes.length, sha256: sha256(bytes), expiresInSeconds: 600 })
    if (plan.kind !== 'single') throw new Error('expected a single PUT')
    const other = bytesOf(1000, 4)
    if (kind === 'local') {
      const wrongBytes = await h.put(plan.url, plan.headers, other)
      expect(wrongBytes.status).toBe(422)
      expect((await wrongBytes.json()).code).toBe('checksum_mismatch')
      const wrongSize = await h.put(plan.url, plan.headers, bytes.subarray(0, 999))
      expect((await wrongSize.json()).code).toBe('size_mismatch')
      // Nothing half-written stays behind: no object, no temp file.
      expect(await readdir(join(localRoot, 'tmp'))).toEqual([])
    } else {
      // The sha256 is a signed header: changing it breaks the signature.
      const forged = await h.put(plan.url, { ...plan.headers, 'x-amz-checksum-sha256': Buffer.from(sha256(other), 'hex').toString('base64') }, other)
      expect(forged.status).toBe(403)
      expect(await forged.text()).toContain('SignatureDoesNotMatch')
      // So is the length.
      expect((await h.put(plan.url, plan.headers, bytes.subarray(0, 999))).status).toBe(403)
    }
    expect(await store.head('adapters/a/d/file.bin')).toBeNull()
  })

  it('deletes objects', async () => {
    await upload('adapters/a/e/gone.bin', bytesOf(10))
    await store.delete('adapters/a/e/gone.bin')
    expect(await store.head('adapters/a/e/gone.bin')).toBeNull()
  })

  if (kind === 's3') {
    it('plans multipart uploads with presigned part URLs and assembles the parts', async () => {
      const bytes = bytesOf(2 * PART + 12_345, 5)
      const plan = await store.planUpload({ key: 'adapters/m/p/big.safetensors', size: bytes.length, sha256: sha256(bytes), expiresInSeconds: 600 })
      if (plan.kind !== 'multipart') throw new Error('expected multipart')
      expect(plan.partSize).toBe(PART)
      expect(plan.parts.map((part) => part.size)).toEqual([PART, PART, 12_345])

      const etags = []
      for (const part of plan.parts) {
        const start = (part.partNumber - 1) * plan.partSize
        const response = await h.put(part.url, {}, bytes.subarray(start, start + part.size))
        expect(response.status).toBe(200)
        etags.push({ partNumber: part.partNumber, etag: response.headers.get('etag')! })
      }
      expect(await store.head('adapters/m/p/big.safetensors')).toBeNull()
      await store.completeMultipart({ key: 'adapters/m/p/big.safetensors', uploadId: plan.uploadId, parts: etags.reverse() })
      expect((await store.head('adapters/m/p/big.safetensors'))?.size).toBe(bytes.length)
      expect(await store.getRange('adapters/m/p/big.safetensors', PART - 5, PART + 4)).toEqual(bytes.subarray(PART - 5, PART + 5))
      expect(await sha256OfStream(await store.getStream('adapters/m/p/big.safetensors'))).toBe(sha256(bytes))
    })

    // (s3rver answers an unknown upload id with a 500 and crashes on unknown parts, so the 422
    // mapping of InvalidPart/NoSuchUpload cannot be exercised against it.)
    it('turns an unreachable server into a 503 problem', async () => {
      const closedPort = await new Promise<number>((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => {
          const { port } = server.address() as { port: number }
          server.close(() => resolve(port))
        })
      })
      const down = createS3Store({ endpoint: `http://127.0.0.1:${closedPort}`, region: 'us-east-1', bucket: 'b', accessKeyId: 'k', secretAccessKey: 's', forcePathStyle: true })
      expect(await rejection(down.head('anything'))).toMatchObject({ status: 503, code: 'storage_unavailable' })
    })
  }

  if (kind === 'local') {
    it('refuses expired, tampered and swapped tokens with 403s, and keys outside the store', async () => {
      const bytes = bytesOf(100)
      const expired = await new SignJWT({ op: 'put', key: 'adapters/x/y/z.bin', size: 100, sha256: sha256(bytes) })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(secret)
      const late = await h.put(`http://localhost:8787/v1/storage/local/${expired}`, {}, bytes)
      expect(late.status).toBe(403)
      expect((await late.json()).code).toBe('upload_url_expired')

      const plan = await store.planUpload({ key: 'adapters/x/y/z.bin', size: 100, sha256: sha256(bytes), expiresInSeconds: 600 })
      if (plan.kind !== 'single') throw new Error('expected a single PUT')
      const tampered = plan.url.slice(0, -3) + (plan.url.endsWith('AAA') ? 'BBB' : 'AAA')
      expect((await (await h.put(tampered, {}, bytes)).json()).code).toBe('invalid_upload_token')
      // An upload URL does not download, and a download URL does not upload.
      expect((await (await h.fetchUrl(plan.url)).json()).code).toBe('invalid_download_token')
      const download = await store.presignGet('adapters/x/y/z.bin', { expiresInSeconds: 60 })
      expect((await (await h.put(download, {}, bytes)).json()).code).toBe('invalid_upload_token')

      for (const key of ['../outside.bin', 'adapters/../../outside.bin', '/etc/passwd']) {
        expect(await rejection(store.planUpload({ key, size: 1, sha256: 'a'.repeat(64), expiresInSeconds: 60 }))).toMatchObject({
          status: 422,
          code: 'invalid_object_key',
        })
      }
    })

    it('leaves nothing behind when an upload is cut off midway', async () => {
      const bytes = bytesOf(200_000)
      const plan = await store.planUpload({ key: 'adapters/x/cut/w.bin', size: bytes.length, sha256: sha256(bytes), expiresInSeconds: 600 })
      if (plan.kind !== 'single') throw new Error('expected a single PUT')
      const token = plan.url.split('/').at(-1)!
      async function* cutOff() {
        yield bytes.subarray(0, 50_000)
        throw new Error('connection reset')
      }
      const local = createLocalStore({ root: localRoot, publicUrl: 'http://localhost:8787', secret })
      expect(await rejection(local.receive(token, cutOff(), undefined))).toMatchObject({ status: 400, code: 'upload_interrupted' })
      expect(await store.head('adapters/x/cut/w.bin')).toBeNull()
      expect(await readdir(join(localRoot, 'tmp'))).toEqual([])
    })
  }
})

describe('Range headers', () => {
  it.each([
    ['bytes=0-9', { start: 0, end: 9 }],
    ['bytes=5-', { start: 5, end: 99 }],
    ['bytes=-10', { start: 90, end: 99 }],
    ['bytes=-500', { start: 0, end: 99 }],
    ['bytes=90-500', { start: 90, end: 99 }],
    ['bytes=100-', 'unsatisfiable'],
    ['bytes=-0', 'unsatisfiable'],
    ['bytes=9-5', null],
    ['bytes=0-1,5-6', null],
    ['items=0-9', null],
    [undefined, null],
  ] as const)('%s of 100 bytes → %j', (header, expected) => {
    expect(resolveRange(header, 100)).toEqual(expected)
  })
})
