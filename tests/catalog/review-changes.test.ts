import { eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { reviews } from '../../src/commerce/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

describe('reviewers change and withdraw their own review', () => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  let buyer: Awaited<ReturnType<Harness['user']>>
  let other: Awaited<ReturnType<Harness['user']>>
  const listing = () => `/v1/adapters/${seller.team}/reviewed`
  const post = (person: { token: string }, body: unknown) => h.call('POST', `${listing()}/versions/1.0.0/reviews`, { auth: person.token, body })

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('review-seller')
    await createListing(h, seller, 'reviewed')
    await publishFolder(h, seller, 'reviewed', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const offer = await h.call('POST', `${listing()}/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    buyer = await h.user('review-buyer')
    other = await h.user('review-other')
    for (const person of [buyer, other]) await h.call('POST', '/v1/checkout', { auth: person.token, body: { offerId: offer.json.id } })
  })
  afterAll(() => h.close())

  it('edits the rating and text, recounts the listing’s rating, and refuses anyone else', async () => {
    const mine = (await post(buyer, { rating: 2, text: 'Too short.' })).json
    const theirs = (await post(other, { rating: 4, text: 'Fine.' })).json
    expect((await h.call('GET', listing())).json.rating).toEqual({ average: 3, count: 2 })

    const edited = await h.call('PATCH', `/v1/reviews/${mine.id}`, { auth: buyer.token, body: { rating: 5, text: 'Better after reading the docs.' } })
    expect(edited.status).toBe(200)
    expect(edited.json).toMatchObject({ id: mine.id, rating: 5, text: 'Better after reading the docs.' })
    expect((await h.call('GET', listing())).json.rating).toEqual({ average: 4.5, count: 2 })

    // Someone else's review is not found (nothing says it exists); the seller cannot edit it either.
    expectProblem(await h.call('PATCH', `/v1/reviews/${theirs.id}`, { auth: buyer.token, body: { rating: 1 } }), 404, 'not_found')
    expectProblem(await h.call('DELETE', `/v1/reviews/${theirs.id}`, { auth: seller.token }), 404, 'not_found')
    expectProblem(await h.call('PATCH', `/v1/reviews/${mine.id}`, { auth: buyer.token, body: { stars: 1 } }), 422, 'validation_failed')
    expectProblem(await h.call('PATCH', `/v1/reviews/${mine.id}`, { auth: buyer.token, body: {} }), 422, 'validation_failed')
    expect((await h.call('GET', `${listing()}/reviews`)).json.items.find((review: { id: string }) => review.id === theirs.id).rating).toBe(4)
  })

  it('withdraws a review, recounts, and lets its author post a new one', async () => {
    const { items } = (await h.call('GET', `${listing()}/reviews`)).json
    const mine = items.find((review: { rating: number }) => review.rating === 5)
    const withdrawn = await h.call('DELETE', `/v1/reviews/${mine.id}`, { auth: buyer.token })
    expect(withdrawn.status).toBe(200)
    expect((await h.call('GET', listing())).json.rating).toEqual({ average: 4, count: 1 })
    expectProblem(await h.call('DELETE', `/v1/reviews/${mine.id}`, { auth: buyer.token }), 404, 'not_found')
    expect((await post(buyer, { rating: 3, text: 'Second thoughts.' })).status).toBe(201)
  })

  it('lets a key bound to a team change only that team’s reviews, not its user’s own', async () => {
    const { items } = (await h.call('GET', `${listing()}/reviews`)).json
    const mine = items.find((review: { rating: number }) => review.rating === 3)
    const team = `review-team-${crypto.randomUUID().slice(0, 8)}`
    await h.call('POST', '/v1/teams', { auth: buyer.token, body: { slug: team, name: 'Buyer team' } })
    const bound = (await h.call('POST', '/v1/api-keys', { auth: buyer.token, body: { name: 'bound', scopes: ['purchase'], team } })).json.key
    expectProblem(await h.call('PATCH', `/v1/reviews/${mine.id}`, { auth: bound, body: { rating: 1 } }), 404, 'not_found')
    expectProblem(await h.call('DELETE', `/v1/reviews/${mine.id}`, { auth: bound }), 404, 'not_found')
    const readOnly = (await h.call('POST', '/v1/api-keys', { auth: buyer.token, body: { name: 'read', scopes: ['read'] } })).json.key
    expectProblem(await h.call('DELETE', `/v1/reviews/${mine.id}`, { auth: readOnly }), 403, 'insufficient_scope')
  })
  it('pages reviews written within one millisecond one by one, skipping none (Postgres keeps microseconds)', async () => {
    const { items } = (await h.call('GET', `${listing()}/reviews`)).json as { items: { id: string }[] }
    expect(items.length).toBeGreaterThanOrEqual(2)
    // Every review at the same millisecond, microseconds apart: a cursor keeps only the millisecond.
    for (const [index, review] of items.entries()) {
      await h.db.update(reviews).set({ createdAt: sql`'2026-12-01T10:00:00.123Z'::timestamptz + ${(index + 1) * 100} * interval '1 microsecond'` }).where(eq(reviews.id, review.id))
    }
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page = (await h.call('GET', `${listing()}/reviews?limit=1${cursor ? `&cursor=${cursor}` : ''}`)).json as { items: { id: string }[]; nextCursor: string | null }
      seen.push(...page.items.map((review) => review.id))
      cursor = page.nextCursor
    } while (cursor && seen.length <= items.length)
    expect(seen.sort()).toEqual(items.map((review) => review.id).sort())
  })
})
