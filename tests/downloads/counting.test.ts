import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rollupDownloads } from '../../src/downloads'
import { downloads } from '../../src/downloads/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

type Person = { token: string; id: string }

// The public counter (getAdapter, getVersion, search's `downloads` sort, the sales report) counts
// each (version, buyer) once; the selling team's own requests are audited but never counted.
describe('public download counts', () => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('counts')
  })
  afterAll(() => h.close())

  async function listing(slug: string, versions: string[] = ['1.0.0']) {
    await createListing(h, seller, slug)
    for (const version of versions) await publishFolder(h, seller, slug, version, files, { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    expect(offer.status).toBe(201)
    return offer.json.id as string
  }

  async function buyerOf(offerId: string, body: Record<string, unknown> = {}, person?: Person) {
    const buyer = person ?? (await h.user('counts-buyer'))
    expect((await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId, ...body } })).status).toBe(201)
    return buyer
  }

  const download = (person: Person, slug: string, version = '1.0.0', path = 'adapter_model.safetensors') =>
    h.call('GET', `/v1/adapters/${seller.team}/${slug}/versions/${version}/files/${path}`, { auth: person.token, headers: { Accept: 'application/json' } })

  async function counters(slug: string, version = '1.0.0') {
    await rollupDownloads(h.db)
    const adapter = (await h.call('GET', `/v1/adapters/${seller.team}/${slug}`)).json.downloads as number
    const ofVersion = (await h.call('GET', `/v1/adapters/${seller.team}/${slug}/versions/${version}`)).json.downloads as number
    return { adapter, version: ofVersion }
  }

  it('does not count the seller requesting 50 JSON links (every request is still audited)', async () => {
    await listing('seller-links')
    for (let i = 0; i < 50; i++) expect((await download(seller, 'seller-links')).status).toBe(200)
    expect(await counters('seller-links')).toEqual({ adapter: 0, version: 0 })
    const audited = await h.db.select().from(downloads).where(eq(downloads.userId, seller.id))
    expect(audited.filter((row) => row.bySeller)).toHaveLength(50)
  })

  it('counts one buyer downloading 20 times once, and two buyers twice', async () => {
    const offer = await listing('buyers')
    const first = await buyerOf(offer)
    for (let i = 0; i < 20; i++) expect((await download(first, 'buyers')).status).toBe(200)
    expect(await counters('buyers')).toEqual({ adapter: 1, version: 1 })
    // Later runs and more requests from the same buyer change nothing.
    for (let i = 0; i < 5; i++) expect((await download(first, 'buyers', '1.0.0', 'README.md')).status).toBe(200)
    expect(await counters('buyers')).toEqual({ adapter: 1, version: 1 })

    const second = await buyerOf(offer)
    for (let i = 0; i < 3; i++) expect((await download(second, 'buyers')).status).toBe(200)
    expect(await counters('buyers')).toEqual({ adapter: 2, version: 2 })
    expect(await h.db.$count(downloads, eq(downloads.versionId, (await h.call('GET', `/v1/adapters/${seller.team}/buyers/versions/1.0.0`)).json.id))).toBe(28)
  })

  it('counts a buyer once per version, and a team entitlement as one holder', async () => {
    const offer = await listing('per-version', ['1.0.0', '1.1.0'])
    const buyer = await buyerOf(offer)
    await download(buyer, 'per-version', '1.0.0')
    await download(buyer, 'per-version', '1.1.0')
    await download(buyer, 'per-version', '1.1.0')
    expect(await counters('per-version', '1.0.0')).toEqual({ adapter: 2, version: 1 })
    expect((await counters('per-version', '1.1.0')).version).toBe(1)

    // A team's entitlement: the team is the holder, counted once.
    const buyingTeam = await h.teamOwner('counts-team')
    await buyerOf(offer, { team: buyingTeam.team }, buyingTeam)
    for (let i = 0; i < 4; i++) expect((await download(buyingTeam, 'per-version', '1.0.0')).status).toBe(200)
    expect(await counters('per-version', '1.0.0')).toEqual({ adapter: 3, version: 2 })
  })

  it('does not count twice when two rollups run at once', async () => {
    const offer = await listing('concurrent')
    for (let i = 0; i < 3; i++) {
      const buyer = await buyerOf(offer)
      for (let j = 0; j < 4; j++) await download(buyer, 'concurrent')
    }
    await Promise.all([rollupDownloads(h.db), rollupDownloads(h.db), rollupDownloads(h.db)])
    expect(await counters('concurrent')).toEqual({ adapter: 3, version: 3 })
  })

  it('sorts search by the counted downloads, not by the requests', async () => {
    const busy = await listing('sort-busy-seller')
    const liked = await listing('sort-two-buyers')
    // 40 seller requests and one buyer's 10 versus two buyers once each.
    for (let i = 0; i < 40; i++) await download(seller, 'sort-busy-seller')
    const lone = await buyerOf(busy)
    for (let i = 0; i < 10; i++) await download(lone, 'sort-busy-seller')
    for (const buyer of [await buyerOf(liked), await buyerOf(liked)]) await download(buyer, 'sort-two-buyers')
    await rollupDownloads(h.db)
    const found = await h.call('GET', '/v1/adapters?sort=downloads')
    expect(found.status).toBe(200)
    const ours = (found.json.items as { slug: string; downloads: number }[])
      .filter((item) => item.slug.startsWith('sort-'))
      .map((item) => ({ slug: item.slug, downloads: item.downloads }))
    expect(ours).toEqual([
      { slug: 'sort-two-buyers', downloads: 2 },
      { slug: 'sort-busy-seller', downloads: 1 },
    ])
    const sales = await h.call('GET', `/v1/teams/${seller.team}/sales`, { auth: seller.token })
    expect(sales.json.downloadsByVersion).toContainEqual({ adapter: `${seller.team}/sort-busy-seller`, version: '1.0.0', downloads: 1 })
  })
})
