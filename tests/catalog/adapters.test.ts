import { count } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapters } from '../../src/catalog/tables'
import { createHarness } from '../helpers/harness'
import type { Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

let h: Harness
beforeAll(async () => {
  h = await createHarness()
})
afterAll(() => h.close())

const listing = (team: string, slug = `law-zh-${crypto.randomUUID().slice(0, 6)}`) => ({
  team,
  slug,
  title: 'Chinese legal QA for Baichuan2-7B',
  summary: 'Answers questions on PRC contract law.',
  description: '# Legal QA\n\nTrained on 40k Q&A pairs.',
  tags: { task: ['qa'], domain: ['legal'], language: ['zh'] },
  license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true },
})

describe('createAdapter', () => {
  it('creates a draft listing that only the team can see until it is published', async () => {
    const seller = await h.teamOwner('seller')
    const body = listing(seller.team)
    const created = await h.call('POST', '/v1/adapters', { auth: seller.token, body })
    expect(created.status).toBe(201)
    expect(created.json).toMatchObject({
      team: seller.team,
      slug: body.slug,
      visibility: 'draft',
      tags: body.tags,
      license: { spdx: 'Apache-2.0', text: null, commercialUse: true, derivatives: true },
      downloads: 0,
    })
    const path = `/v1/adapters/${seller.team}/${body.slug}`
    expect((await h.call('GET', path, { auth: seller.token })).status).toBe(200)
    expectProblem(await h.call('GET', path), 404, 'not_found')
    const stranger = await h.user()
    expectProblem(await h.call('GET', path, { auth: stranger.token }), 404, 'not_found')

    const published = await h.call('PATCH', path, { auth: seller.token, body: { visibility: 'published' } })
    expect(published.json.visibility).toBe('published')
    const anonymous = await h.call('GET', path)
    expect(anonymous.status).toBe(200)
    expect(anonymous.json.description).toBe(body.description)
  })

  it('answers 409 for a duplicate slug in the same team, but another team may reuse it', async () => {
    const a = await h.teamOwner('a')
    const b = await h.teamOwner('b')
    const body = listing(a.team, 'same-slug')
    expect((await h.call('POST', '/v1/adapters', { auth: a.token, body })).status).toBe(201)
    expectProblem(await h.call('POST', '/v1/adapters', { auth: a.token, body }), 409, 'adapter_slug_taken')
    expect((await h.call('POST', '/v1/adapters', { auth: b.token, body: { ...body, team: b.team } })).status).toBe(201)
  })

  it('needs the publish scope and membership of the team', async () => {
    const seller = await h.teamOwner('seller')
    const outsider = await h.teamOwner('outsider')
    const readKey = await h.call('POST', '/v1/api-keys', { auth: seller.token, body: { name: 'ro', scopes: ['read'] } })
    const before = await h.db.select({ n: count() }).from(adapters)
    expectProblem(await h.call('POST', '/v1/adapters', { body: listing(seller.team) }), 401, 'unauthorized')
    expectProblem(await h.call('POST', '/v1/adapters', { auth: readKey.json.key, body: listing(seller.team) }), 403, 'insufficient_scope')
    expectProblem(await h.call('POST', '/v1/adapters', { auth: outsider.token, body: listing(seller.team) }), 403, 'not_team_member')
    expectProblem(await h.call('POST', '/v1/adapters', { auth: seller.token, body: listing('no-such-team-x') }), 404, 'not_found')
    expect(await h.db.select({ n: count() }).from(adapters)).toEqual(before)
  })

  it.each([
    ['no license', { license: undefined }],
    ['a license with neither SPDX id nor text', { license: { commercialUse: false, derivatives: false } }],
    ['a malformed SPDX id', { license: { spdx: 'Apache 2.0!', commercialUse: false, derivatives: false } }],
    ['an upper-case tag', { tags: { task: ['QA'], domain: [], language: [] } }],
    ['too many tags', { tags: { task: Array.from({ length: 11 }, (_, i) => `t${i}`), domain: [], language: [] } }],
    ['an empty title', { title: ' ' }],
    ['a bad visibility', { visibility: 'secret' }],
  ])('rejects %s with 422', async (_label, change) => {
    const seller = await h.teamOwner('seller')
    const response = await h.call('POST', '/v1/adapters', { auth: seller.token, body: { ...listing(seller.team), ...change } })
    expectProblem(response, 422, 'validation_failed')
  })

  it('accepts a custom license text and non-Latin tags', async () => {
    const seller = await h.teamOwner('seller')
    const body = {
      ...listing(seller.team),
      tags: { task: ['问答'], domain: ['法律'], language: ['zh'] },
      license: { text: 'Research use only; contact us for commercial terms.', commercialUse: false, derivatives: false },
    }
    const created = await h.call('POST', '/v1/adapters', { auth: seller.token, body })
    expect(created.status).toBe(201)
    expect(created.json.license).toEqual({ spdx: null, text: body.license.text, commercialUse: false, derivatives: false })
    expect(created.json.tags.domain).toEqual(['法律'])
  })
})

describe('updateAdapter', () => {
  it('changes only the given fields', async () => {
    const seller = await h.teamOwner('seller')
    const body = listing(seller.team)
    await h.call('POST', '/v1/adapters', { auth: seller.token, body })
    const path = `/v1/adapters/${seller.team}/${body.slug}`
    const updated = await h.call('PATCH', path, {
      auth: seller.token,
      body: { title: 'New title', license: { spdx: 'llama2', commercialUse: false, derivatives: true } },
    })
    expect(updated.status).toBe(200)
    expect(updated.json).toMatchObject({ title: 'New title', summary: body.summary, tags: body.tags })
    expect(updated.json.license).toEqual({ spdx: 'llama2', text: null, commercialUse: false, derivatives: true })
    expectProblem(await h.call('PATCH', path, { auth: seller.token, body: {} }), 422, 'validation_failed')
  })

  it('refuses another team, anonymous callers and keys without publish; nothing changes', async () => {
    const seller = await h.teamOwner('seller')
    const other = await h.teamOwner('other')
    const body = listing(seller.team)
    await h.call('POST', '/v1/adapters', { auth: seller.token, body: { ...body, visibility: 'published' } })
    const path = `/v1/adapters/${seller.team}/${body.slug}`
    const buyKey = await h.call('POST', '/v1/api-keys', { auth: seller.token, body: { name: 'buy', scopes: ['purchase', 'read'] } })
    expectProblem(await h.call('PATCH', path, { auth: other.token, body: { title: 'pwned' } }), 403, 'not_team_member')
    expectProblem(await h.call('PATCH', path, { body: { title: 'pwned' } }), 401, 'unauthorized')
    expectProblem(await h.call('PATCH', path, { auth: buyKey.json.key, body: { title: 'pwned' } }), 403, 'insufficient_scope')
    expect((await h.call('GET', path)).json.title).toBe(body.title)
  })
})

describe('listTeamAdapters', () => {
  it('shows members every listing with its visibility, newest first, and everyone else only published ones', async () => {
    const seller = await h.teamOwner('lister')
    const slugs = { draft: 'a-draft', published: 'b-published', unlisted: 'c-unlisted', archived: 'd-archived' }
    for (const [visibility, slug] of Object.entries(slugs)) {
      const created = await h.call('POST', '/v1/adapters', { auth: seller.token, body: { ...listing(seller.team, slug), visibility } })
      expect(created.status).toBe(201)
    }
    const other = await h.teamOwner('other-lister')
    await h.call('POST', '/v1/adapters', { auth: other.token, body: { ...listing(other.team, 'not-ours'), visibility: 'published' } })
    const path = `/v1/teams/${seller.team}/adapters`

    const member = await h.call('GET', path, { auth: seller.token })
    expect(member.status).toBe(200)
    expect(member.json.items.map((item: { slug: string; visibility: string }) => [item.slug, item.visibility])).toEqual([
      ['d-archived', 'archived'],
      ['c-unlisted', 'unlisted'],
      ['b-published', 'published'],
      ['a-draft', 'draft'],
    ])
    expect(member.json.items[0]).toMatchObject({ team: seller.team, title: listing(seller.team).title, downloads: 0, latestVersion: null })

    const published = [slugs.published]
    expect((await h.call('GET', path)).json.items.map((item: { slug: string }) => item.slug)).toEqual(published)
    expect((await h.call('GET', path, { auth: other.token })).json.items.map((item: { slug: string }) => item.slug)).toEqual(published)
    // A key bound to another team does not carry its holder's membership.
    await h.addMember(seller, seller.team, other, 'admin')
    const boundKey = await h.call('POST', '/v1/api-keys', { auth: other.token, body: { name: 'other', scopes: ['read'], team: other.team } })
    expect((await h.call('GET', path, { auth: boundKey.json.key })).json.items.map((item: { slug: string }) => item.slug)).toEqual(published)
    expect((await h.call('GET', path, { auth: other.token })).json.items).toHaveLength(4)
  })

  it('answers 404 for an unknown team and 422 for a malformed slug', async () => {
    expectProblem(await h.call('GET', '/v1/teams/no-such-team-here/adapters'), 404, 'not_found')
    expectProblem(await h.call('GET', '/v1/teams/Not_A_Slug/adapters'), 422, 'validation_failed')
  })
})
