import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSearchCache } from '../../src/search/search-cache'
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

    // A change this process did not make (another server, a Worker) shows once the entry has
    // expired and been refreshed: the first request after expiry still gets the old answer
    // (while it refreshes), later ones the new.
    await h.db.update(adapters).set({ title: 'Renamed elsewhere' }).where(eq(adapters.slug, 'first'))
    expect((await search()).json.items[0].title).toBe('First listing')
    offsetMs += 10_001
    expect((await search()).json.items[0].title).toBe('First listing')
    await expect.poll(async () => (await search()).json.items[0].title).toBe('Renamed elsewhere')

    // The API sends the cached text as it is, labelled as `c.json` would.
    expect((await search()).headers.get('content-type')).toBe('application/json')
  })

  it('serves an expired answer while exactly one request refreshes it, and never one from before a clear', async () => {
    let now = 0
    const cache = createSearchCache({ ttlSeconds: 10, clock: () => new Date(now) })
    const loads: { promise: Promise<string>; resolve: (value: string) => void; reject: (error: Error) => void }[] = []
    const load = () => {
      let resolve!: (value: string) => void
      let reject!: (error: Error) => void
      const promise = new Promise<string>((res, rej) => ((resolve = res), (reject = rej)))
      loads.push({ promise, resolve, reject })
      return promise
    }
    const settle = async (index: number, outcome: string | Error) => {
      const entry = loads[index]
      if (!entry) throw new Error(`no load ${index}`)
      if (outcome instanceof Error) entry.reject(outcome)
      else entry.resolve(outcome)
      await entry.promise.catch(() => {})
    }

    const first = cache.remember('q', load)
    await settle(0, 'v1')
    expect(await first).toBe('v1')

    // Expired: a crowd of requests gets the old answer at once; one of them started a refresh.
    now += 10_000
    expect(await Promise.all(Array.from({ length: 50 }, () => cache.remember('q', load)))).toEqual(Array(50).fill('v1'))
    expect(loads).toHaveLength(2)
    await settle(1, 'v2')
    expect(await cache.remember('q', load)).toBe('v2')
    expect(loads).toHaveLength(2)

    // Fresh for its own ttl from when the refresh arrived.
    now += 9_999
    expect(await cache.remember('q', load)).toBe('v2')
    expect(loads).toHaveLength(2)

    // A failed refresh drops the stale answer: the next request waits for a load of its own.
    now += 1
    expect(await cache.remember('q', load)).toBe('v2')
    await settle(2, new Error('database down'))
    const afterFailure = cache.remember('q', load)
    expect(loads).toHaveLength(4)
    await settle(3, 'v3')
    expect(await afterFailure).toBe('v3')

    // A refresh that started before a clear (a publish) is not kept: it may predate the change.
    now += 10_000
    expect(await cache.remember('q', load)).toBe('v3')
    cache.clear()
    await settle(4, 'from before the clear')
    const afterClear = cache.remember('q', load)
    await settle(5, 'v4')
    expect(await afterClear).toBe('v4')
    expect(await cache.remember('q', load)).toBe('v4')
    expect(loads).toHaveLength(6)
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
