import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app'
import type { Database } from '../../src/db/types'
import type { Deps } from '../../src/lib/context'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { openTestDatabase } from '../helpers/database'
import { createHarness, type Harness } from '../helpers/harness'

/**
 * On Workers, anonymous public reads may go through a Hyperdrive binding that caches answers for
 * a minute (`Deps.publicDb`); everything else must read the present. Here `publicDb` is a replica
 * that missed every write (an empty, migrated database), and every touch of it is recorded with
 * the request that made it:
 * - a signed-in caller never reads through it, on any operation of /openapi.json;
 * - anonymous callers read through it only on the public read operations below;
 * - access and money read the present: a revoked key, a new entitlement, one's own new listing.
 */
const PUBLIC_READS = new Set(['searchAdapters', 'getAdapter', 'listBaseModels', 'getBaseModel', 'listCompatibleAdapters'])

type Operation = { method: string; path: string; operationId: string }
type Touch = { principal: boolean }

describe('fresh reads: what may use the cached database', () => {
  let h: Harness
  let replica: Awaited<ReturnType<typeof openTestDatabase>>
  let app: ReturnType<typeof createApp>
  let touches: Touch[] = []
  let operations: Operation[]
  let owner: Awaited<ReturnType<Harness['teamOwner']>>
  const params: Record<string, string> = {}

  beforeAll(async () => {
    // No registry in memory: every base-model read goes to a database, so the test sees which.
    h = await createHarness({ registry: undefined })
    replica = await openTestDatabase({})
    // Any use of the replica on behalf of a request, recorded with whether that request had a caller.
    const recording = (c: Parameters<NonNullable<Parameters<typeof createApp>[1]>>[0]): Database =>
      new Proxy(replica.db, {
        get(target, property, receiver) {
          touches.push({ principal: c.get('principal') !== null })
          return Reflect.get(target, property, receiver)
        },
      })
    app = createApp(h.deps, (c): Deps => ({ ...h.deps, publicDb: recording(c) }))
    owner = await h.teamOwner('fresh')
    await createListing(h, owner, 'fresh-work')
    await publishFolder(h, owner, 'fresh-work', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    Object.assign(params, { team: owner.team, slug: 'fresh-work', version: '1.0.0', path: 'adapter_config.json', owner: 'meta-llama', name: 'Llama-2-7b-hf' })
    const document = (await h.call('GET', '/openapi.json')).json as { paths: Record<string, Record<string, { operationId: string }>> }
    operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ method: method.toUpperCase(), path, operationId: operation.operationId })),
    )
  })
  afterAll(async () => {
    await h?.close()
    await replica?.close()
  })

  async function send(method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
    touches = []
    const response = await app.request(path, {
      method,
      headers: { ...headers, ...(body !== undefined && { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    await response.arrayBuffer()
    await h.idle()
    return { status: response.status, touches }
  }

  const pathOf = (operation: Operation) =>
    operation.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? crypto.randomUUID()))

  it('a signed-in caller never reads through it, whatever the operation', async () => {
    const used: string[] = []
    // Not logout: it would end the session the other tests use (it reads nothing public anyway).
    for (const operation of operations.filter((candidate) => candidate.operationId !== 'logout')) {
      const { touches } = await send(operation.method, pathOf(operation), { Authorization: `Bearer ${owner.token}` }, operation.method === 'GET' || operation.method === 'HEAD' ? undefined : {})
      if (touches.some((touch) => touch.principal)) used.push(operation.operationId)
    }
    expect(used).toEqual([])
    expect(operations.length).toBeGreaterThan(40)
  })

  it('anonymous callers read through it only on public reads, and those do', async () => {
    const used = new Set<string>()
    for (const operation of operations.filter((candidate) => candidate.method === 'GET')) {
      const { touches } = await send('GET', pathOf(operation))
      if (touches.length > 0) used.add(operation.operationId)
    }
    expect([...used].sort()).toEqual([...PUBLIC_READS].sort())
  })

  it('the storefront reads through it for visitors, never for a signed-in user', async () => {
    const listing = `/${owner.team}/fresh-work`
    expect((await send('GET', listing)).status).toBe(404) // the replica has not seen the listing yet
    expect((await send('GET', '/')).touches.length).toBeGreaterThan(0)
    const session = { Cookie: `refinery_session=${owner.token}` }
    const signedIn = await send('GET', listing, session)
    expect(signedIn).toMatchObject({ status: 200, touches: [] })
    expect((await send('GET', '/', session)).touches).toEqual([])
  })

  it('access and money read the present: a revoked key, a new licence, one’s own new listing', async () => {
    const key = await h.call('POST', '/v1/api-keys', { auth: owner.token, body: { name: 'soon revoked', scopes: ['read'] } })
    const bearer = { Authorization: `Bearer ${key.json.key}` }
    expect((await send('GET', '/v1/me', bearer)).status).toBe(200)
    await h.call('DELETE', `/v1/api-keys/${key.json.apiKey.id}`, { auth: owner.token })
    expect((await send('GET', '/v1/me', bearer)).status).toBe(401)

    const offer = await h.call('POST', `/v1/adapters/${owner.team}/fresh-work/offers`, { auth: owner.token, body: { kind: 'free', license: 'research' } })
    const buyer = await h.user('fresh-buyer')
    const file = `/v1/adapters/${owner.team}/fresh-work/versions/1.0.0/files/adapter_config.json`
    expect((await send('GET', file, { Authorization: `Bearer ${buyer.token}` })).status).toBe(403)
    expect((await send('POST', '/v1/checkout', { Authorization: `Bearer ${buyer.token}` }, { offerId: offer.json.id })).status).toBe(201)
    expect((await send('GET', file, { Authorization: `Bearer ${buyer.token}` })).status).toBe(302)

    await createListing(h, owner, 'just-made')
    expect((await send('GET', `/v1/adapters/${owner.team}/just-made`, { Authorization: `Bearer ${owner.token}` })).status).toBe(200)
    // An anonymous reader may be told by the replica that it does not exist yet.
    expect((await send('GET', `/v1/adapters/${owner.team}/fresh-work`)).status).toBe(404)
  })
})
