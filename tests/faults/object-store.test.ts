import { mkdtemp, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterVersions, versionFiles } from '../../src/publishing/tables'
import { randomBytes } from '../../src/lib/crypto'
import { type Job } from '../../src/lib/jobs'
import { runJob } from '../../src/jobs'
import { createLocalStore } from '../../src/node/local-store'
import { createS3Store } from '../../src/storage/s3'
import { type AdapterFile, createListing, declare, peftFolder, sha256 } from '../helpers/adapters'
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'
import { startS3Server, type S3TestServer } from '../helpers/s3'
import { expectRecovered } from './invariants'

type Person = Awaited<ReturnType<Harness['teamOwner']>>
type Upload =
  | { path: string; kind: 'single'; url: string; headers: Record<string, string> }
  | { path: string; kind: 'multipart'; partSize: number; parts: { partNumber: number; url: string; size: number }[] }

const BASE = 'meta-llama/Llama-2-7b-hf'

/** Storage answered 503 storage_unavailable with a retry hint. */
function expectStorageUnavailable(response: Awaited<ReturnType<Harness['call']>>) {
  expectProblem(response, 503, 'storage_unavailable')
  expect(response.headers.get('retry-after')).toBe('5')
}

/**
 * Validation jobs wait here until the test delivers them, as a Workers queue holds its messages:
 * a job that fails stays queued for the next delivery.
 */
function heldQueue() {
  const held: Job[] = []
  let deps: Parameters<typeof runJob>[0] | undefined
  return {
    jobs: { enqueue: async (job: Job) => void held.push(job) },
    bind(to: Parameters<typeof runJob>[0]) {
      deps = to
    },
    get size() {
      return held.length
    },
    /** Runs every held job once; the ones that fail are held again. Returns how many failed. */
    async deliver() {
      if (!deps) throw new Error('bind the queue to the harness deps first')
      const batch = held.splice(0)
      let failed = 0
      for (const job of batch) {
        try {
          await runJob(deps, job)
        } catch {
          failed += 1
          held.push(job)
        }
      }
      return failed
    },
  }
}

/** PUTs every file of a version to its upload URLs; returns what completeVersion needs for multipart files. */
async function uploadAll(h: Harness, uploads: Upload[], files: AdapterFile[]) {
  const parts: Record<string, { partNumber: number; etag: string }[]> = {}
  for (const upload of uploads) {
    const bytes = files.find((file) => file.path === upload.path)!.bytes
    if (upload.kind === 'single') {
      expect((await h.put(upload.url, upload.headers, bytes)).status).toBe(200)
      continue
    }
    parts[upload.path] = []
    for (const part of upload.parts) {
      const start = (part.partNumber - 1) * upload.partSize
      const response = await h.put(part.url, {}, bytes.subarray(start, start + part.size))
      expect(response.status).toBe(200)
      parts[upload.path]!.push({ partNumber: part.partNumber, etag: response.headers.get('etag')! })
    }
  }
  return Object.keys(parts).length > 0 ? { parts } : undefined
}

describe('an S3 store that goes down, hangs or slows (a fault proxy in front of the S3 test server)', () => {
  let s3: S3TestServer
  let proxy: FaultProxy
  let queue: ReturnType<typeof heldQueue>
  let h: Harness
  let seller: Person

  beforeAll(async () => {
    s3 = await startS3Server()
    proxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(s3.endpoint).port) })
    queue = heldQueue()
    // The weights (~0.5 MB) go up as a multipart upload, whose creation is a call to the store.
    const store = createS3Store({ ...s3, endpoint: `http://127.0.0.1:${proxy.port}`, singlePartMaxBytes: 100_000, connectTimeoutMs: 1000, idleTimeoutMs: 1000 })
    h = await createHarness({ store, jobs: queue.jobs })
    queue.bind(h.deps)
    seller = await h.teamOwner('s3-faults')
  })
  afterAll(async () => {
    proxy?.set('up')
    await h?.close()
    await proxy?.close()
    await s3?.close()
  })

  const versionsOf = (slug: string) => `/v1/adapters/${seller.team}/${slug}/versions`
  const createVersion = (slug: string, files: AdapterFile[]) =>
    h.call('POST', versionsOf(slug), { auth: seller.token, body: { version: '1.0.0', baseModel: BASE, files: declare(files) } })

  it('refuses createVersion with 503 while the store is down or hung, writing nothing; the same call works after', async () => {
    await createListing(h, seller, 'plan-lora')
    const files = peftFolder({ base: BASE })
    for (const mode of ['down', 'stall'] as const) {
      proxy.set(mode)
      expectStorageUnavailable(await createVersion('plan-lora', files))
      expect((await h.call('GET', `${versionsOf('plan-lora')}/1.0.0`, { auth: seller.token })).status).toBe(404)
    }
    proxy.set('up')
    const created = await createVersion('plan-lora', files)
    expect(created.status).toBe(201)
    expect(created.json.uploads.map((upload: Upload) => upload.kind).sort()).toEqual(['multipart', 'single', 'single'])
  })

  it('keeps a version uploading through an outage during upload and complete; the same URLs and call finish it after', async () => {
    await createListing(h, seller, 'upload-lora')
    const files = peftFolder({ base: BASE })
    const created = await createVersion('upload-lora', files)
    const uploads = created.json.uploads as Upload[]
    const single = uploads.find((upload): upload is Extract<Upload, { kind: 'single' }> => upload.kind === 'single')!

    proxy.set('down')
    // The seller's PUT goes straight to the store: it fails at the network, the API is not involved.
    await expect(h.put(single.url, single.headers, files.find((file) => file.path === single.path)!.bytes)).rejects.toThrow()
    proxy.set('up')
    const body = await uploadAll(h, uploads, files) // the URLs from before the outage still work

    for (const mode of ['down', 'stall'] as const) {
      proxy.set(mode)
      expectStorageUnavailable(await h.call('POST', `${versionsOf('upload-lora')}/1.0.0/complete`, { auth: seller.token, body }))
      const stuck = await h.call('GET', `${versionsOf('upload-lora')}/1.0.0`, { auth: seller.token })
      expect(stuck.json.status).toBe('uploading')
    }
    proxy.set('up')
    expect((await h.call('POST', `${versionsOf('upload-lora')}/1.0.0/complete`, { auth: seller.token, body })).status).toBe(202)
    expect(await queue.deliver()).toBe(0)
    expect((await h.call('GET', `${versionsOf('upload-lora')}/1.0.0`, { auth: seller.token })).json.status).toBe('ready')
  })

  it('leaves a validation that meets an outage in validating, finishes it on redelivery, and validates through a slow store', async () => {
    await createListing(h, seller, 'validate-lora')
    const files = peftFolder({ base: BASE })
    const created = await createVersion('validate-lora', files)
    const body = await uploadAll(h, created.json.uploads, files)
    expect((await h.call('POST', `${versionsOf('validate-lora')}/1.0.0/complete`, { auth: seller.token, body })).status).toBe(202)
    expect(queue.size).toBe(1)

    for (const mode of ['down', 'stall'] as const) {
      proxy.set(mode)
      expect(await queue.deliver()).toBe(1)
      const during = await h.call('GET', `${versionsOf('validate-lora')}/1.0.0`, { auth: seller.token })
      expect(during.json).toMatchObject({ status: 'validating', findings: [] })
    }
    // A slow store is not an outage: every byte comes, late.
    proxy.set({ delayMs: 20 })
    expect(await queue.deliver()).toBe(0)
    const after = await h.call('GET', `${versionsOf('validate-lora')}/1.0.0`, { auth: seller.token })
    expect(after.json.status).toBe('ready')
    expect(after.json.compatibleBases).toContain(BASE)
    proxy.set('up')
    await expectRecovered(h, { idle: async () => void (await queue.deliver()) })
  })

  it('hands out download links while the store is down (signing needs no call); the link works once it is back', async () => {
    await createListing(h, seller, 'download-lora')
    const files = peftFolder({ base: BASE })
    const created = await createVersion('download-lora', files)
    const body = await uploadAll(h, created.json.uploads, files)
    await h.call('POST', `${versionsOf('download-lora')}/1.0.0/complete`, { auth: seller.token, body })
    expect(await queue.deliver()).toBe(0)
    expect((await h.call('POST', `${versionsOf('download-lora')}/1.0.0/publish`, { auth: seller.token })).status).toBe(200)
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/download-lora/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    const buyer = await h.user('s3-buyer')
    expect((await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id } })).status).toBe(201)
    const weights = files.find((file) => file.path === 'adapter_model.safetensors')!

    proxy.set('down')
    const link = await h.call('GET', `${versionsOf('download-lora')}/1.0.0/files/adapter_model.safetensors`, { auth: buyer.token })
    expect(link.status).toBe(302)
    expect(link.headers.get('x-checksum-sha256')).toBe(sha256(weights.bytes))
    await expect(fetch(link.headers.get('location')!)).rejects.toThrow()
    proxy.set('up')
    const file = await fetch(link.headers.get('location')!)
    expect(file.status).toBe(200)
    expect(sha256(new Uint8Array(await file.arrayBuffer()))).toBe(sha256(weights.bytes))
    await expectRecovered(h, { idle: async () => void (await queue.deliver()) })
  })
})

describe('the local store on a volume that goes away (its folder unmounted)', () => {
  let root: string
  let queue: ReturnType<typeof heldQueue>
  let h: Harness
  let seller: Person
  const unmount = () => rename(root, `${root}-away`)
  const remount = () => rename(`${root}-away`, root)

  beforeAll(async () => {
    root = join(await mkdtemp(join(tmpdir(), 'refinery-volume-')), 'objects')
    queue = heldQueue()
    h = await createHarness({ store: createLocalStore({ root, publicUrl: 'http://localhost:8787', secret: randomBytes(32) }), jobs: queue.jobs })
    queue.bind(h.deps)
    seller = await h.teamOwner('volume')
  })
  afterAll(async () => {
    await h?.close()
    await rm(join(root, '..'), { recursive: true, force: true })
  })

  it('answers 503 for uploads, completion and downloads, never rejects a version for it, and serves all again once back', async () => {
    await createListing(h, seller, 'volume-lora')
    const files = peftFolder({ base: BASE })
    const versions = `/v1/adapters/${seller.team}/volume-lora/versions`
    const created = await h.call('POST', versions, { auth: seller.token, body: { version: '1.0.0', baseModel: BASE, files: declare(files) } })
    expect(created.status).toBe(201) // local upload URLs are signed, not stored: no disk needed
    const uploads = created.json.uploads as Extract<Upload, { kind: 'single' }>[]

    await unmount()
    const put = await h.put(uploads[0]!.url, uploads[0]!.headers, files.find((file) => file.path === uploads[0]!.path)!.bytes)
    expect(put.status).toBe(503)
    expect((await put.json()).code).toBe('storage_unavailable')
    // Nothing was written in the empty mount point's place.
    await expect(stat(root)).rejects.toThrow()
    await remount()
    await uploadAll(h, uploads, files)

    await unmount()
    expectStorageUnavailable(await h.call('POST', `${versions}/1.0.0/complete`, { auth: seller.token }))
    await remount()
    expect((await h.call('POST', `${versions}/1.0.0/complete`, { auth: seller.token })).status).toBe(202)

    // Validation while the volume is away: every file looks absent, which must not read as "missing".
    await unmount()
    expect(await queue.deliver()).toBe(1)
    const [during] = await h.db.select().from(adapterVersions).where(eq(adapterVersions.id, created.json.version.id))
    expect(during).toMatchObject({ status: 'validating', findings: [] })
    await remount()
    expect(await queue.deliver()).toBe(0)
    expect((await h.call('GET', `${versions}/1.0.0`, { auth: seller.token })).json.status).toBe('ready')
    expect((await h.call('POST', `${versions}/1.0.0/publish`, { auth: seller.token })).status).toBe(200)

    const link = await h.call('GET', `${versions}/1.0.0/files/adapter_model.safetensors`, { auth: seller.token })
    expect(link.status).toBe(302)
    await unmount()
    const away = await h.fetchUrl(link.headers.get('location')!)
    expect(away.status).toBe(503)
    expect((await away.json()).code).toBe('storage_unavailable')
    await remount()
    const back = await h.fetchUrl(link.headers.get('location')!)
    expect(back.status).toBe(200)
    const weights = files.find((file) => file.path === 'adapter_model.safetensors')!
    expect(sha256(new Uint8Array(await back.arrayBuffer()))).toBe(sha256(weights.bytes))
    expect(await h.db.select().from(versionFiles).where(eq(versionFiles.versionId, created.json.version.id))).toHaveLength(files.length)
    await expectRecovered(h, { idle: async () => void (await queue.deliver()) })
  })
})
