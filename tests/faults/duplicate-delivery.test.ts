import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { adapterVersions, versionCompatibility } from '../../src/publishing/tables'
import { listRegistry } from '../../src/registry/registry'
import { type Job } from '../../src/lib/jobs'
import { runJob } from '../../src/jobs'
import { createS3Store } from '../../src/storage/s3'
import { createListing, declare, peftFolder } from '../helpers/adapters'
import { createHarness } from '../helpers/harness'
import { canRunPrivatePostgres, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres'
import { s3Env, startS3Server, type S3TestServer } from '../helpers/s3'
import { freePort } from '../helpers/server'
import { expectRecovered } from './invariants'

const BASE = 'meta-llama/Llama-2-7b-hf'

/** The app on the S3 test server, its validation jobs held for the test to deliver (as a queue holds messages). */
async function heldHarness(s3: S3TestServer, databaseServerUrl?: string) {
  const held: Job[] = []
  const h = await createHarness({ store: createS3Store(s3), jobs: { enqueue: async (job) => void held.push(job) }, databaseServerUrl })
  const seller = await h.teamOwner('dup')

  /** A version uploaded and completed: in `validating`, its one job held. */
  async function completedVersion(slug: string) {
    await createListing(h, seller, slug)
    const files = peftFolder({ base: BASE })
    const created = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/versions`, {
      auth: seller.token,
      body: { version: '1.0.0', baseModel: BASE, files: declare(files) },
    })
    for (const upload of created.json.uploads) {
      expect((await h.put(upload.url, upload.headers, files.find((file) => file.path === upload.path)!.bytes)).status).toBe(200)
    }
    expect((await h.call('POST', `/v1/adapters/${seller.team}/${slug}/versions/1.0.0/complete`, { auth: seller.token })).status).toBe(202)
    const job = held.pop()
    expect(job).toEqual({ kind: 'validate_version', versionId: created.json.version.id })
    return job as Extract<Job, { kind: 'validate_version' }>
  }

  /** One verdict: ready, counted once, one matrix row per registered base. */
  async function expectOneVerdict(versionId: string) {
    const [version] = await h.db.select().from(adapterVersions).where(eq(adapterVersions.id, versionId))
    expect(version).toMatchObject({ status: 'ready', validationAttempts: 1, findings: [] })
    const matrix = await h.db.select().from(versionCompatibility).where(eq(versionCompatibility.versionId, versionId))
    const bases = (await listRegistry(h.db)).map((base) => base.id)
    expect(matrix.map((row) => row.baseModel).sort()).toEqual([...bases].sort())
    return version!
  }

  return { h, held, completedVersion, expectOneVerdict }
}

describe('a validation job delivered twice (runJob, what both queues call)', () => {
  let s3: S3TestServer
  let app: Awaited<ReturnType<typeof heldHarness>>

  beforeAll(async () => {
    s3 = await startS3Server()
    app = await heldHarness(s3)
  })
  afterAll(async () => {
    await app?.h.close()
    await s3?.close()
  })

  it('one after the other: the second changes nothing', async () => {
    const job = await app.completedVersion('twice-in-a-row')
    await runJob(app.h.deps, job)
    const first = await app.expectOneVerdict(job.versionId)
    await runJob(app.h.deps, job)
    const second = await app.expectOneVerdict(job.versionId)
    expect(second).toEqual(first)
  })

  it('at the same time: one verdict, one matrix, no duplicate rows', async () => {
    const job = await app.completedVersion('twice-at-once')
    await Promise.all([runJob(app.h.deps, job), runJob(app.h.deps, job), runJob(app.h.deps, job)])
    await app.expectOneVerdict(job.versionId)
    await expectRecovered(app.h)
  })
})

type FakeMessage = { id: string; body: Job; attempts: number; acked: number; retried: number; ack(): void; retry(): void }
const message = (body: Job, attempts = 1): FakeMessage => ({
  id: crypto.randomUUID(),
  body,
  attempts,
  acked: 0,
  retried: 0,
  ack() {
    this.acked += 1
  },
  retry() {
    this.retried += 1
  },
})

type WorkerModule = typeof import('../../workers/api')
/**
 * The Worker module as one isolate sees it: it keeps its configuration, store and app between
 * invocations, so a deployment with other settings is another isolate (a fresh module instance).
 */
async function isolate(): Promise<WorkerModule['default']> {
  vi.resetModules()
  return (await import('../../workers/api')).default
}
const consume = (handler: WorkerModule['default'], messages: FakeMessage[], env: Record<string, string>) =>
  handler.queue({ messages } as unknown as Parameters<typeof handler.queue>[0], env)

/** The Workers queue consumer needs Postgres: DATABASE_URL's server, or a cluster of this file's own. */
const consumerDatabase = process.env.DATABASE_URL || canRunPrivatePostgres

describe.runIf(consumerDatabase)('the Workers queue consumer (workers/api.ts queue) given the same message twice', () => {
  let s3: S3TestServer
  let pg: PrivatePostgres | undefined
  let app: Awaited<ReturnType<typeof heldHarness>>
  let env: Record<string, string>
  let worker: WorkerModule['default']

  beforeAll(async () => {
    s3 = await startS3Server()
    if (!process.env.DATABASE_URL) pg = await startPrivatePostgres()
    app = await heldHarness(s3, pg?.url)
    env = { DATABASE_URL: app.h.databaseUrl!, JWT_SECRET: 'worker-test-secret-that-is-at-least-32-characters', ...s3Env(s3) }
    worker = await isolate()
  })
  afterAll(async () => {
    try {
      await app?.h.close()
      await s3?.close()
    } finally {
      await pg?.close()
    }
  })

  it('in one batch and in two batches at once: every copy is acked, one verdict is written', async () => {
    const job = await app.completedVersion('queue-dup')
    const batch = [message(job), message(job)]
    await consume(worker, batch, env)
    expect(batch.map((m) => [m.acked, m.retried])).toEqual([[1, 0], [1, 0]])
    await app.expectOneVerdict(job.versionId)

    const again = await app.completedVersion('queue-dup-racing')
    const racing = [message(again), message(again)]
    await Promise.all(racing.map((m) => consume(worker, [m], env)))
    expect(racing.map((m) => [m.acked, m.retried])).toEqual([[1, 0], [1, 0]])
    await app.expectOneVerdict(again.versionId)
  })

  it('retries a message the store could not serve, marks the last try, and a later delivery finishes it once', async () => {
    const job = await app.completedVersion('queue-outage')
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {}) // the consumer logs each failed try
    const down = { ...env, S3_ENDPOINT: `http://127.0.0.1:${await freePort()}` }
    const outage = await isolate()
    const first = message(job, 1)
    await consume(outage, [first], down)
    expect([first.acked, first.retried]).toEqual([0, 1])
    const [during] = await app.h.db.select().from(adapterVersions).where(eq(adapterVersions.id, job.versionId))
    expect(during).toMatchObject({ status: 'validating', findings: [] })

    // The last delivery before the dead-letter queue says so on the version.
    const last = message(job, 6)
    await consume(outage, [last], down)
    expect([last.acked, last.retried]).toEqual([0, 1])
    const [stalled] = await app.h.db.select().from(adapterVersions).where(eq(adapterVersions.id, job.versionId))
    expect(stalled).toMatchObject({ status: 'validating', findings: [expect.objectContaining({ code: 'validation_stalled' })] })
    expect(logged).toHaveBeenCalledTimes(2)
    logged.mockRestore()

    // Upkeep requeues it once the store is back (and a duplicate of that arrives too).
    const requeued = [message(job, 1), message(job, 1)]
    await consume(worker, requeued, env)
    expect(requeued.map((m) => m.acked)).toEqual([1, 1])
    await app.expectOneVerdict(job.versionId)
    await expectRecovered(app.h)
  })
})
