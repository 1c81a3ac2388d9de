import { and, eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { adapterVersions, versionCompatibility } from '../../src/publishing/tables'
import { processStripeEvent } from '../../src/commerce/webhooks'
import { stripeEvents } from '../../src/commerce/tables'
import { registeredBaseModels } from '../../src/registry/tables'
import { checkStored, StoredShapeError } from '../../src/db/stored'
import { hfConfigs } from '../compat/fixtures/hf-configs'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

const LLAMA2 = 'meta-llama/Llama-2-7b-hf'

describe('checkStored', () => {
  const schema = z.object({ n: z.number(), tags: z.array(z.string()) })

  it('returns the value as read, unknown keys and all', () => {
    const value = { n: 1, tags: ['a'], extra: { kept: true } }
    expect(checkStored(value, schema, 't.c', 'row 1')).toBe(value)
  })

  it('names the column, the row and the paths that are wrong', () => {
    const error = (() => {
      try {
        checkStored({ n: 'one', tags: ['a', 2] }, schema, 'things.facts', 'thing 7')
      } catch (caught) {
        return caught
      }
    })()
    expect(error).toBeInstanceOf(StoredShapeError)
    expect((error as StoredShapeError).message).toMatch(/^things\.facts of thing 7 does not have the shape the code stores: n: .*; tags\.1: /)
    expect(() => checkStored(null, schema, 'things.facts', 'thing 8')).toThrow(/things\.facts of thing 8 .*\(the value\): /)
  })
})

/**
 * A jsonb row that lost its shape (written by hand, by older code, damaged) is refused where it
 * is read, with an error naming the row, instead of failing somewhere inside the compatibility
 * engine or a Stripe handler: the request answers 500 `internal_error` and the log says which row.
 */
describe('stored facts read back with the wrong shape', () => {
  let h: Harness
  const logged: string[] = []
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  let versionId: string
  const operators: string[] = []

  const lastLogged = () => logged.at(-1) ?? ''

  beforeAll(async () => {
    h = await createHarness({
      operators,
      logger: { error: (...args: unknown[]) => void logged.push(args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(' ')), warn: () => {}, info: () => {} },
    })
    seller = await h.teamOwner('shapes')
    await createListing(h, seller, 'shaped')
    const published = await publishFolder(h, seller, 'shaped', '1.0.0', peftFolder({ base: LLAMA2 }), { publish: true })
    versionId = published.version.id
  })
  afterAll(() => h.close())

  it('a registered base whose facts lost a field: reading it names the row', async () => {
    const operator = await h.user('operator')
    operators.push(operator.email.toLowerCase())
    const id = `ops-${crypto.randomUUID().slice(0, 8)}/llama-2-7b-copy`
    expect((await h.call('POST', '/v1/base-models', { auth: operator.token, body: { id, config: hfConfigs[LLAMA2] } })).status).toBe(201)
    await h.idle()
    expect((await h.call('GET', `/v1/base-models/${id}`)).status).toBe(200)

    await h.db.update(registeredBaseModels).set({ facts: sql`${registeredBaseModels.facts} - 'modules'` }).where(eq(registeredBaseModels.id, id))
    expectProblem(await h.call('GET', `/v1/base-models/${id}`), 500, 'internal_error')
    expect(lastLogged()).toContain(`registered_base_models.facts of '${id}' does not have the shape the code stores: modules: `)

    await h.db.delete(versionCompatibility).where(eq(versionCompatibility.baseModel, id))
    await h.db.delete(registeredBaseModels).where(eq(registeredBaseModels.id, id))
    expect((await h.call('GET', `/v1/base-models/${id}`)).status).toBe(404)
  })

  it('a version whose tensors are not a list: a check by reference names the version, not a TypeError', async () => {
    const ref = `${seller.team}/shaped@1.0.0`
    const check = () => h.call('POST', '/v1/compat/check', { body: { base: LLAMA2, adapter: { version: ref } } })
    expect((await check()).status).toBe(200)
    const [row] = await h.db.select({ facts: adapterVersions.facts }).from(adapterVersions).where(eq(adapterVersions.id, versionId))
    await h.db
      .update(adapterVersions)
      .set({ facts: sql`jsonb_set(${adapterVersions.facts}, '{header,tensors}', '"gone"')` })
      .where(eq(adapterVersions.id, versionId))
    expectProblem(await check(), 500, 'internal_error')
    expect(lastLogged()).toContain(`adapter_versions.facts of version ${versionId} does not have the shape the code stores: header.tensors: `)
    await h.db.update(adapterVersions).set({ facts: row!.facts }).where(eq(adapterVersions.id, versionId))
    expect((await check()).status).toBe(200)
  })

  it('a matrix row whose engines are a list: the compatibility read names the row', async () => {
    const path = `/v1/adapters/${seller.team}/shaped/versions/1.0.0/compatibility`
    expect((await h.call('GET', path)).status).toBe(200)
    const where = and(eq(versionCompatibility.versionId, versionId), eq(versionCompatibility.baseModel, LLAMA2))
    const [row] = await h.db.select({ runtimes: versionCompatibility.runtimes }).from(versionCompatibility).where(where)
    await h.db.update(versionCompatibility).set({ runtimes: sql`'[]'::jsonb` }).where(where)
    expectProblem(await h.call('GET', path), 500, 'internal_error')
    expect(lastLogged()).toContain(`version_compatibility of version ${versionId} against '${LLAMA2}' does not have the shape the code stores: runtimes: `)
    // The storefront page reads the same matrix: an error page, not a half-drawn one.
    expect((await h.app.request(`/${seller.team}/shaped`)).status).toBe(500)
    await h.db.update(versionCompatibility).set({ runtimes: row!.runtimes }).where(where)
    expect((await h.call('GET', path)).status).toBe(200)
  })

  it('a version whose evals are not a list: its view names the version', async () => {
    const path = `/v1/adapters/${seller.team}/shaped/versions/1.0.0`
    await h.db.update(adapterVersions).set({ evals: sql`'{"score": 1}'::jsonb` }).where(eq(adapterVersions.id, versionId))
    expectProblem(await h.call('GET', path), 500, 'internal_error')
    expect(lastLogged()).toContain(`adapter_versions of version ${versionId} does not have the shape the code stores: evals: `)
    await h.db.update(adapterVersions).set({ evals: [] }).where(eq(adapterVersions.id, versionId))
    expect((await h.call('GET', path)).status).toBe(200)
  })

  it('a stored Stripe event without its object: applying it fails with the event named, kept as its last error', async () => {
    const id = `evt_shape_${crypto.randomUUID().slice(0, 8)}`
    await h.db.insert(stripeEvents).values({ id, type: 'checkout.session.completed', payload: sql`${JSON.stringify({ id, type: 'checkout.session.completed', data: {} })}::jsonb` })
    await expect(processStripeEvent(h.deps, id)).rejects.toThrow(StoredShapeError)
    const [row] = await h.db.select().from(stripeEvents).where(eq(stripeEvents.id, id))
    expect(row).toMatchObject({ processedAt: null, attempts: 1 })
    expect(row?.lastError).toMatch(new RegExp(`^stripe_events\\.payload of event ${id} does not have the shape the code stores: data\\.object: `))
    await h.db.delete(stripeEvents).where(eq(stripeEvents.id, id))
  })
})
