import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterVersions, versionFiles } from '../../src/publishing/tables'
import { downloads } from '../../src/downloads/tables'
import { markValidationStalled, runMaintenance } from '../../src/maintenance'
import { ABANDONED_UPLOAD_AFTER_MS, STUCK_VALIDATION_AFTER_MS } from '../../src/maintenance'
import { createListing, declare, peftFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

describe('maintenance', () => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('upkeep')
  })
  afterAll(() => h.close())

  async function startVersion(slug: string, uploadAll: boolean) {
    await createListing(h, seller, slug)
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })
    const created = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/versions`, {
      auth: seller.token,
      body: { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) },
    })
    for (const upload of created.json.uploads.slice(0, uploadAll ? undefined : 1)) {
      const file = files.find((candidate) => candidate.path === upload.path)!
      expect((await h.put(upload.url, upload.headers, file.bytes)).status).toBe(200)
    }
    return created.json.version.id as string
  }

  it('removes abandoned upload sessions with their objects, and requeues stuck validations', async () => {
    const abandoned = await startVersion('abandoned', false)
    const [uploaded] = await h.db.select().from(versionFiles).where(eq(versionFiles.versionId, abandoned))
    const lost = await startVersion('lost-job', true)
    // A validation whose job was lost (a crash between the status change and the queue), and whose
    // queue messages ran out of retries: the version says so until a run succeeds.
    await h.db.update(adapterVersions).set({ status: 'validating' }).where(eq(adapterVersions.id, lost))
    await markValidationStalled(h.deps, lost, 6, new Error('storage unavailable'))
    const stalled = await h.call('GET', `/v1/adapters/${seller.team}/lost-job/versions/1.0.0`, { auth: seller.token })
    expect(stalled.json).toMatchObject({ status: 'validating', findings: [expect.objectContaining({ code: 'validation_stalled' })] })

    expect(await runMaintenance(h.deps)).toEqual({ expiredUploads: 0, removedRejected: 0, requeuedValidations: 0, requeuedStripeEvents: 0 }) // too early for both
    h.advanceClock(STUCK_VALIDATION_AFTER_MS + 1000)
    expect(await runMaintenance(h.deps)).toEqual({ expiredUploads: 0, removedRejected: 0, requeuedValidations: 1, requeuedStripeEvents: 0 })
    await h.idle()
    expect((await h.call('GET', `/v1/adapters/${seller.team}/lost-job/versions/1.0.0`, { auth: seller.token })).json).toMatchObject({ status: 'ready', findings: [] })

    h.advanceClock(ABANDONED_UPLOAD_AFTER_MS)
    expect(await h.deps.store.head(uploaded!.storageKey)).not.toBeNull()
    expect(await runMaintenance(h.deps)).toEqual({ expiredUploads: 1, removedRejected: 0, requeuedValidations: 0, requeuedStripeEvents: 0 })
    expect(await h.deps.store.head(uploaded!.storageKey)).toBeNull()
    // A day and more has passed: the seller logs in again.
    seller.token = (await h.call('POST', '/v1/login', { body: { email: seller.email, password: seller.password } })).json.token
    expect((await h.call('GET', `/v1/adapters/${seller.team}/abandoned/versions/1.0.0`, { auth: seller.token })).status).toBe(404)
    // The number is free again: the seller can start over.
    expect(
      (
        await h.call('POST', `/v1/adapters/${seller.team}/abandoned/versions`, {
          auth: seller.token,
          body: { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })) },
        })
      ).status,
    ).toBe(201)
  })

  it('removes an abandoned upload a seller member fetched a file of, keeping the audit row of that download', async () => {
    const abandoned = await startVersion('fetched-then-abandoned', false)
    const [uploaded] = await h.db.select().from(versionFiles).where(eq(versionFiles.versionId, abandoned))
    // Members may fetch their own unpublished files: a granted download, recorded.
    const fetched = await h.call('GET', `/v1/adapters/${seller.team}/fetched-then-abandoned/versions/1.0.0/files/${uploaded!.path}`, { auth: seller.token })
    expect(fetched.status).toBe(302)
    expect(await h.db.$count(downloads, eq(downloads.versionId, abandoned))).toBe(1)

    h.advanceClock(ABANDONED_UPLOAD_AFTER_MS + 1000)
    // With foreign keys from the audit rows, this delete failed on every upkeep run. (The
    // previous test's fresh start of `abandoned` expires with it.)
    expect((await runMaintenance(h.deps)).expiredUploads).toBe(2)
    expect(await h.db.$count(adapterVersions, eq(adapterVersions.id, abandoned))).toBe(0)
    expect(await h.db.$count(downloads, eq(downloads.versionId, abandoned))).toBe(1)
    seller.token = (await h.call('POST', '/v1/login', { body: { email: seller.email, password: seller.password } })).json.token
  })
})
