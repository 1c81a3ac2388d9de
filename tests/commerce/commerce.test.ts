import { eq } from 'drizzle-orm'
import Stripe from 'stripe'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resumeStripeEvents } from '../../src/commerce'
import { createPayments } from '../../src/commerce/stripe'
import { entitlements, orders, stripeEvents } from '../../src/commerce/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'
import { startStripeServer, type StripeTestServer } from '../helpers/stripe'

const WEBHOOK_SECRET = 'whsec_test_refinery'
const signer = new Stripe('sk_test_signer')

type Person = Awaited<ReturnType<Harness['teamOwner']>>

describe('commerce', () => {
  let h: Harness
  let stripe: StripeTestServer
  let seller: Person
  let eventCounter = 0

  /** Delivers a Stripe event the way Stripe does (JSON body, signed header), then lets the job queue apply it. */
  async function deliver(type: string, object: Record<string, unknown>, options: { id?: string; timestamp?: number; secret?: string } = {}) {
    const payload = JSON.stringify({
      id: options.id ?? `evt_${++eventCounter}_${crypto.randomUUID().slice(0, 8)}`,
      object: 'event',
      type,
      api_version: '2025-01-01',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      data: { object },
    })
    const signature = signer.webhooks.generateTestHeaderString({ payload, secret: options.secret ?? WEBHOOK_SECRET, timestamp: options.timestamp })
    const response = await h.call('POST', '/v1/stripe/webhook', { body: payload, headers: { 'Stripe-Signature': signature } })
    await h.idle()
    return response
  }

  /** The Checkout session a checkout answer sends the buyer to. */
  const sessionOf = (started: { checkoutUrl: string }) => started.checkoutUrl.split('/').at(-1)!
  /** The buyer pays at that page: the session as Stripe's event about it carries it. */
  const paidSession = (started: { checkoutUrl: string }, paymentIntent: string) => stripe.paySession(sessionOf(started), { paymentIntent })

  async function publishedListing(slug: string) {
    await createListing(h, seller, slug)
    await publishFolder(h, seller, slug, '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
  }

  async function offer(slug: string, body: Record<string, unknown>) {
    const response = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/offers`, { auth: seller.token, body })
    if (response.status !== 201) throw new Error(`createOffer failed: ${response.text}`)
    return response.json as { id: string }
  }

  const buy = (person: { token: string }, body: Record<string, unknown>) => h.call('POST', '/v1/checkout', { auth: person.token, body })
  const entitlementsOf = async (person: { token: string }) => (await h.call('GET', '/v1/me/entitlements', { auth: person.token })).json.items

  beforeAll(async () => {
    stripe = await startStripeServer()
    h = await createHarness({
      payments: createPayments({ secretKey: 'sk_test_refinery', webhookSecret: WEBHOOK_SECRET, apiUrl: stripe.url, feeBps: 1000, timeoutMs: 400 }),
    })
    seller = await h.teamOwner('seller')
    // Payouts: onboarding creates the Express account; Stripe's account.updated enables charges.
    const onboarding = await h.call('POST', `/v1/teams/${seller.team}/payouts/onboarding`, { auth: seller.token })
    expect(onboarding.status).toBe(200)
    expect(onboarding.json).toMatchObject({ url: expect.stringContaining('/onboard/'), chargesEnabled: false })
    const account = stripe.enableAccount(onboarding.json.accountId)
    expect((await deliver('account.updated', account)).status).toBe(200)
    const again = await h.call('POST', `/v1/teams/${seller.team}/payouts/onboarding`, { auth: seller.token })
    expect(again.json).toMatchObject({ accountId: onboarding.json.accountId, chargesEnabled: true })
    expect(stripe.accounts.size).toBe(1)
  })
  afterAll(async () => {
    await h.close()
    await stripe.close()
  })

  it('grants a free offer at once, and returns the same entitlement when claimed again', async () => {
    await publishedListing('free-lora')
    const free = await offer('free-lora', { kind: 'free', license: 'research' })
    const buyer = await h.user('free-buyer')
    const first = await buy(buyer, { offerId: free.id })
    expect(first.status).toBe(201)
    expect(first.json.entitlement).toMatchObject({ adapter: `${seller.team}/free-lora`, license: 'research', source: 'free', revokedAt: null })
    const second = await buy(buyer, { offerId: free.id })
    expect(second.status).toBe(200)
    expect(second.json).toMatchObject({ existing: true, entitlement: { id: first.json.entitlement.id } })
    expect(await entitlementsOf(buyer)).toEqual([expect.objectContaining({ id: first.json.entitlement.id })])
    // The entitlement makes the buyer a verified reviewer.
    const review = await h.call('POST', `/v1/adapters/${seller.team}/free-lora/versions/1.0.0/reviews`, { auth: buyer.token, body: { rating: 5, text: 'Works on our Llama-2 stack.' } })
    expect(review.status).toBe(201)
  })

  it('refuses bad offers and bad purchases with stable codes', async () => {
    await publishedListing('strict-offers')
    const path = `/v1/adapters/${seller.team}/strict-offers/offers`
    const create = (body: Record<string, unknown>) => h.call('POST', path, { auth: seller.token, body })
    expectProblem(await create({ kind: 'one_time', license: 'commercial', amount: 0, currency: 'usd' }), 422, 'validation_failed')
    expectProblem(await create({ kind: 'one_time', license: 'commercial', amount: -5, currency: 'usd' }), 422, 'validation_failed')
    expectProblem(await create({ kind: 'one_time', license: 'commercial', amount: 1.5, currency: 'usd' }), 422, 'validation_failed')
    expectProblem(await create({ kind: 'one_time', license: 'commercial', amount: 500, currency: 'xyz' }), 422, 'validation_failed')
    expectProblem(await create({ kind: 'free', license: 'research', amount: 500, currency: 'usd' }), 422, 'validation_failed')
    const stranger = await h.teamOwner('stranger')
    expectProblem(await h.call('POST', path, { auth: stranger.token, body: { kind: 'free', license: 'research' } }), 403, 'not_team_member')

    // A team without payouts cannot sell for a price.
    await createListing(h, stranger, 'unpaid')
    const unpaid = await h.call('POST', `/v1/adapters/${stranger.team}/unpaid/offers`, {
      auth: stranger.token,
      body: { kind: 'one_time', license: 'commercial', amount: 900, currency: 'usd' },
    })
    expectProblem(unpaid, 409, 'payouts_not_enabled')

    const free = await offer('strict-offers', { kind: 'free', license: 'research' })
    expectProblem(await buy(seller, { offerId: free.id }), 403, 'own_adapter')
    expectProblem(await buy(stranger, { offerId: crypto.randomUUID() }), 404, 'not_found')

    await h.call('PATCH', `/v1/adapters/${seller.team}/strict-offers`, { auth: seller.token, body: { visibility: 'archived' } })
    expectProblem(await create({ kind: 'free', license: 'commercial' }), 409, 'listing_archived')
    expectProblem(await buy(stranger, { offerId: free.id }), 409, 'adapter_not_available')
  })

  it('sells through Stripe Checkout with the platform fee, and grants only on the verified payment event', async () => {
    await publishedListing('paid-lora')
    const paid = await offer('paid-lora', { kind: 'one_time', license: 'commercial', amount: 4900, currency: 'USD' })
    const buyer = await h.user('paid-buyer')

    const started = await buy(buyer, { offerId: paid.id })
    expect(started.status).toBe(201)
    expect(started.json).toMatchObject({ checkoutUrl: expect.stringContaining('/pay/cs_test_'), order: { status: 'pending', amount: 4900, currency: 'usd' } })
    const call = stripe.requests.filter((request) => request.path === '/v1/checkout/sessions').at(-1)!
    expect(call.idempotencyKey).toBe(`checkout:${started.json.order.id}`)
    expect(call.body).toMatchObject({
      mode: 'payment',
      metadata: { orderId: started.json.order.id },
      // (Form values arrive as strings.)
      payment_intent_data: { application_fee_amount: '490', transfer_data: { destination: expect.stringMatching(/^acct_/) } },
    })
    // Checking out again reuses the open order: one order, one session, no second charge.
    const again = await buy(buyer, { offerId: paid.id })
    expect(again.status).toBe(200)
    expect(again.json).toMatchObject({ order: { id: started.json.order.id }, checkoutUrl: started.json.checkoutUrl })
    expect(await entitlementsOf(buyer)).toEqual([])

    const sessionId = sessionOf(started.json)
    const event = { id: `evt_paid_${sessionId}` }
    const completed = paidSession(started.json, `pi_${sessionId}`)
    expect((await deliver('checkout.session.completed', completed, event)).status).toBe(200)
    // Stripe repeats itself: the same event again changes nothing.
    expect((await deliver('checkout.session.completed', completed, event)).status).toBe(200)
    const held = await entitlementsOf(buyer)
    expect(held).toEqual([expect.objectContaining({ adapter: `${seller.team}/paid-lora`, license: 'commercial', source: 'order', revokedAt: null })])
    const [order] = await h.db.select().from(orders).where(eq(orders.id, started.json.order.id))
    expect(order).toMatchObject({ status: 'paid', feeAmount: 490, stripePaymentIntentId: `pi_${sessionId}` })

    // Bought already: no new order, the entitlement comes back.
    const third = await buy(buyer, { offerId: paid.id })
    expect(third.status).toBe(200)
    expect(third.json).toMatchObject({ existing: true, entitlement: { id: held[0].id } })

    // A full refund takes it back; the sales report shows the money.
    expect((await deliver('charge.refunded', { id: `ch_${sessionId}`, object: 'charge', payment_intent: `pi_${sessionId}`, amount: 4900, amount_refunded: 4900, refunded: true })).status).toBe(200)
    expect((await entitlementsOf(buyer))[0]).toMatchObject({ revokedAt: expect.any(String), revokeReason: 'refunded' })
    const sales = await h.call('GET', `/v1/teams/${seller.team}/sales`, { auth: seller.token })
    expect(sales.status).toBe(200)
    expect(sales.json.totals).toEqual([{ currency: 'usd', orders: 1, gross: 4900, fees: 490, refunds: 4900, net: -490 }])
    expect(sales.json.byAdapter).toEqual([expect.objectContaining({ adapter: `${seller.team}/paid-lora`, orders: 1 })])
    // Llama-2-7B tensors also fit its shape twins: the sale counts under each base.
    expect(sales.json.byBaseModel).toContainEqual({ baseModel: 'meta-llama/Llama-2-7b-hf', currency: 'usd', orders: 1, gross: 4900, fees: 490, refunds: 4900, net: -490 })
    expect(sales.json.byDay).toEqual([expect.objectContaining({ day: order!.paidAt!.toISOString().slice(0, 10), orders: 1 })])
  })

  it('filters search by price: free offers and one-time prices up to maxPrice, in a currency if given', async () => {
    const slugs = async (query: string) =>
      ((await h.call('GET', `/v1/adapters?${query}`)).json.items as { slug: string; team: string }[]).filter((item) => item.team === seller.team).map((item) => item.slug)
    const cheap = await slugs('maxPrice=1000')
    expect(cheap).toContain('free-lora')
    expect(cheap).not.toContain('paid-lora')
    expect(await slugs('maxPrice=4900&currency=USD')).toEqual(expect.arrayContaining(['free-lora', 'paid-lora']))
    expect(await slugs('maxPrice=4900&currency=eur')).not.toContain('paid-lora')
    expectProblem(await h.call('GET', '/v1/adapters?maxPrice=-1'), 422, 'validation_failed')
  })

  it('processes racing duplicate deliveries once, and a refund that arrives before the payment', async () => {
    await publishedListing('race-lora')
    const paid = await offer('race-lora', { kind: 'one_time', license: 'research', amount: 1000, currency: 'eur' })

    const racer = await h.user('racer')
    const started = (await buy(racer, { offerId: paid.id })).json
    const completed = paidSession(started, 'pi_race')
    const deliveries = await Promise.all(Array.from({ length: 5 }, () => deliver('checkout.session.completed', completed, { id: 'evt_race' })))
    expect(deliveries.map((response) => response.status)).toEqual([200, 200, 200, 200, 200])
    const granted = await h.db.select().from(entitlements).where(eq(entitlements.sourceId, started.order.id))
    expect(granted).toHaveLength(1)

    // Out of order: the refund overtakes the payment. It waits, then applies.
    const late = await h.user('late')
    const lateCheckout = (await buy(late, { offerId: paid.id })).json
    const order = lateCheckout.order
    const refund = await deliver('charge.refunded', { id: 'ch_late', object: 'charge', payment_intent: 'pi_late', amount: 1000, amount_refunded: 1000, refunded: true })
    expect(refund.status).toBe(200)
    const [waiting] = await h.db.select().from(stripeEvents).where(eq(stripeEvents.id, refund.json.id))
    expect(waiting).toMatchObject({ waitingFor: 'pi_late', processedAt: null })
    expect((await deliver('checkout.session.completed', paidSession(lateCheckout, 'pi_late'))).status).toBe(200)
    const [after] = await h.db.select().from(orders).where(eq(orders.id, order.id))
    expect(after).toMatchObject({ status: 'refunded', refundedAmount: 1000 })
    expect(await entitlementsOf(late)).toEqual([expect.objectContaining({ revokeReason: 'refunded' })])

    // A chargeback also revokes.
    const disputer = await h.user('disputer')
    await deliver('checkout.session.completed', paidSession((await buy(disputer, { offerId: paid.id })).json, 'pi_dispute'))
    await deliver('charge.dispute.created', { id: 'dp_1', object: 'dispute', payment_intent: 'pi_dispute', charge: 'ch_dispute', amount: 1000 })
    expect(await entitlementsOf(disputer)).toEqual([expect.objectContaining({ revokeReason: 'disputed' })])
  })

  it('a partial refund keeps the licence and shows in sales; the refund that completes it takes the adapter back', async () => {
    await publishedListing('partial-lora')
    const paid = await offer('partial-lora', { kind: 'one_time', license: 'commercial', amount: 2000, currency: 'usd' })
    const buyer = await h.user('partial-buyer')
    const started = (await buy(buyer, { offerId: paid.id })).json
    await deliver('checkout.session.completed', paidSession(started, 'pi_partial'))
    const totals = async () =>
      ((await h.call('GET', `/v1/teams/${seller.team}/sales`, { auth: seller.token })).json.byAdapter as { adapter: string; refunds: number }[]).find(
        (row) => row.adapter === `${seller.team}/partial-lora`,
      )

    // Stripe's charge carries the amount refunded so far; the same event twice counts once.
    const partial = { id: 'ch_partial', object: 'charge', payment_intent: 'pi_partial', amount: 2000, amount_refunded: 500, refunded: false }
    expect((await deliver('charge.refunded', partial, { id: 'evt_partial_1' })).status).toBe(200)
    expect((await deliver('charge.refunded', partial, { id: 'evt_partial_1' })).status).toBe(200)
    const [kept] = await h.db.select().from(orders).where(eq(orders.id, started.order.id))
    expect(kept).toMatchObject({ status: 'paid', refundedAmount: 500, refundedAt: null })
    expect(await entitlementsOf(buyer)).toEqual([expect.objectContaining({ adapter: `${seller.team}/partial-lora`, revokedAt: null })])
    expect(await totals()).toMatchObject({ refunds: 500 })

    // A second refund brings the total to the whole charge: the order is refunded and the licence revoked.
    expect((await deliver('charge.refunded', { ...partial, amount_refunded: 2000, refunded: true }, { id: 'evt_partial_2' })).status).toBe(200)
    const [refunded] = await h.db.select().from(orders).where(eq(orders.id, started.order.id))
    expect(refunded).toMatchObject({ status: 'refunded', refundedAmount: 2000, refundedAt: expect.any(Date) })
    expect(await entitlementsOf(buyer)).toEqual([expect.objectContaining({ revokeReason: 'refunded' })])
    expect(await totals()).toMatchObject({ refunds: 2000 })
  })

  it('finishes an event that was stored but not processed (a crash between the two) when the server restarts', async () => {
    await publishedListing('crash-lora')
    const paid = await offer('crash-lora', { kind: 'one_time', license: 'commercial', amount: 700, currency: 'usd' })
    const buyer = await h.user('crash-buyer')
    const started = (await buy(buyer, { offerId: paid.id })).json
    const event = { id: 'evt_crash', object: 'event', type: 'checkout.session.completed', data: { object: paidSession(started, 'pi_crash') } }
    // Only the fields the handler reads, as a Stripe event stored by receiveStripeEvent would have them.
    await h.db.insert(stripeEvents).values({ id: event.id, type: event.type, payload: event as unknown as Stripe.Event })
    expect(await entitlementsOf(buyer)).toEqual([])
    expect(await resumeStripeEvents(h.deps)).toBe(1)
    expect(await entitlementsOf(buyer)).toEqual([expect.objectContaining({ adapter: `${seller.team}/crash-lora`, source: 'order' })])
    expect(await resumeStripeEvents(h.deps)).toBe(0)
  })

  it('rejects unsigned, forged and stale deliveries, storing nothing', async () => {
    const before = (await h.db.select().from(stripeEvents)).length
    const body = JSON.stringify({ id: 'evt_forged', object: 'event', type: 'checkout.session.completed', data: { object: {} } })
    expectProblem(await h.call('POST', '/v1/stripe/webhook', { body }), 400, 'invalid_signature')
    expectProblem(await deliver('checkout.session.completed', {}, { id: 'evt_forged', secret: 'whsec_someone_else' }), 400, 'invalid_signature')
    const stale = await deliver('checkout.session.completed', {}, { id: 'evt_stale', timestamp: Math.floor(Date.now() / 1000) - 3600 })
    expectProblem(stale, 400, 'invalid_signature')
    expect(stale.json.detail).toContain('tolerance')
    expect((await h.db.select().from(stripeEvents)).length).toBe(before)
  })

  it('keeps the order pending when Stripe times out, and the retry reuses it without a second session', async () => {
    await publishedListing('slow-lora')
    const paid = await offer('slow-lora', { kind: 'one_time', license: 'commercial', amount: 2500, currency: 'gbp' })
    const buyer = await h.user('patient')
    stripe.delayNext(1500)
    const timedOut = await buy(buyer, { offerId: paid.id })
    expectProblem(timedOut, 503, 'payments_unavailable')
    const pending = await h.db.select().from(orders).where(eq(orders.offerId, paid.id))
    expect(pending).toEqual([expect.objectContaining({ status: 'pending', stripeSessionId: null })])
    expect(await entitlementsOf(buyer)).toEqual([])

    const sessionsBefore = stripe.sessions.size
    const retried = await buy(buyer, { offerId: paid.id })
    expect(retried.status).toBe(201)
    expect(retried.json.order.id).toBe(pending[0]!.id)
    // Stripe already made the session during the timed-out call; the same key brought it back.
    expect(stripe.sessions.size).toBe(sessionsBefore)
  })


  it('answers 422 payment_rejected when Stripe refuses the request, and charges nothing', async () => {
    await publishedListing('refused-lora')
    const paid = await offer('refused-lora', { kind: 'one_time', license: 'commercial', amount: 900, currency: 'usd' })
    const buyer = await h.user('refused')
    const sessionsBefore = stripe.sessions.size
    stripe.failNext(400)
    expectProblem(await buy(buyer, { offerId: paid.id }), 422, 'payment_rejected')
    expect(stripe.sessions.size).toBe(sessionsBefore)
    expect(await entitlementsOf(buyer)).toEqual([])
  })
  it('files access requests for on-request offers; only the seller team decides, once', async () => {
    await publishedListing('gated-lora')
    const gated = await offer('gated-lora', { kind: 'on_request', license: 'commercial' })
    const applicant = await h.teamOwner('applicant')
    expectProblem(await buy(applicant, { offerId: gated.id }), 422, 'message_required')
    const filed = await buy(applicant, { offerId: gated.id, team: applicant.team, message: 'We run a legal chatbot for 40 law firms.' })
    expect(filed.status).toBe(201)
    expect(filed.json.accessRequest).toMatchObject({ status: 'pending', license: 'commercial', requester: { team: applicant.team } })
    expectProblem(await buy(applicant, { offerId: gated.id, team: applicant.team, message: 'Asking a second time, louder.' }), 409, 'access_request_pending')
    expect(await entitlementsOf(applicant)).toEqual([])

    const id = filed.json.accessRequest.id
    // Another team cannot decide this team's requests, nor even see them.
    expectProblem(await h.call('POST', `/v1/access-requests/${id}/approve`, { auth: applicant.token }), 403, 'not_team_member')
    expectProblem(await h.call('GET', `/v1/teams/${seller.team}/access-requests`, { auth: applicant.token }), 403, 'not_team_member')

    expectProblem(await h.call('POST', `/v1/access-requests/${id}/approve`, { auth: seller.token, body: { note: 42 } }), 422, 'validation_failed')
    expectProblem(await h.call('POST', `/v1/access-requests/${id}/approve`, { auth: seller.token, body: '{"note":' }), 400, 'invalid_json')
    const listed = await h.call('GET', `/v1/teams/${seller.team}/access-requests?status=pending`, { auth: seller.token })
    expect(listed.json.items.map((item: { id: string }) => item.id)).toContain(id)
    const approved = await h.call('POST', `/v1/access-requests/${id}/approve`, { auth: seller.token, body: { note: 'Welcome aboard.' } })
    expect(approved.status).toBe(200)
    expect(approved.json).toMatchObject({ status: 'approved', decisionNote: 'Welcome aboard.' })
    expectProblem(await h.call('POST', `/v1/access-requests/${id}/reject`, { auth: seller.token }), 409, 'access_request_decided')
    // The whole applicant team holds it.
    expect(await entitlementsOf(applicant)).toEqual([
      expect.objectContaining({ adapter: `${seller.team}/gated-lora`, source: 'access_request', holder: expect.objectContaining({ kind: 'team', team: applicant.team }) }),
    ])

    const refused = await h.user('refused')
    const second = (await buy(refused, { offerId: gated.id, message: 'Personal experiments only.' })).json.accessRequest
    const rejected = await h.call('POST', `/v1/access-requests/${second.id}/reject`, { auth: seller.token })
    expect(rejected.json.status).toBe('rejected')
    expect(await entitlementsOf(refused)).toEqual([])
  })
})

describe('commerce without Stripe configured', () => {
  let h: Harness
  beforeAll(async () => {
    h = await createHarness()
  })
  afterAll(() => h.close())

  it('answers 503 payments_not_configured for paid things, while free offers still work', async () => {
    const seller = await h.teamOwner('nostripe')
    await createListing(h, seller, 'plain')
    await publishFolder(h, seller, 'plain', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const paid = await h.call('POST', `/v1/adapters/${seller.team}/plain/offers`, {
      auth: seller.token,
      body: { kind: 'one_time', license: 'commercial', amount: 100, currency: 'usd' },
    })
    expectProblem(paid, 503, 'payments_not_configured')
    expectProblem(await h.call('POST', `/v1/teams/${seller.team}/payouts/onboarding`, { auth: seller.token }), 503, 'payments_not_configured')
    expectProblem(await h.call('POST', '/v1/stripe/webhook', { body: '{}' }), 503, 'payments_not_configured')
    const free = await h.call('POST', `/v1/adapters/${seller.team}/plain/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    const buyer = await h.user('buyer')
    expect((await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: free.json.id } })).status).toBe(201)
  })
})
