import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { currencies, minimumCharge } from '../../src/commerce/schemas'
import { createPayments } from '../../src/commerce/stripe'
import { teamMembers, teams } from '../../src/identity/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'
import { signedStripeEvent, startStripeServer, type StripeTestServer } from '../helpers/stripe'
import { formPost, signIn } from '../helpers/web'

const WEBHOOK_SECRET = 'whsec_test_offers'

type Person = Awaited<ReturnType<Harness['teamOwner']>>

describe('offers: withdrawn and put back by the seller; priced at least at Stripe’s minimum', () => {
  let h: Harness
  let stripe: StripeTestServer
  let seller: Person
  let adapterPath: string

  async function deliver(type: string, object: Record<string, unknown>) {
    const { body, headers } = signedStripeEvent(type, object, { secret: WEBHOOK_SECRET })
    const response = await h.call('POST', '/v1/stripe/webhook', { body, headers })
    expect(response.status, response.text).toBe(200)
    await h.idle() // the job queue applies it
  }

  const createOffer = (body: Record<string, unknown>, auth = seller.token) => h.call('POST', `${adapterPath}/offers`, { auth, body })
  const setActive = (offerId: string, active: unknown, auth: string | null = seller.token) =>
    h.call('PATCH', `${adapterPath}/offers/${offerId}`, { ...(auth && { auth }), body: { active } })
  const buy = (person: { token: string }, offerId: string) => h.call('POST', '/v1/checkout', { auth: person.token, body: { offerId } })
  const listedIds = async (auth?: string) => ((await h.call('GET', `${adapterPath}/offers`, auth ? { auth } : {})).json.items as { id: string; active: boolean }[])
  const download = (person: { token: string }) => h.call('GET', `${adapterPath}/versions/1.0.0/files/adapter_config.json`, { auth: person.token })

  beforeAll(async () => {
    stripe = await startStripeServer()
    h = await createHarness({
      payments: createPayments({ secretKey: 'sk_test_offers', webhookSecret: WEBHOOK_SECRET, apiUrl: stripe.url, feeBps: 1000, timeoutMs: 2000 }),
    })
    seller = await h.teamOwner('offers')
    const onboarding = await h.call('POST', `/v1/teams/${seller.team}/payouts/onboarding`, { auth: seller.token })
    await deliver('account.updated', stripe.enableAccount(onboarding.json.accountId))
    await createListing(h, seller, 'seasonal')
    await publishFolder(h, seller, 'seasonal', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    adapterPath = `/v1/adapters/${seller.team}/seasonal`
  })
  afterAll(async () => {
    await h?.close()
    await stripe?.close()
  })

  it('a withdrawn offer takes no new checkouts (409 offer_inactive) while what it granted keeps working; put back, it sells again', async () => {
    const free = (await createOffer({ kind: 'free', license: 'research' })).json
    const paid = (await createOffer({ kind: 'one_time', license: 'commercial', amount: 4900, currency: 'usd' })).json
    const early = await h.user('early-bird')
    expect((await buy(early, free.id)).status).toBe(201)
    // A checkout started before the withdrawal can still be paid: its session was issued.
    const payer = await h.user('mid-checkout')
    const started = (await buy(payer, paid.id)).json

    const withdrawn = await setActive(free.id, false)
    expect(withdrawn.status, withdrawn.text).toBe(200)
    expect(withdrawn.json).toMatchObject({ id: free.id, active: false })
    expect((await setActive(paid.id, false)).json.active).toBe(false)

    const late = await h.user('late-comer')
    expectProblem(await buy(late, free.id), 409, 'offer_inactive')
    expectProblem(await buy(late, paid.id), 409, 'offer_inactive')
    expect(await download(late)).toMatchObject({ status: 403 })
    // Buyers no longer see it; the seller team does, marked.
    expect((await listedIds()).map((offer) => offer.id)).toEqual([])
    expect((await listedIds(late.token)).map((offer) => offer.id)).toEqual([])
    expect(await listedIds(seller.token)).toEqual([expect.objectContaining({ id: free.id, active: false }), expect.objectContaining({ id: paid.id, active: false })])
    // The storefront offers no button for it, to a buyer or to anyone.
    const page = await (await h.app.request(`/${seller.team}/seasonal`)).text()
    expect(page).not.toContain(free.id)
    expect(page).toContain('Not offered yet.')

    // Entitlements already granted keep working, and the paid session still completes.
    expect((await download(early)).status).toBe(302)
    expect((await h.call('GET', '/v1/me/entitlements', { auth: early.token })).json.items).toEqual([expect.objectContaining({ revokedAt: null })])
    await deliver('checkout.session.completed', stripe.paySession(started.checkoutUrl.split('/').at(-1)!))
    expect((await download(payer)).status).toBe(302)

    const restored = await setActive(free.id, true)
    expect(restored.json).toMatchObject({ id: free.id, active: true })
    expect((await listedIds()).map((offer) => offer.id)).toEqual([free.id])
    expect(await (await h.app.request(`/${seller.team}/seasonal`)).text()).toContain(`value="${free.id}"`)
    expect((await buy(late, free.id)).status).toBe(201)
    expect((await download(late)).status).toBe(302)
  })

  it('only the selling team’s owners and admins toggle an offer, with the publish scope, through a key for that team', async () => {
    // (A free research offer is already active: an identical second one would be refused.)
    const offer = (await createOffer({ kind: 'free', license: 'commercial' })).json
    const before = await listedIds(seller.token)
    const unchanged = async () => expect(await listedIds(seller.token)).toEqual(before)

    expectProblem(await setActive(offer.id, false, null), 401, 'unauthorized')
    const stranger = await h.teamOwner('stranger')
    expectProblem(await setActive(offer.id, false, stranger.token), 403, 'not_team_member')
    // A plain member of the selling team may not (added directly: how members join is another matter).
    const member = await h.user('plain-member')
    const [team] = await h.db.select({ id: teams.id }).from(teams).where(eq(teams.slug, seller.team))
    await h.db.insert(teamMembers).values({ teamId: team!.id, userId: member.id, role: 'member' })
    expectProblem(await setActive(offer.id, false, member.token), 403, 'insufficient_role')
    // The seller's own key bound to another of their teams, and one without publish.
    const otherTeam = `offers-side-${crypto.randomUUID().slice(0, 8)}`
    expect((await h.call('POST', '/v1/teams', { auth: seller.token, body: { slug: otherTeam, name: 'Side team' } })).status).toBe(201)
    const bound = (await h.call('POST', '/v1/api-keys', { auth: seller.token, body: { name: 'side', scopes: ['publish'], team: otherTeam } })).json.key
    expectProblem(await setActive(offer.id, false, bound), 403, 'key_team_mismatch')
    const readOnly = (await h.call('POST', '/v1/api-keys', { auth: seller.token, body: { name: 'reader', scopes: ['read'] } })).json.key
    expectProblem(await setActive(offer.id, false, readOnly), 403, 'insufficient_scope')
    await unchanged()

    // Another listing's offer through this listing's path, an unknown id, a bad body.
    await createListing(h, stranger, 'theirs')
    const theirs = (await h.call('POST', `/v1/adapters/${stranger.team}/theirs/offers`, { auth: stranger.token, body: { kind: 'free', license: 'research' } })).json
    expectProblem(await setActive(theirs.id, false), 404, 'not_found')
    expect((await h.call('GET', `/v1/adapters/${stranger.team}/theirs/offers`, { auth: stranger.token })).json.items).toEqual([expect.objectContaining({ id: theirs.id, active: true })])
    expectProblem(await setActive(crypto.randomUUID(), false), 404, 'not_found')
    expectProblem(await setActive('not-a-uuid', false), 422, 'validation_failed')
    expectProblem(await setActive(offer.id, 'no'), 422, 'validation_failed')
    await unchanged()

    // A key of the team with publish scope, held by its owner, may.
    const teamKey = (await h.call('POST', '/v1/api-keys', { auth: seller.token, body: { name: 'team', scopes: ['publish'], team: seller.team } })).json.key
    expect((await setActive(offer.id, false, teamKey)).json.active).toBe(false)
  })

  it("refuses a price below Stripe's minimum charge in every accepted currency (422 amount_below_minimum, naming it), and accepts the minimum", async () => {
    const oneCent = await createOffer({ kind: 'one_time', license: 'commercial', amount: 1, currency: 'usd' })
    expectProblem(oneCent, 422, 'amount_below_minimum')
    expect(oneCent.json).toMatchObject({ minimum: { amount: 50, currency: 'usd' } })
    expect(oneCent.json.detail).toContain('$0.50')
    for (const currency of currencies) {
      const minimum = minimumCharge[currency]
      const below = await createOffer({ kind: 'one_time', license: 'commercial', amount: minimum - 1, currency: currency.toUpperCase() })
      expectProblem(below, 422, 'amount_below_minimum')
      expect(below.json.minimum).toEqual({ amount: minimum, currency })
      const at = await createOffer({ kind: 'one_time', license: 'commercial', amount: minimum, currency })
      expect(at.status, `${currency}: ${at.text}`).toBe(201)
    }
    // GBP's minimum is lower than USD's; HKD's is higher.
    expect((await createOffer({ kind: 'one_time', license: 'research', amount: 30, currency: 'gbp' })).status).toBe(201)
    expectProblem(await createOffer({ kind: 'one_time', license: 'commercial', amount: 399, currency: 'hkd' }), 422, 'amount_below_minimum')
    // Zero-decimal currencies are not accepted yet.
    expectProblem(await createOffer({ kind: 'one_time', license: 'commercial', amount: 5000, currency: 'jpy' }), 422, 'validation_failed')
  })

  it('refuses a second active offer on the same terms (409 offer_exists naming the first); a withdrawn one blocks nothing', async () => {
    await h.call('POST', '/v1/adapters', { auth: seller.token, body: { team: seller.team, slug: 'twice', title: 'Twice', visibility: 'published', license: { spdx: 'MIT', commercialUse: true, derivatives: true } } })
    const path = `/v1/adapters/${seller.team}/twice/offers`
    const first = (await h.call('POST', path, { auth: seller.token, body: { kind: 'one_time', license: 'commercial', amount: 4900, currency: 'usd' } })).json
    const again = await h.call('POST', path, { auth: seller.token, body: { kind: 'one_time', license: 'commercial', amount: 4900, currency: 'USD' } })
    expectProblem(again, 409, 'offer_exists')
    expect(again.json.offerId).toBe(first.id)
    // Different terms are a different offer; concurrent identical ones: exactly one is created.
    expect((await h.call('POST', path, { auth: seller.token, body: { kind: 'one_time', license: 'commercial', amount: 9900, currency: 'usd' } })).status).toBe(201)
    const racing = await Promise.all([1, 2, 3].map(() => h.call('POST', path, { auth: seller.token, body: { kind: 'free', license: 'research' } })))
    expect(racing.map((response) => response.status).sort()).toEqual([201, 409, 409])
    // Withdrawn, the first blocks nothing; put back beside its twin, it is refused.
    await h.call('PATCH', `${path}/${first.id}`, { auth: seller.token, body: { active: false } })
    const twin = (await h.call('POST', path, { auth: seller.token, body: { kind: 'one_time', license: 'commercial', amount: 4900, currency: 'usd' } })).json
    expectProblem(await h.call('PATCH', `${path}/${first.id}`, { auth: seller.token, body: { active: true } }), 409, 'offer_exists')
    expect((await h.call('GET', path)).json.items.map((offer: { id: string }) => offer.id)).toContain(twin.id)
  })

  it('changes a one-time price: new checkouts pay it, licences already granted stay, an opened checkout keeps its price', async () => {
    const offer = (await createOffer({ kind: 'one_time', license: 'commercial', amount: 2500, currency: 'usd' })).json
    const paid = await h.user('paid-before')
    const started = (await buy(paid, offer.id)).json
    await deliver('checkout.session.completed', stripe.paySession(started.checkoutUrl.split('/').at(-1)!))
    const opened = await h.user('opened-before')
    const pending = (await buy(opened, offer.id)).json
    expect(pending.order.amount).toBe(2500)

    const repriced = await h.call('PATCH', `${adapterPath}/offers/${offer.id}`, { auth: seller.token, body: { amount: 3500 } })
    expect(repriced.status, repriced.text).toBe(200)
    expect(repriced.json).toMatchObject({ id: offer.id, amount: 3500, currency: 'usd', active: true })
    expect((await download(paid)).status).toBe(302)
    const newcomer = await h.user('after-change')
    expect((await buy(newcomer, offer.id)).json.order).toMatchObject({ amount: 3500, currency: 'usd' })
    expect((await buy(opened, offer.id)).json.order).toMatchObject({ id: pending.order.id, amount: 2500 })

    // A price needs a one_time offer and Stripe's minimum; a plain member may not change it.
    expectProblem(await h.call('PATCH', `${adapterPath}/offers/${offer.id}`, { auth: seller.token, body: { amount: 10 } }), 422, 'amount_below_minimum')
    const free = (await h.call('GET', `${adapterPath}/offers`, { auth: seller.token })).json.items.find((item: { kind: string }) => item.kind === 'free')
    expectProblem(await h.call('PATCH', `${adapterPath}/offers/${free.id}`, { auth: seller.token, body: { amount: 900 } }), 422, 'offer_not_priced')
    expectProblem(await h.call('PATCH', `${adapterPath}/offers/${offer.id}`, { auth: seller.token, body: { price: 900 } }), 422, 'validation_failed')
  })
  it('the dashboard sells at a price typed as 49.90, changes it to 59, and refuses one below Stripe’s minimum', async () => {
    await createListing(h, seller, 'priced-in-browser')
    const page = `/teams/${seller.team}/listings/priced-in-browser`
    const cookie = await signIn(h, seller)
    const priceOf = async () =>
      ((await h.call('GET', `/v1/adapters/${seller.team}/priced-in-browser/offers`)).json.items as { id: string; kind: string; amount: number; currency: string }[]).filter(
        (offer) => offer.kind === 'one_time',
      )
    expect((await h.app.request(`${page}/offers`, formPost({ kind: 'one_time', license: 'commercial', price: '49.90', currency: 'eur' }, cookie))).status).toBe(303)
    const [offer] = await priceOf()
    expect(offer).toMatchObject({ amount: 4990, currency: 'eur' })
    expect((await h.app.request(`${page}/offers/${offer!.id}`, formPost({ change: 'price', price: '59', currency: 'eur' }, cookie))).status).toBe(303)
    expect(await priceOf()).toEqual([expect.objectContaining({ id: offer!.id, amount: 5900, currency: 'eur' })])
    const tooLow = await h.app.request(`${page}/offers/${offer!.id}`, formPost({ change: 'price', price: '0.10', currency: 'eur' }, cookie))
    expect(tooLow.status).toBe(422)
    expect(await priceOf()).toEqual([expect.objectContaining({ amount: 5900 })])
  })
})
