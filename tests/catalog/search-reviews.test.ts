import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { entitlements } from '../../src/commerce/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

const slugsOf = (response: { json: { items: { slug: string }[] } }) => response.json.items.map((item) => item.slug)

describe('search and reviews', () => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('search')
    const llama = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })
    const mistral = peftFolder({ base: 'mistralai/Mistral-7B-v0.1', modules: ['self_attn.k_proj', 'self_attn.v_proj'] })
    await createListing(h, seller, 'contract-law', { title: 'Contract law assistant', summary: 'Reviews contracts under PRC law' })
    await publishFolder(h, seller, 'contract-law', '1.0.0', llama, { publish: true })
    await createListing(h, seller, 'sql-coder', {
      title: 'SQL coder',
      summary: 'Writes Postgres queries',
      tags: { task: ['code'], domain: ['databases'], language: ['en'] },
      license: { spdx: 'llama2', commercialUse: false, derivatives: false },
    })
    await publishFolder(h, seller, 'sql-coder', '0.1.0', mistral, { publish: true, baseModel: 'mistralai/Mistral-7B-v0.1' })
    await createListing(h, seller, 'hidden-draft', { title: 'Contract law draft', visibility: 'draft' })
    await publishFolder(h, seller, 'hidden-draft', '1.0.0', llama, { publish: true })
    await createListing(h, seller, 'never-published', { title: 'Contract law without versions' })
  })
  afterAll(() => h.close())

  it('finds listings by text, base model, engine, tag and license, never drafts or empty listings', async () => {
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=contract'))).toEqual(['contract-law'])
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=postgres queries'))).toEqual(['sql-coder'])
    expect(slugsOf(await h.call('GET', '/v1/adapters?base=meta-llama/Llama-2-7b-hf'))).toEqual(['contract-law'])
    // Ids match the Hub's case-insensitively, as on the Hub.
    expect(slugsOf(await h.call('GET', '/v1/adapters?base=MISTRALAI/mistral-7b-v0.1'))).toEqual(['sql-coder'])
    // Mistral-7B and Llama-3-8B share every layer shape: the Mistral adapter fits both.
    expect(slugsOf(await h.call('GET', '/v1/adapters?base=meta-llama/Meta-Llama-3-8B'))).toEqual(['sql-coder'])
    expect(slugsOf(await h.call('GET', '/v1/adapters?tag=code'))).toEqual(['sql-coder'])
    expect(slugsOf(await h.call('GET', '/v1/adapters?tag=zh'))).toEqual(['contract-law'])
    expect(slugsOf(await h.call('GET', '/v1/adapters?license=apache-2.0'))).toEqual(['contract-law'])
    expect(slugsOf(await h.call('GET', '/v1/adapters?commercial=false'))).toEqual(['sql-coder'])
    expect(slugsOf(await h.call('GET', '/v1/adapters?sort=newest'))).toEqual(['sql-coder', 'contract-law'])

    const vllm = await h.call('GET', '/v1/adapters?runtime=vllm&base=meta-llama/Llama-2-7b-hf')
    expect(vllm.status).toBe(200)
    expect(slugsOf(vllm)).toEqual(['contract-law'])
  })

  it('pages with an opaque cursor and rejects forged ones', async () => {
    const first = await h.call('GET', '/v1/adapters?sort=newest&limit=1')
    expect(first.json.items).toHaveLength(1)
    expect(first.json.nextCursor).toEqual(expect.any(String))
    const second = await h.call('GET', `/v1/adapters?sort=newest&limit=1&cursor=${first.json.nextCursor}`)
    expect(slugsOf(second)).toEqual(['contract-law'])
    expect(second.json.nextCursor).toBeNull()

    expectProblem(await h.call('GET', '/v1/adapters?cursor=not-a-cursor'), 400, 'invalid_cursor')
    // A cursor is bound to its sort order.
    expectProblem(await h.call('GET', `/v1/adapters?sort=downloads&cursor=${first.json.nextCursor}`), 400, 'invalid_cursor')
    expectProblem(await h.call('GET', '/v1/adapters?base=nobody/nothing'), 422, 'unknown_base_model')
    expectProblem(await h.call('GET', '/v1/adapters?sort=relevance'), 422, 'validation_failed')
    expectProblem(await h.call('GET', '/v1/adapters?runtime=ollama'), 422, 'validation_failed')
    expectProblem(await h.call('GET', '/v1/base-models/nobody/nothing/adapters'), 404, 'not_found')
  })

  it('refuses crafted cursor keys with 400 invalid_cursor (they reached Postgres and answered 500), and pages every sort with its own', async () => {
    const cursor = (position: unknown) => Buffer.from(JSON.stringify(position)).toString('base64url')
    const id = crypto.randomUUID()
    const crafted = {
      newest: ['1', '0', '+275760-09-13T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '2026-02-30T00:00:00.000Z', '2026-01-01T00:00:00Z', 1.5, 2 ** 31, 1e308, null, true, [], {}],
      downloads: ['1', '0', '+275760-09-13T00:00:00.000Z', 1.5, 2 ** 31, -(2 ** 31) - 1, 1e308, null, []],
      rating: ['1', '0', '+275760-09-13T00:00:00.000Z', 2 ** 31, 1e308, -1e308, 1e-50, -1, 5.5, null, {}],
    }
    for (const sort of ['newest', 'downloads', 'rating'] as const) {
      for (const k of crafted[sort]) {
        const response = await h.call('GET', `/v1/adapters?sort=${sort}&cursor=${cursor({ s: sort, k, id })}`)
        expect(response.status, `${sort} with k=${JSON.stringify(k)}: ${response.text}`).toBe(400)
        expectProblem(response, 400, 'invalid_cursor')
      }
    }
    for (const k of [1e308, 1e-50, '1']) {
      expectProblem(await h.call('GET', `/v1/adapters?q=contract&sort=relevance&cursor=${cursor({ s: 'relevance', k, id })}`), 400, 'invalid_cursor')
      expectProblem(await h.call('GET', `/v1/base-models/meta-llama/Llama-2-7b-hf/adapters?sort=rating&cursor=${cursor({ s: 'rating', k, id })}`), 400, 'invalid_cursor')
    }
    const reviews = `/v1/adapters/${seller.team}/contract-law/reviews`
    for (const at of ['1', '0', '+275760-09-13T00:00:00.000Z', 5, null]) {
      expectProblem(await h.call('GET', `${reviews}?cursor=${cursor({ at, id })}`), 400, 'invalid_cursor')
    }
    expectProblem(await h.call('GET', `${reviews}?cursor=${cursor({ at: '2026-01-01T00:00:00.000Z', id: 'not-a-uuid' })}`), 400, 'invalid_cursor')
    expectProblem(await h.call('GET', `/v1/adapters?sort=newest&cursor=${Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url')}`), 400, 'invalid_cursor')

    // Cursors this API issues still work, for every sort and at the edges of each key's range.
    for (const sort of ['newest', 'downloads', 'rating'] as const) {
      const first = await h.call('GET', `/v1/adapters?sort=${sort}&limit=1`)
      const second = await h.call('GET', `/v1/adapters?sort=${sort}&limit=1&cursor=${first.json.nextCursor}`)
      expect(second.status).toBe(200)
      expect(second.json.items).toHaveLength(1)
      expect(second.json.items[0].slug).not.toBe(first.json.items[0].slug)
    }
    for (const [sort, k] of [['downloads', 2 ** 31 - 1], ['downloads', -(2 ** 31)], ['rating', 1.5], ['rating', 5], ['rating', 0], ['newest', '0001-01-01T00:00:00.000Z'], ['newest', '9999-12-31T23:59:59.999Z']] as const) {
      expect((await h.call('GET', `/v1/adapters?sort=${sort}&cursor=${cursor({ s: sort, k, id })}`)).status, `${sort} ${k}`).toBe(200)
    }
  })

  it('lets only verified buyers review, once per version, and sorts by rating', async () => {
    const path = `/v1/adapters/${seller.team}/contract-law/versions/1.0.0/reviews`
    const buyer = await h.user('buyer')
    const review = { rating: 4, text: 'Caught two bad indemnity clauses.' }

    expectProblem(await h.call('POST', path, { body: review }), 401, 'unauthorized')
    expectProblem(await h.call('POST', path, { auth: buyer.token, body: review }), 403, 'not_entitled')
    expectProblem(await h.call('POST', path, { auth: seller.token, body: review }), 403, 'own_adapter')

    // The buyer claims the listing's free offer through checkout.
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/contract-law/offers`, { auth: seller.token, body: { kind: 'free', license: 'commercial' } })
    expect(offer.status).toBe(201)
    const claim = (person: { token: string }) => h.call('POST', '/v1/checkout', { auth: person.token, body: { offerId: offer.json.id } })
    expect((await claim(buyer)).status).toBe(201)

    const posted = await h.call('POST', path, { auth: buyer.token, body: review })
    expect(posted.status).toBe(201)
    expect(posted.json).toMatchObject({ rating: 4, version: '1.0.0', author: 'buyer', team: null })
    expectProblem(await h.call('POST', path, { auth: buyer.token, body: review }), 409, 'review_exists')
    expectProblem(await h.call('POST', path, { auth: buyer.token, body: { rating: 6 } }), 422, 'validation_failed')

    const listed = await h.call('GET', `/v1/adapters/${seller.team}/contract-law/reviews`)
    expect(listed.json).toMatchObject({ ratingAverage: 4, ratingCount: 1, items: [expect.objectContaining({ text: review.text })] })
    expect(slugsOf(await h.call('GET', '/v1/adapters?sort=rating'))).toEqual(['contract-law', 'sql-coder'])
    const adapter = await h.call('GET', `/v1/adapters/${seller.team}/contract-law`)
    expect(adapter.json.rating).toEqual({ average: 4, count: 1 })

    // A revoked entitlement (refund, chargeback) no longer counts: claimed through checkout, then
    // revoked as a refund's webhook revokes it (tests/commerce covers the webhook).
    const other = await h.user('refunded')
    expect((await claim(other)).status).toBe(201)
    await h.db.update(entitlements).set({ revokedAt: new Date(), revokeReason: 'refunded' }).where(eq(entitlements.userId, other.id))
    expectProblem(await h.call('POST', path, { auth: other.token, body: review }), 403, 'not_entitled')
  })
})
