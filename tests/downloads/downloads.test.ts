import { and, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterVersions } from '../../src/publishing/tables'
import { entitlements } from '../../src/commerce/tables'
import { rollupDownloads } from '../../src/downloads'
import { createRateLimiter } from '../../src/lib/rate-limit'
import { downloads } from '../../src/downloads/tables'
import { createListing, peftFolder, publishFolder, sha256 } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

type Person = Awaited<ReturnType<Harness['teamOwner']>>

describe.each(['local', 's3'] as const)('downloads from the %s store', (storage) => {
  let h: Harness
  let seller: Person
  let buyer: Awaited<ReturnType<Harness['user']>>
  let stranger: Awaited<ReturnType<Harness['user']>>
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 16 })
  const weights = files.find((file) => file.path === 'adapter_model.safetensors')!
  let base: string
  let offerId: string

  beforeAll(async () => {
    h = await createHarness({ storage, downloadUrlTtlSeconds: 60, rateLimiter: createRateLimiter({ limit: 25, windowSeconds: 60 }) })
    seller = await h.teamOwner('seller')
    await createListing(h, seller, 'legal-zh')
    await publishFolder(h, seller, 'legal-zh', '1.0.0', files, { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/legal-zh/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    offerId = offer.json.id
    buyer = await entitledBuyer('buyer')
    stranger = await h.user('stranger')
    base = `/v1/adapters/${seller.team}/legal-zh/versions/1.0.0/files`
  })
  afterAll(() => h.close())

  /** A new user holding the free offer, through checkout. */
  async function entitledBuyer(name: string) {
    const person = await h.user(name)
    expect((await h.call('POST', '/v1/checkout', { auth: person.token, body: { offerId } })).status).toBe(201)
    return person
  }

  const link = (person: { token: string }, path = 'adapter_model.safetensors') =>
    h.call('GET', `${base}/${encodeURIComponent(path)}`, { auth: person.token, headers: { Accept: 'application/json' } })

  it('redirects an entitled buyer to a short-lived URL whose bytes match the checksum', async () => {
    const redirect = await h.app.request(`${base}/adapter_model.safetensors`, { headers: { Authorization: `Bearer ${buyer.token}` } })
    expect(redirect.status).toBe(302)
    expect(redirect.headers.get('cache-control')).toBe('no-store')
    expect(redirect.headers.get('x-checksum-sha256')).toBe(sha256(weights.bytes))
    expect(redirect.headers.get('x-file-size')).toBe(String(weights.bytes.length))
    const file = await h.fetchUrl(redirect.headers.get('location')!)
    expect(file.status).toBe(200)
    const bytes = new Uint8Array(await file.arrayBuffer())
    expect(sha256(bytes)).toBe(sha256(weights.bytes))

    const json = await link(buyer)
    expect(json.status).toBe(200)
    expect(json.json).toMatchObject({ sha256: sha256(weights.bytes), size: weights.bytes.length, url: expect.any(String), expiresAt: expect.any(String) })
  })

  it('resumes with Range requests that reassemble the exact file', async () => {
    const { url } = (await link(buyer)).json
    const size = weights.bytes.length
    const first = await h.fetchUrl(url, { headers: { Range: 'bytes=0-99999' } })
    expect(first.status).toBe(206)
    const rest = await h.fetchUrl(url, { headers: { Range: 'bytes=100000-' } })
    expect(rest.status).toBe(206)
    expect(rest.headers.get('content-range')).toBe(`bytes 100000-${size - 1}/${size}`)
    const whole = new Uint8Array([...new Uint8Array(await first.arrayBuffer()), ...new Uint8Array(await rest.arrayBuffer())])
    expect(sha256(whole)).toBe(sha256(weights.bytes))
  })

  it('refuses strangers, missing credentials and credentials in the URL', async () => {
    expectProblem(await link(stranger), 403, 'not_entitled')
    expectProblem(await h.call('GET', `${base}/adapter_model.safetensors`), 401, 'unauthorized')
    expectProblem(await h.call('GET', `${base}/adapter_model.safetensors?token=${buyer.token}`), 400, 'credentials_in_query')
    expectProblem(await link(buyer, 'no-such-file.bin'), 404, 'not_found')
    // The seller team's own members need no entitlement.
    expect((await link(seller)).status).toBe(200)
  })

  it('refuses tampered and expired URLs at the storage end', async () => {
    const { url } = (await link(buyer)).json as { url: string }
    const tampered = url.includes('X-Amz-Signature=') ? url.replace(/X-Amz-Signature=([0-9a-f])/, (_, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`) : `${url.slice(0, -2)}xx`
    expect((await h.fetchUrl(tampered)).status).toBe(403)
    expect((await h.fetchUrl(url)).status).toBe(200)
    // A URL signed ten minutes ago (URLs live 60 s here) is refused at the storage end,
    // which checks it against its own clock: s3rver's real one, or the local store's (the harness's).
    h.advanceClock(-600_000)
    const { url: old } = (await link(buyer)).json as { url: string }
    h.advanceClock(600_000)
    expect((await h.fetchUrl(old)).status).toBe(403)
  })

  it('audits each granted download and rolls the counts up per version and adapter', async () => {
    const counters = async () => {
      await rollupDownloads(h.db)
      const [version] = await h.db.select().from(adapterVersions).where(eq(adapterVersions.version, '1.0.0'))
      const adapter = (await h.call('GET', `/v1/adapters/${seller.team}/legal-zh`)).json.downloads as number
      const sales = (await h.call('GET', `/v1/teams/${seller.team}/sales`, { auth: seller.token })).json.downloadsByVersion as { downloads: number }[]
      return { version: version!.downloads, adapter, sales: sales.map((row) => row.downloads) }
    }
    const before = await counters()
    const auditor = await entitledBuyer('auditor')
    for (const path of ['adapter_model.safetensors', 'adapter_config.json', 'adapter_model.safetensors']) expect((await link(auditor, path)).status).toBe(200)
    expect((await link(seller)).status).toBe(200)

    const audited = await h.db.select().from(downloads).where(eq(downloads.userId, auditor.id))
    expect(audited).toHaveLength(3)
    expect(audited.every((row) => row.entitlementId !== null && row.fileId !== null)).toBe(true)
    // The seller's own requests are audited too, without an entitlement…
    expect(await h.db.$count(downloads, and(eq(downloads.userId, seller.id), eq(downloads.bySeller, true)))).toBeGreaterThan(0)
    // …but the public counters count the new buyer once, and never the seller (tests/downloads/counting.test.ts).
    const after = await counters()
    expect(after).toEqual({ version: before.version + 1, adapter: before.adapter + 1, sales: [before.version + 1] })
    expect(await rollupDownloads(h.db)).toBe(0) // nothing counted twice
  })

  it('denies a revoked entitlement on the very next request, and a withdrawn listing to everyone but its team', async () => {
    const refunded = await entitledBuyer('refunded')
    expect((await link(refunded)).status).toBe(200)
    // What a refund does (tests/commerce covers the webhook that does it).
    await h.db.update(entitlements).set({ revokedAt: new Date(), revokeReason: 'refunded' }).where(eq(entitlements.userId, refunded.id))
    expectProblem(await link(refunded), 403, 'revoked')

    const other = await entitledBuyer('other')
    expect((await link(other)).status).toBe(200)
    await h.call('PATCH', `/v1/adapters/${seller.team}/legal-zh`, { auth: seller.token, body: { visibility: 'archived' } })
    expectProblem(await link(other), 410, 'unavailable')
    expect((await link(seller)).status).toBe(200)
  })

  it('limits downloads per user with 429 and Retry-After', async () => {
    const member = seller // entitled by membership; the limiter allows 25 a minute in this harness
    let last
    for (let i = 0; i < 30; i++) {
      last = await link(member)
      if (last.status === 429) break
    }
    expectProblem(last!, 429, 'rate_limited')
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})

describe('the batched download log', () => {
  it('writes the audit rows of many grants in one go', async () => {
    const { createDownloadLog } = await import('../../src/downloads')
    const h = await createHarness()
    try {
      const log = createDownloadLog(h.db, { flushMs: 0 })
      const seller = await h.teamOwner('batch')
      await createListing(h, seller, 'batched')
      await publishFolder(h, seller, 'batched', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
      const app = (await import('../../src/app')).createApp({ ...h.deps, downloadLog: log })
      for (let i = 0; i < 3; i++) {
        const response = await app.request(`/v1/adapters/${seller.team}/batched/versions/1.0.0/files/README.md`, { headers: { Authorization: `Bearer ${seller.token}` } })
        expect(response.status).toBe(302)
      }
      expect(await h.db.$count(downloads)).toBe(0) // granted, not yet written
      await log.flush()
      expect(await h.db.$count(downloads)).toBe(3)
    } finally {
      await h.close()
    }
  })
})
