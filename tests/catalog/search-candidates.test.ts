import { and, eq, isNotNull, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bestPerWord, candidateMatches, candidatesPerWord, candidateWords } from '../../src/search/search-terms'
import { adapters } from '../../src/catalog/tables'
import { teams } from '../../src/identity/tables'
import { createListing } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

const LLAMA = 'meta-llama/Llama-2-7b-hf'

type Page = { items: { slug: string }[]; nextCursor: string | null }

/** Every listed match of `q` ranked over all of them (what search did before the cap), apart from the search query. */
async function exactRanking(h: Harness, q: string, base?: string) {
  const query = sql`websearch_to_tsquery('english', ${q})`
  const rows = await h.db
    .select({ id: adapters.id, slug: adapters.slug, rank: sql<number>`ts_rank(${adapters.searchVector}, ${query})`, compatKeys: adapters.compatKeys })
    .from(adapters)
    .where(and(eq(adapters.visibility, 'published'), isNotNull(adapters.publishedAt), sql`${adapters.searchVector} @@ ${query}`))
  return rows
    .filter((row) => !base || row.compatKeys.includes(base))
    .sort((a, b) => Number(b.rank) - Number(a.rank) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map((row) => row.slug)
}

async function pageThrough(h: Harness, path: string, limit: number) {
  const slugs: string[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 100; pages++) {
    const response = await h.call('GET', `${path}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)
    expect(response.status, response.text).toBe(200)
    const page = response.json as Page
    slugs.push(...page.items.map((item) => item.slug))
    cursor = page.nextCursor
    if (!cursor) return slugs
  }
  throw new Error('more pages than expected')
}

/**
 * A several-word query ranks exactly, but only its candidates: each word's best listings by that
 * word alone, and the first matches the index finds. Below the caps that is every match (same
 * order as ranking them all); above them, this suite shows what is left out.
 */
describe('several-word search below its caps: the exact ranking', () => {
  let h: Harness

  beforeAll(async () => {
    h = await createHarness()
    const seller = await h.teamOwner('few')
    const texts = [
      ['medical-chat', 'Medical chat assistant', 'Chat about medical questions'],
      ['chat-only', 'Chat assistant', 'Small talk'],
      ['medical-only', 'Medical notes', 'Clinical summaries, medical codes'],
      ['both-low', 'Notes', 'A chat helper with a medical glossary'],
      ['quoted', `O'Brien's medical chat`, 'Back\\slash and quotes'],
      ['legal-chat', 'Legal chat', 'Medical law, legal chat, chat'],
    ]
    for (const [slug, title, summary] of texts) await createListing(h, seller, slug ?? '', { title, summary })
    // Listed (as publishing a first version does); three of them fit the base.
    await h.db.update(adapters).set({ publishedAt: new Date(Date.UTC(2026, 0, 1)) })
    await h.db.update(adapters).set({ compatKeys: [LLAMA] }).where(sql`${adapters.slug} in ('medical-chat', 'both-low', 'legal-chat')`)
  })
  afterAll(() => h.close())

  for (const q of ['medical chat', 'medical or chat', '"medical chat"', 'chat -legal', 'medical chat assistant', `o'brien's chat`, 'back\\slash chat']) {
    it(`q=${q}: every match, in the order of ranking them all, at every page size`, async () => {
      const order = await exactRanking(h, q)
      expect(order.length).toBeGreaterThan(0)
      for (const limit of [1, 2, 20]) expect(await pageThrough(h, `/v1/adapters?q=${encodeURIComponent(q)}`, limit), `limit ${limit}`).toEqual(order)
    })
  }

  it('with a filter too (base model)', async () => {
    const order = await exactRanking(h, 'medical chat', LLAMA)
    expect(order).toHaveLength(3)
    expect(await pageThrough(h, `/v1/adapters?q=medical%20chat&base=${encodeURIComponent(LLAMA)}`, 1)).toEqual(order)
  })

  it('a query of negations alone matches nothing (no index can find its matches)', async () => {
    expect(await exactRanking(h, '-legal')).not.toHaveLength(0)
    const response = await h.call('GET', '/v1/adapters?q=-legal')
    expect(response.status).toBe(200)
    expect(response.json.items).toEqual([])
  })
})

describe('several-word search above its caps: bounded, and what it leaves out', () => {
  let h: Harness

  beforeAll(async () => {
    h = await createHarness()
    const seller = await h.teamOwner('many')
    const [team] = await h.db.select({ id: teams.id }).from(teams).where(eq(teams.slug, seller.team))
    // Rows straight into the table, in this order (the trigger keeps their search terms):
    // first more matches of "alpha beta" than candidateMatches, each word once in the description;
    // then more listings than candidatesPerWord about alpha alone, and as many about beta alone;
    // last the best match of all, both words side by side in its title.
    const insert = (prefix: string, count: number, title: string, description: string) =>
      h.db.execute(sql`
        insert into ${adapters} (team_id, slug, title, description, license_spdx, commercial_use, derivatives_allowed, visibility, published_at)
        select ${team?.id}::uuid, ${prefix} || g, ${title}, ${description}, 'MIT', true, true, 'published', now()
        from generate_series(1, ${count}) g`)
    await insert('mixed-', candidateMatches + 20, 'Notes', 'Alpha notes; some beta notes')
    await insert('alpha-', candidatesPerWord + 20, 'Alpha alpha alpha', 'Alpha')
    await insert('beta-', candidatesPerWord + 20, 'Beta beta beta', 'Beta')
    await insert('best-', 1, 'Alpha beta', '')
    // One more match that a rarer word finds.
    await insert('zeta-', 1, 'Notes', 'Alpha and beta, zeta')
  })
  afterAll(() => h.close())

  it('a common pair ranks its candidates exactly and pages through them once each; the best match outside them is missed', async () => {
    const exact = await exactRanking(h, 'alpha beta')
    expect(exact).toHaveLength(candidateMatches + 22)
    expect(exact[0]).toBe('best-1')

    const found = await pageThrough(h, '/v1/adapters?q=alpha%20beta', 100)
    // Bounded: the first candidateMatches matches (the words' best listings have only one of the two words).
    expect(found).toHaveLength(candidateMatches)
    expect(new Set(found).size).toBe(found.length)
    // In the exact order among themselves…
    expect(found).toEqual(exact.filter((slug) => found.includes(slug)))
    // …but the best match of all is neither among its words' best nor among the first matches.
    expect(found).not.toContain('best-1')
  })

  it('exact again when a query has no more matches than the cap', async () => {
    const exact = await exactRanking(h, 'alpha beta zeta')
    expect(exact).toEqual(['zeta-1'])
    expect(await pageThrough(h, '/v1/adapters?q=alpha%20beta%20zeta', 20)).toEqual(exact)
  })

  it('reads at most candidatesPerWord rows for each of at most candidateWords words, however many words the query has', async () => {
    const count = async (q: string) => {
      const [row] = await h.db.select({ n: sql<number>`count(*)::int` }).from(sql`(${bestPerWord(q)}) as c`)
      return row?.n
    }
    expect(await count('alpha beta')).toBe(2 * candidatesPerWord)
    // Eight other words come first alphabetically: alpha and beta are past the cap.
    const eight = ['aaron', 'abbey', 'abbot', 'abyss', 'acorn', 'adage', 'adobe', 'aegis']
    expect(eight).toHaveLength(candidateWords)
    expect(await count(`${eight.join(' ')} alpha beta`)).toBe(0)
    expect(await count(Array.from({ length: 60 }, () => 'alpha beta').join(' or '))).toBe(2 * candidatesPerWord)
  })
})
