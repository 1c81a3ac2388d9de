import { and, eq, isNotNull, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapters } from '../../src/catalog/tables'
import { createListing } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

const LLAMA = 'meta-llama/Llama-2-7b-hf'

/**
 * Every sort pages through every listed match exactly once, in the order of its key and then the
 * id (both descending), also when many listings share a key: the page is chosen on ids and keys
 * before whole rows are read, and must keep the order a single query gave.
 */
describe('search order and keyset pages, with ties on every sort key', () => {
  let h: Harness

  beforeAll(async () => {
    h = await createHarness()
    const seller = await h.teamOwner('order')
    for (let i = 0; i < 14; i++) {
      await createListing(h, seller, `listing-${i}`, {
        // Every title says "legal"; some summaries too, so relevance has ranks and ties.
        summary: i % 3 === 0 ? 'Legal drafting, legal review' : 'Answers questions about contracts',
      })
      await h.db
        .update(adapters)
        .set({
          // Three listings to a timestamp, three download counts, three ratings.
          publishedAt: new Date(Date.UTC(2026, 0, 1 + Math.floor(i / 3))),
          downloads: (i * 7) % 3,
          ratingAverage: [0, 4.5, 3][i % 3],
          ratingCount: i % 3 === 0 ? 0 : 2,
          latestVersion: '1.0.0',
          compatKeys: i % 2 === 0 ? [LLAMA, `${LLAMA}|vllm`, '*|vllm'] : [],
        })
        .where(eq(adapters.slug, `listing-${i}`))
    }
    // Not listed: a draft with a published version, and a published listing without one.
    await createListing(h, seller, 'draft', { visibility: 'draft' })
    await h.db.update(adapters).set({ publishedAt: new Date(Date.UTC(2026, 0, 1)), compatKeys: [LLAMA] }).where(eq(adapters.slug, 'draft'))
    await createListing(h, seller, 'no-version')
  })
  afterAll(() => h.close())

  /** Every listed match, ordered as the sort defines it, computed apart from the search query. */
  async function expected(sort: 'relevance' | 'newest' | 'downloads' | 'rating', filter: { q?: string; base?: string } = {}) {
    const rows = await h.db
      .select({
        id: adapters.id,
        slug: adapters.slug,
        publishedAt: adapters.publishedAt,
        downloads: adapters.downloads,
        rating: adapters.ratingAverage,
        compatKeys: adapters.compatKeys,
        rank: filter.q ? sql<number>`ts_rank(${adapters.searchVector}, websearch_to_tsquery('english', ${filter.q}))` : sql<number>`0`,
        matches: filter.q ? sql<boolean>`${adapters.searchVector} @@ websearch_to_tsquery('english', ${filter.q})` : sql<boolean>`true`,
      })
      .from(adapters)
      .where(and(eq(adapters.visibility, 'published'), isNotNull(adapters.publishedAt)))
    const key = (row: (typeof rows)[number]) => ({ relevance: Number(row.rank), newest: row.publishedAt?.getTime() ?? 0, downloads: row.downloads, rating: row.rating })[sort]
    return rows
      .filter((row) => row.matches && (!filter.base || row.compatKeys.includes(filter.base)))
      .sort((a, b) => key(b) - key(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .map((row) => row.slug)
  }

  async function pageThrough(path: string, limit: number) {
    const slugs: string[] = []
    let cursor: string | null = null
    for (let pages = 0; pages < 20; pages++) {
      const response = await h.call('GET', `${path}${path.includes('?') ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)
      expect(response.status, response.text).toBe(200)
      slugs.push(...response.json.items.map((item: { slug: string }) => item.slug))
      cursor = response.json.nextCursor
      if (!cursor) return slugs
    }
    throw new Error('more pages than listings')
  }

  for (const sort of ['newest', 'downloads', 'rating'] as const) {
    it(`sort=${sort}: every listed listing once, key then id descending`, async () => {
      const order = await expected(sort)
      expect(order).toHaveLength(14)
      // Ties in each key: the comparison is not trivially decided by the key alone.
      for (const limit of [1, 2, 5, 14]) expect(await pageThrough(`/v1/adapters?sort=${sort}`, limit), `limit ${limit}`).toEqual(order)
    })
  }

  it('sort=relevance: ranks with ties, paged at every size', async () => {
    const order = await expected('relevance', { q: 'legal' })
    expect(order).toHaveLength(14)
    for (const limit of [1, 3, 14]) expect(await pageThrough('/v1/adapters?q=legal', limit), `limit ${limit}`).toEqual(order)
  })

  it('sort=relevance, several words: ranked over every match (not the one-word terms), same order', async () => {
    const order = await expected('relevance', { q: 'legal assistant' })
    expect(order).toHaveLength(14)
    for (const limit of [1, 4]) expect(await pageThrough('/v1/adapters?q=legal%20assistant', limit), `limit ${limit}`).toEqual(order)
  })

  it('filters keep the same order (base model, by downloads and by rating; text and base)', async () => {
    const byDownloads = await expected('downloads', { base: LLAMA })
    expect(byDownloads).toHaveLength(7)
    expect(await pageThrough(`/v1/base-models/${LLAMA}/adapters`, 2)).toEqual(byDownloads)
    expect(await pageThrough(`/v1/adapters?base=${LLAMA}&sort=rating`, 3)).toEqual(await expected('rating', { base: LLAMA }))
    expect(await pageThrough(`/v1/adapters?base=${LLAMA}&runtime=vllm&sort=newest`, 4)).toEqual(await expected('newest', { base: LLAMA }))
    expect(await pageThrough(`/v1/adapters?q=legal&base=${LLAMA}`, 2)).toEqual(await expected('relevance', { q: 'legal', base: LLAMA }))
  })
})
