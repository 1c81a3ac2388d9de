import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSearchCache } from '../../src/catalog/search-cache'
import { adapters } from '../../src/catalog/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

const slugsOf = (response: { json: { items: { slug: string }[] } }) => response.json.items.map((item) => item.slug)

describe('the search cache', () => {
  let h: Harness
  let offsetMs = 0
  const clock = () => new Date(Date.now() + offsetMs)

  beforeAll(async () => {
    h = await createHarness({ searchCache: createSearchCache({ ttlSeconds: 10, clock }) })
  })
  afterAll(() => h.close())

  it('serves repeated searches from memory, clears on publish here and expires changes made elsewhere', async () => {
    const seller = await h.teamOwner('cached')
    const search = () => h.call('GET', '/v1/adapters?base=meta-llama/Llama-2-7b-hf')
    expect(slugsOf(await search())).toEqual([])

    await createListing(h, seller, 'first', { title: 'First listing' })
    await publishFolder(h, seller, 'first', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    // Publishing through this process clears its cache at once.
    expect(slugsOf(await search())).toEqual(['first'])

    // A change this process did not make (another server, a Worker) shows once the entry expires.
    await h.db.update(adapters).set({ title: 'Renamed elsewhere' }).where(eq(adapters.slug, 'first'))
    expect((await search()).json.items[0].title).toBe('First listing')
    offsetMs += 10_001
    expect((await search()).json.items[0].title).toBe('Renamed elsewhere')
  })

  it('keeps at most maxEntries answers, dropping the least recently used, and loads a key once at a time', async () => {
    const cache = createSearchCache({ ttlSeconds: 60, maxEntries: 2 })
    let loads = 0
    const load = (value: string) => async () => {
      loads += 1
      return value
    }
    expect(await Promise.all([cache.remember('a', load('a')), cache.remember('a', load('a2'))])).toEqual(['a', 'a'])
    expect(loads).toBe(1)
    await cache.remember('b', load('b'))
    expect(await cache.remember('a', load('a3'))).toBe('a') // a is now the most recently used
    await cache.remember('c', load('c'))
    expect(await cache.remember('b', load('b2'))).toBe('b2') // b was dropped
    expect(loads).toBe(4)

    // A failed load is not remembered.
    await expect(cache.remember('d', () => Promise.reject(new Error('database down')))).rejects.toThrow('database down')
    expect(await cache.remember('d', load('d'))).toBe('d')
  })
})
