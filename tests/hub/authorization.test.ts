import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTokenSigner } from '../../src/identity'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness, TEST_SECRET } from '../helpers/harness'
import { databaseSnapshot } from '../helpers/snapshot'

/**
 * The authorization matrix of /hf, which /openapi.json does not describe (the Hub's paths and
 * errors, not this API's): every Hub route, for team A's listing, as anonymous, with an expired
 * token, a revoked key, a key without the read scope, the owner's key bound to their other team B,
 * and another team's owner. Each refusal is the Hub's status and `X-Error-Code`, and writes nothing
 * (no audit row, no grant): the database is unchanged.
 */

type Person = Awaited<ReturnType<Harness['teamOwner']>>

describe('authorization matrix over the /hf routes', () => {
  let h: Harness
  let owner: Person
  let other: Person
  const credentials: Record<string, string | undefined> = {}
  let published: string
  let draft: string

  beforeAll(async () => {
    h = await createHarness()
    owner = await h.teamOwner('hf-matrix')
    other = await h.teamOwner('hf-intruder')
    await createListing(h, owner, 'private-work')
    await publishFolder(h, owner, 'private-work', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    await publishFolder(h, owner, 'private-work', '1.1.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }))
    await createListing(h, owner, 'hidden-draft', { visibility: 'draft' })
    await publishFolder(h, owner, 'hidden-draft', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    published = `${owner.team}/private-work`
    draft = `${owner.team}/hidden-draft`

    const key = async (person: { token: string }, body: Record<string, unknown>) => `hf_${(await h.call('POST', '/v1/api-keys', { auth: person.token, body })).json.key as string}`
    const teamB = `hf-matrix-b-${crypto.randomUUID().slice(0, 8)}`
    await h.call('POST', '/v1/teams', { auth: owner.token, body: { slug: teamB, name: 'Matrix B' } })
    const revoked = (await h.call('POST', '/v1/api-keys', { auth: owner.token, body: { name: 'revoked', scopes: ['admin'] } })).json
    await h.call('DELETE', `/v1/api-keys/${revoked.apiKey.id}`, { auth: owner.token })
    Object.assign(credentials, {
      anonymous: undefined,
      'an expired token': (await createTokenSigner(TEST_SECRET, () => new Date(Date.now() - 3 * 60 * 60 * 1000)).sign(owner.id)).token,
      'a revoked key': `hf_${revoked.key}`,
      "the owner's key without read": await key(owner, { name: 'no read', scopes: ['publish', 'purchase'] }),
      "the owner's key bound to team B": await key(owner, { name: 'bound to B', scopes: ['read', 'publish', 'purchase', 'admin'], team: teamB }),
      "another team's owner": await key(other, { name: 'intruder', scopes: ['read'] }),
    })
  })
  afterAll(() => h?.close())

  const routes = (repo: string) => ({
    modelInfo: { method: 'GET', path: `/hf/api/models/${repo}` },
    modelInfoAtRevision: { method: 'GET', path: `/hf/api/models/${repo}/revision/main` },
    tree: { method: 'GET', path: `/hf/api/models/${repo}/tree/main?recursive=true` },
    resolveHead: { method: 'HEAD', path: `/hf/${repo}/resolve/main/adapter_model.safetensors` },
    resolve: { method: 'GET', path: `/hf/${repo}/resolve/main/adapter_model.safetensors` },
    resolveUnpublished: { method: 'GET', path: `/hf/${repo}/resolve/1.1.0/adapter_model.safetensors` },
  })

  const send = async (route: { method: string; path: string }, credential: string | undefined) => {
    const response = await h.app.request(route.path, { method: route.method, headers: credential ? { Authorization: `Bearer ${credential}` } : {} })
    return { status: response.status, code: response.headers.get('x-error-code'), message: response.headers.get('x-error-message'), location: response.headers.get('location') }
  }

  /** What each caller must get from each route of the published listing (status, X-Error-Code). */
  const expected: Record<string, Record<string, [number, string | null]>> = {
    anonymous: { modelInfo: [200, null], modelInfoAtRevision: [200, null], tree: [200, null], resolveHead: [401, null], resolve: [401, null], resolveUnpublished: [401, null] },
    'an expired token': Object.fromEntries(Object.keys(routes('x')).map((name) => [name, [401, null]])),
    'a revoked key': Object.fromEntries(Object.keys(routes('x')).map((name) => [name, [401, null]])),
    "the owner's key without read": { modelInfo: [200, null], modelInfoAtRevision: [200, null], tree: [200, null], resolveHead: [403, null], resolve: [403, null], resolveUnpublished: [403, null] },
    "the owner's key bound to team B": { modelInfo: [200, null], modelInfoAtRevision: [200, null], tree: [200, null], resolveHead: [403, 'GatedRepo'], resolve: [403, 'GatedRepo'], resolveUnpublished: [404, 'RevisionNotFound'] },
    "another team's owner": { modelInfo: [200, null], modelInfoAtRevision: [200, null], tree: [200, null], resolveHead: [403, 'GatedRepo'], resolve: [403, 'GatedRepo'], resolveUnpublished: [404, 'RevisionNotFound'] },
  }

  it('answers every caller on every route of a published listing as the Hub would, writing nothing', { timeout: 120_000 }, async () => {
    for (const [label, credential] of Object.entries(credentials)) {
      for (const [name, route] of Object.entries(routes(published))) {
        const before = await databaseSnapshot(h.db)
        const response = await send(route, credential)
        expect([response.status, response.code], `${route.method} ${name} as ${label}`).toEqual(expected[label]![name])
        if (response.status === 401 && credential) expect(response.message).toBe('Invalid credentials in Authorization header')
        expect(await databaseSnapshot(h.db), `${name} as ${label} changed the database`).toEqual(before)
      }
    }
  })

  it('shows a draft listing to every outsider exactly as a missing repo', { timeout: 120_000 }, async () => {
    // The owner's own key without read is no outsider: it reads the draft's description like getAdapter does.
    for (const [label, credential] of Object.entries(credentials).filter(([label]) => label !== "the owner's key without read")) {
      for (const [name, route] of Object.entries(routes(draft))) {
        const before = await databaseSnapshot(h.db)
        const [hidden, missing] = [await send(route, credential), await send(routes(`${owner.team}/never-made`)[name as 'tree'], credential)]
        // The same answer, but for the name asked for.
        expect({ ...hidden, message: hidden.message?.replace('hidden-draft', 'never-made') }, `${name} as ${label}`).toEqual(missing)
        expect(hidden.status, `${name} as ${label}`).not.toBe(200)
        expect(await databaseSnapshot(h.db)).toEqual(before)
      }
    }
  })

  it('lets the owner through (so the refusals above are the checks, not broken fixtures)', async () => {
    const own = `hf_${(await h.call('POST', '/v1/api-keys', { auth: owner.token, body: { name: 'own', scopes: ['read'] } })).json.key}`
    for (const credential of [owner.token, own]) {
      for (const [name, route] of Object.entries(routes(published))) {
        const response = await send(route, credential)
        expect(response.status, name).toBe(name.startsWith('resolve') ? 302 : 200)
      }
      expect((await send(routes(draft).resolve, credential)).status).toBe(302)
    }
  })

  it('has no route that writes', async () => {
    const before = await databaseSnapshot(h.db)
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      for (const path of [`/hf/api/models/${published}`, `/hf/api/models/${published}/commit/main`, `/hf/${published}/resolve/main/README.md`, '/hf/api/repos/create']) {
        const response = await h.app.request(path, { method, headers: { Authorization: `Bearer ${owner.token}`, 'Content-Type': 'application/json' }, body: '{}' })
        expect(response.status, `${method} ${path}`).toBe(404)
      }
    }
    expect(await databaseSnapshot(h.db)).toEqual(before)
  })
})
