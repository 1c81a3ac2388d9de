import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app'
import { hfConfigs } from '../compat/fixtures/hf-configs'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { queryCounter } from '../helpers/query-counter'
import { signIn } from '../helpers/web'

/**
 * One adapter page view resolves its listing once and reads the registry at most once, whoever
 * asks: the verbs behind the page take the listing it loaded (and access-checked) instead of
 * loading it again each.
 */
describe('storefront: the statements one adapter page view sends', () => {
  let h: Harness
  let counter: ReturnType<typeof queryCounter>
  let app: ReturnType<typeof createApp>
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  let sellerCookie: string
  let buyerCookie: string
  let listing: string
  let draft: string
  let twin: string
  let pending: string

  const get = async (path: string, cookie?: string) => {
    counter.reset()
    const response = await app.request(path, cookie ? { headers: { Cookie: cookie } } : {})
    return { status: response.status, html: await response.text(), queries: [...counter.queries] }
  }
  /** The listing lookup of `loadAdapter`: by team slug and listing slug. */
  const listingLookups = (queries: string[]) => queries.filter((query) => /from "adapters" inner join "teams"/.test(query) && query.includes('"adapters"."slug" = '))
  const registryReads = (queries: string[]) => queries.filter((query) => query.includes('from "registered_base_models"'))

  beforeAll(async () => {
    const operators: string[] = []
    h = await createHarness({ operators })
    const operator = await h.user('operator')
    operators.push(operator.email.toLowerCase())
    // A registered, verified twin of Llama-2-7B: the matrix names a base only the registry table knows.
    twin = `ops-${crypto.randomUUID().slice(0, 8)}/llama-2-7b-copy`
    expect((await h.call('POST', '/v1/base-models', { auth: operator.token, body: { id: twin, config: hfConfigs['meta-llama/Llama-2-7b-hf'] } })).status).toBe(201)
    await h.idle()
    seller = await h.teamOwner('queries')
    // The seller team's own registration, waiting for review: in its matrices, for its eyes only.
    pending = `${seller.team}/llama-2-7b-own`
    expect((await h.call('POST', '/v1/base-models', { auth: seller.token, body: { id: pending, config: hfConfigs['meta-llama/Llama-2-7b-hf'] } })).status).toBe(201)
    listing = `/${seller.team}/counted`
    await createListing(h, seller, 'counted')
    await publishFolder(h, seller, 'counted', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    // Validated, not published: the seller team's alone.
    await publishFolder(h, seller, 'counted', '1.1.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 32 }))
    expect((await h.call('POST', `/v1/adapters${listing}/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })).status).toBe(201)
    draft = `/${seller.team}/hidden`
    await createListing(h, seller, 'hidden', { visibility: 'draft' })
    sellerCookie = await signIn(h, seller)
    buyerCookie = await signIn(h, await h.user('queries-buyer'))
    // The same app over a connection whose statements are recorded (the public reads too).
    counter = queryCounter(h.db, h.kind)
    app = createApp({ ...h.deps, db: counter.db, publicDb: counter.db })
  })
  afterAll(() => h.close())

  it('anonymous: the listing is resolved once and the registry read once, in a bounded number of statements', async () => {
    const page = await get(listing)
    expect(page.status).toBe(200)
    expect(page.html).toContain('data-base="meta-llama/Llama-2-7b-hf"')
    expect(page.html).toContain(`data-base="${twin}"`)
    expect(page.html).not.toContain(pending)
    // Before: the listing five times and the registry three (15 statements in all).
    expect(listingLookups(page.queries)).toHaveLength(1)
    expect(registryReads(page.queries)).toHaveLength(1)
    // Listing, versions, their files, their fits, offers, reviews, the registry, the selected version's matrix.
    expect(page.queries.length).toBeLessThanOrEqual(8)
  })

  it('the seller team: one listing lookup too, and its unpublished version is on its page', async () => {
    const page = await get(`${listing}?version=1.1.0`, sellerCookie)
    expect(page.status).toBe(200)
    expect(page.html).toContain('1.1.0')
    expect(page.html).toContain(`data-base="${twin}"`)
    expect(page.html).toContain(`data-base="${pending}"`)
    expect(listingLookups(page.queries)).toHaveLength(1)
    // The verified registry, and the team's own pending registration its matrix holds.
    expect(registryReads(page.queries)).toHaveLength(2)
    expect(page.queries.length).toBeLessThanOrEqual(11)
  })

  it('a signed-in buyer: one listing lookup; what others may not see stays unseen', async () => {
    const page = await get(listing, buyerCookie)
    expect(page.status).toBe(200)
    expect(listingLookups(page.queries)).toHaveLength(1)
    expect(registryReads(page.queries)).toHaveLength(1)
    expect(page.queries.length).toBeLessThanOrEqual(10)
    expect(page.html).not.toContain('1.1.0')
    expect(page.html).not.toContain(pending)
    expect((await get(`${listing}?version=1.1.0`, buyerCookie)).status).toBe(404)
    expect((await get(`${listing}?version=1.1.0`)).status).toBe(404)
  })

  it('a draft listing is the seller team’s alone, and a 404 costs one statement', async () => {
    const anonymous = await get(draft)
    expect(anonymous.status).toBe(404)
    expect(anonymous.queries).toHaveLength(1)
    expect((await get(draft, buyerCookie)).status).toBe(404)
    expect((await get(draft, sellerCookie)).status).toBe(200)
  })
})
