import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterVersions, versionFiles } from '../../src/publishing/tables'
import { runMaintenance } from '../../src/maintenance'
import { ABANDONED_UPLOAD_AFTER_MS } from '../../src/maintenance'
import { createLocalStore } from '../../src/node/local-store'
import type { ObjectStore } from '../../src/storage/types'
import { randomBytes } from '../../src/lib/crypto'
import { createListing, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const QUOTA = 100_000
const limits = { teamStorageBytes: QUOTA, filesPerVersion: 4, fileBytes: 60_000 }

/** A declared file of `size` bytes (nothing is uploaded: the limits apply before any URL is issued). */
const declared = (path: string, size: number) => ({ path, size, sha256: 'ab'.repeat(32) })

describe('upload quotas at createVersion', () => {
  let h: Harness
  let root: string
  let plannedUploads = 0

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'refinery-quota-'))
    // The real local store, counting the upload URLs it issues.
    const local = createLocalStore({ root, publicUrl: 'http://localhost:8787', secret: randomBytes(32) })
    const store: ObjectStore = Object.assign(Object.create(local) as ObjectStore, {
      planUpload: (input: Parameters<ObjectStore['planUpload']>[0]) => {
        plannedUploads += 1
        return local.planUpload(input)
      },
    })
    h = await createHarness({ uploadLimits: limits, store })
  })
  afterAll(async () => {
    await h.close()
    await rm(root, { recursive: true, force: true })
  })

  async function sellerWithListing(slug = 'quota') {
    const seller = await h.teamOwner('quota')
    await createListing(h, seller, slug)
    return seller
  }

  const createVersion = (seller: { token: string; team: string }, version: string, files: ReturnType<typeof declared>[], slug = 'quota') =>
    h.call('POST', `/v1/adapters/${seller.team}/${slug}/versions`, {
      auth: seller.token,
      body: { version, baseModel: 'meta-llama/Llama-2-7b-hf', files },
    })

  const rowsWritten = async () => ({ versions: await h.db.$count(adapterVersions), files: await h.db.$count(versionFiles) })

  it('refuses more files per version than allowed, before issuing any upload URL and writing nothing', async () => {
    const seller = await sellerWithListing()
    const before = await rowsWritten()
    const planned = plannedUploads
    const files = ['a', 'b', 'c', 'd', 'e'].map((name) => declared(`${name}.safetensors`, 10))
    const refusal = await createVersion(seller, '1.0.0', files)
    expectProblem(refusal, 422, 'quota_exceeded')
    const refused = refusal.json
    expect(refused).toMatchObject({ quota: 'files_per_version', limit: 4, requested: 5 })
    expect(refused.detail).toContain('at most 4 files')
    expect(plannedUploads).toBe(planned)
    expect(await rowsWritten()).toEqual(before)
    expect((await createVersion(seller, '1.0.0', files.slice(0, 4))).status).toBe(201)
  })

  it('refuses a file larger than the per-file limit', async () => {
    const seller = await sellerWithListing()
    const refusal = await createVersion(seller, '1.0.0', [declared('adapter_model.safetensors', 60_001)])
    expectProblem(refusal, 422, 'quota_exceeded')
    const refused = refusal.json
    expect(refused).toMatchObject({ quota: 'file_size', limit: 60_000, requested: 60_001 })
    expect(refused.detail).toContain('adapter_model.safetensors')
  })

  it('refuses a version that would take the team past its storage quota, naming used and limit', async () => {
    const seller = await sellerWithListing()
    expect((await createVersion(seller, '1.0.0', [declared('adapter_model.safetensors', 50_000), declared('README.md', 20_000)])).status).toBe(201)
    const planned = plannedUploads
    const before = await rowsWritten()
    const refusal = await createVersion(seller, '1.1.0', [declared('adapter_model.safetensors', 30_001)])
    expectProblem(refusal, 422, 'quota_exceeded')
    const refused = refusal.json
    expect(refused).toMatchObject({ quota: 'team_storage', limit: QUOTA, used: 70_000, requested: 30_001 })
    expect(refused.detail).toBe('The team stores 70.0 kB of its 100.0 kB quota; this version declares 30.0 kB more.')
    expect(plannedUploads).toBe(planned)
    expect(await rowsWritten()).toEqual(before)
    // Exactly what is left still fits; another team has its own quota.
    expect((await createVersion(seller, '1.1.0', [declared('adapter_model.safetensors', 30_000)])).status).toBe(201)
    const other = await sellerWithListing()
    expect((await createVersion(other, '1.0.0', [declared('adapter_model.safetensors', 60_000)])).status).toBe(201)
  })

  it('lets only one of several concurrent versions into the space left', async () => {
    const seller = await sellerWithListing('race-0')
    const slugs = ['race-0', 'race-1', 'race-2', 'race-3', 'race-4', 'race-5']
    for (const slug of slugs.slice(1)) await createListing(h, seller, slug)
    const answers = await Promise.all(slugs.map((slug) => createVersion(seller, '1.0.0', [declared('adapter_model.safetensors', 60_000)], slug)))
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 422, 422, 422, 422, 422])
    for (const answer of answers.filter((answer) => answer.status === 422)) expectProblem(answer, 422, 'quota_exceeded')
  })

  it('frees the quota when upkeep removes an abandoned upload or an old rejected version', async () => {
    const seller = await sellerWithListing()
    expect((await createVersion(seller, '1.0.0', [declared('adapter_model.safetensors', 60_000)])).status).toBe(201)
    // A real upload that validation rejects: a pickle named .safetensors, padded to 30 kB.
    const pickle = new Uint8Array(30_000)
    pickle.set([0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x7d, 0x94, 0x8c, 0x03, 0x66, 0x6f, 0x6f, 0x94, 0x2e])
    const rejected = await publishFolder(h, seller, 'quota', '1.1.0', [{ path: 'adapter_model.safetensors', bytes: pickle }])
    expect(rejected.version.status).toBe('rejected')
    // 80 kB: too much beside either the abandoned upload (60 kB) or the rejected version (30 kB).
    const full = [declared('adapter_model.safetensors', 40_000), declared('extra.safetensors', 40_000)]
    expectProblem(await createVersion(seller, '2.0.0', full), 422, 'quota_exceeded')

    h.advanceClock(ABANDONED_UPLOAD_AFTER_MS + 1000)
    const upkeep = await runMaintenance(h.deps)
    expect(upkeep.expiredUploads).toBeGreaterThanOrEqual(1)
    expect(upkeep.removedRejected).toBeGreaterThanOrEqual(1)
    // A day and more has passed: the seller logs in again.
    seller.token = (await h.call('POST', '/v1/login', { body: { email: seller.email, password: seller.password } })).json.token
    expect((await h.call('GET', `/v1/adapters/${seller.team}/quota/versions/1.1.0`, { auth: seller.token })).status).toBe(404)
    expect((await createVersion(seller, '2.0.0', full)).status).toBe(201)
  })
})
