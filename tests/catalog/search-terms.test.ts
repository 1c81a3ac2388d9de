import { asc, eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { searchTermsInsert } from '../../src/search/search-terms'
import { adapters } from '../../src/catalog/tables'
import { adapterSearchTerms } from '../../src/search/tables'
import { createListing } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

const slugsOf = (response: { json: { items: { slug: string }[] } }) => response.json.items.map((item) => item.slug)

/**
 * A one-word search reads `adapter_search_terms` (each listed listing's lexemes with the rank
 * that word alone gives it) instead of ranking every match. Those rows follow every write to a
 * listing's text or listing state, whoever makes it, and hold what the bulk form computes.
 */
describe('one-word search terms', () => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  const path = (slug: string) => `/v1/adapters/${seller.team}/${slug}`

  /** Lists a listing as publishing a first version does (this suite needs no weights). */
  const list = (slug: string) => h.db.update(adapters).set({ publishedAt: new Date(Date.UTC(2026, 0, 1)) }).where(eq(adapters.slug, slug))
  const termRows = () =>
    h.db
      .select({ adapterId: adapterSearchTerms.adapterId, term: adapterSearchTerms.term, weight: adapterSearchTerms.weight })
      .from(adapterSearchTerms)
      .orderBy(asc(adapterSearchTerms.adapterId), asc(adapterSearchTerms.term))

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('terms')
    await createListing(h, seller, 'quoted', { title: `O'Brien's tariff`, summary: 'Tariff tables' })
    await createListing(h, seller, 'tariff-plain', { title: 'Tariff assistant', summary: 'Customs' })
    await createListing(h, seller, 'draft-tariff', { title: 'Tariff draft', visibility: 'draft' })
    await createListing(h, seller, 'unpublished-tariff', { title: 'Tariff without a version' })
    for (const slug of ['quoted', 'tariff-plain', 'draft-tariff']) await list(slug)
  })
  afterAll(() => h.close())

  it('holds listed listings only, with the rank the word alone gives, as the bulk form computes it', async () => {
    const kept = await termRows()
    const listed = await h.db.select({ id: adapters.id, slug: adapters.slug }).from(adapters)
    const slugOf = new Map(listed.map((row) => [row.id, row.slug]))
    expect(new Set(kept.map((row) => slugOf.get(row.adapterId)))).toEqual(new Set(['quoted', 'tariff-plain']))
    // The rank stored is the rank of the one-word query itself, for every row.
    const [mismatches] = await h.db
      .select({ n: sql<number>`count(*)::int` })
      .from(adapterSearchTerms)
      .innerJoin(adapters, eq(adapters.id, adapterSearchTerms.adapterId))
      .where(sql`${adapterSearchTerms.weight} <> ts_rank(${adapters.searchVector}, ${adapterSearchTerms.term}::tsquery)`)
    expect(mismatches?.n).toBe(0)

    await h.db.delete(adapterSearchTerms)
    await h.db.execute(searchTermsInsert(sql`true`))
    expect(await termRows()).toEqual(kept)
  })

  it('one word is read from the terms; a word the parser splits is ranked like any phrase', async () => {
    // The key is the one-word query as Postgres prints it.
    const [row] = await h.db.select({ term: sql<string>`websearch_to_tsquery('english', ${'Tariffs'})::text` }).from(adapters).limit(1)
    expect((await termRows()).map((term) => term.term)).toContain(row?.term)
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=Tariffs')).sort()).toEqual(['quoted', 'tariff-plain'])
    // "O'Brien" is the phrase 'o' <-> 'brien': not one lexeme, so it takes the ranking path.
    expect(slugsOf(await h.call('GET', `/v1/adapters?q=${encodeURIComponent("O'Brien")}`))).toEqual(['quoted'])
  })

  it('follows title changes and unlisting through the API, in the same transaction', async () => {
    const renamed = await h.call('PATCH', path('tariff-plain'), { auth: seller.token, body: { title: 'Duty assistant', summary: 'Customs duty' } })
    expect(renamed.status, renamed.text).toBe(200)
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=tariff'))).toEqual(['quoted'])
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=duty'))).toEqual(['tariff-plain'])

    const hidden = await h.call('PATCH', path('quoted'), { auth: seller.token, body: { visibility: 'draft' } })
    expect(hidden.status, hidden.text).toBe(200)
    // A draft is never found, by one word or by several.
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=tariff'))).toEqual([])
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=tariff tables'))).toEqual([])
    const [quoted] = await h.db.select({ id: adapters.id }).from(adapters).where(eq(adapters.slug, 'quoted'))
    expect((await termRows()).filter((row) => row.adapterId === quoted?.id)).toEqual([])

    expect((await h.call('PATCH', path('quoted'), { auth: seller.token, body: { visibility: 'published' } })).status).toBe(200)
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=tariff'))).toEqual(['quoted'])
  })

  it('a word with no rows, a stop word and a several-word query still answer', async () => {
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=zebra'))).toEqual([])
    expect((await h.call('GET', '/v1/adapters?q=the')).status).toBe(200)
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=customs duty'))).toEqual(['tariff-plain'])
    expect(slugsOf(await h.call('GET', '/v1/adapters?q=duty -customs'))).toEqual([])
  })
})
