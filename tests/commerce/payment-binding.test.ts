import { eq } from 'drizzle-orm'
import postgres from 'postgres'
import Stripe from 'stripe'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resumeStripeEvents } from '../../src/commerce'
import { createPayments } from '../../src/commerce/stripe'
import { entitlements, orders, stripeEvents } from '../../src/commerce/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'
import { signedStripeEvent, startStripeServer, type StripeTestServer } from '../helpers/stripe'

const WEBHOOK_SECRET = 'whsec_test_binding'
const signer = new Stripe('sk_test_signer')

type Person = Awaited<ReturnType<Harness['teamOwner']>>
type Started = { order: { id: string }; checkoutUrl: string }

/**
 * A payment counts only for the Checkout session created for its order: the session id recorded
 * on the order, the order's amount and its currency. Anything else is stored, not applied.
 */
describe('a paid session pays only for the order it was created for', () => {
  let h: Harness
  let stripe: StripeTestServer
  let seller: Person
  let offerId: string
  const warnings: string[] = []
  const operators: string[] = []
  let operator: Awaited<ReturnType<Harness['user']>>

  /** Delivers a Stripe event the way Stripe does (JSON body, signed header), then lets the job queue apply it. */
  async function deliver(type: string, object: Record<string, unknown>, id = `evt_${crypto.randomUUID()}`) {
    const { body, headers } = signedStripeEvent(type, object, { secret: WEBHOOK_SECRET, id })
    const response = await h.call('POST', '/v1/stripe/webhook', { body, headers })
    expect(response.status, response.text).toBe(200)
    await h.idle()
    const [stored] = await h.db.select().from(stripeEvents).where(eq(stripeEvents.id, id))
    return stored!
  }

  const sessionOf = (started: Started) => started.checkoutUrl.split('/').at(-1)!
  const orderRow = async (id: string) => (await h.db.select().from(orders).where(eq(orders.id, id)))[0]!
  const grantsOf = (orderId: string) => h.db.select().from(entitlements).where(eq(entitlements.sourceId, orderId))

  /** A new buyer with a pending order for the 49 USD offer, its Checkout session recorded. */
  async function startedOrder(name: string) {
    const buyer = await h.user(name)
    const response = await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId } })
    expect(response.status, response.text).toBe(201)
    const started = response.json as Started
    expect((await orderRow(started.order.id)).stripeSessionId).toBe(sessionOf(started))
    return { buyer, started }
  }

  /** A buyer whose order Stripe made a session for, but whose checkout timed out before recording it. */
  async function unlinkedOrder(name: string) {
    const buyer = await h.user(name)
    stripe.delayNext(1500)
    expectProblem(await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId } }), 503, 'payments_unavailable')
    const [order] = await h.db.select().from(orders).where(eq(orders.buyerUserId, buyer.id))
    const session = [...stripe.sessions.values()].find((candidate) => candidate.client_reference_id === order!.id)!
    return { buyer, order: order!, sessionId: String(session.id) }
  }

  /** Stored, processed (Stripe is not asked again), not applied: the reason and the order it named are on the row. */
  function expectRejected(event: typeof stripeEvents.$inferSelect, reason: string, orderId: string | null) {
    expect(event).toMatchObject({ rejectedReason: reason, orderId, waitingFor: null, processedAt: expect.any(Date) })
    expect(warnings.some((line) => line.includes(event.id) && line.includes(reason))).toBe(true)
  }

  async function expectPendingAndUnpaid(orderId: string) {
    expect(await orderRow(orderId)).toMatchObject({ status: 'pending', paidAt: null, stripePaymentIntentId: null })
    expect(await grantsOf(orderId)).toEqual([])
  }

  beforeAll(async () => {
    stripe = await startStripeServer()
    h = await createHarness({
      payments: createPayments({ secretKey: 'sk_test_binding', webhookSecret: WEBHOOK_SECRET, apiUrl: stripe.url, feeBps: 1000, timeoutMs: 400 }),
      logger: { error: () => {}, info: () => {}, warn: (message: string) => void warnings.push(message) },
      operators,
    })
    operator = await h.user('binding-operator')
    operators.push(operator.email)
    seller = await h.teamOwner('binding')
    const onboarding = await h.call('POST', `/v1/teams/${seller.team}/payouts/onboarding`, { auth: seller.token })
    await deliver('account.updated', stripe.enableAccount(onboarding.json.accountId))
    await createListing(h, seller, 'pricey-lora')
    await publishFolder(h, seller, 'pricey-lora', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/pricey-lora/offers`, { auth: seller.token, body: { kind: 'one_time', license: 'commercial', amount: 4900, currency: 'usd' } })
    expect(offer.status, offer.text).toBe(201)
    offerId = offer.json.id
  })
  afterAll(async () => {
    await h?.close()
    await stripe?.close()
  })

  it('a Payment Link session for 1 EUR naming a 49 USD order buys nothing: no entitlement, the order stays pending, the event is recorded as not applied', async () => {
    const { buyer, started } = await startedOrder('link-payer')
    const orderId = started.order.id
    // The platform's Payment Link; the payer put the order id in its URL's client_reference_id.
    const cheap = await deliver('checkout.session.completed', stripe.paidPaymentLinkSession({ amount: 100, currency: 'eur', clientReferenceId: orderId }))
    expectRejected(cheap, 'session_mismatch', orderId)
    // Paying the full price through a session that is not the order's buys nothing either (the money went to no seller).
    const full = await deliver('checkout.session.completed', stripe.paidPaymentLinkSession({ amount: 4900, currency: 'usd', metadata: { orderId } }))
    expectRejected(full, 'session_mismatch', orderId)
    await expectPendingAndUnpaid(orderId)
    expect((await h.call('GET', '/v1/me/entitlements', { auth: buyer.token })).json.items).toEqual([])

    // Operators can list what was not applied, with what was paid; nobody else can.
    expect((await h.call('GET', '/v1/operator/rejected-payments', { auth: buyer.token })).json.code).toBe('not_operator')
    const listed = await h.call('GET', '/v1/operator/rejected-payments', { auth: operator.token })
    expect(listed.status).toBe(200)
    const rejected = listed.json.items
    expect(rejected).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ eventId: cheap.id, reason: 'session_mismatch', orderId, amount: 100, currency: 'eur' }),
        expect.objectContaining({ eventId: full.id, reason: 'session_mismatch', orderId, amount: 4900, currency: 'usd' }),
      ]),
    )

    // The order's own session still pays for it, once, however often Stripe repeats itself.
    const genuine = stripe.paySession(sessionOf(started))
    const applied = await deliver('checkout.session.completed', genuine, `evt_genuine_${orderId}`)
    expect(applied).toMatchObject({ rejectedReason: null, orderId, processedAt: expect.any(Date) })
    await deliver('checkout.session.completed', genuine, `evt_genuine_${orderId}`)
    await deliver('checkout.session.async_payment_succeeded', genuine)
    expect(await orderRow(orderId)).toMatchObject({ status: 'paid', stripePaymentIntentId: genuine.payment_intent })
    expect(await grantsOf(orderId)).toHaveLength(1)
    expect((await h.call('GET', '/v1/me/entitlements', { auth: buyer.token })).json.items).toEqual([expect.objectContaining({ source: 'order', revokedAt: null })])
  })

  it("refuses the order's own session when it paid another amount or another currency", async () => {
    const { started } = await startedOrder('odd-amounts')
    const orderId = started.order.id
    const genuine = stripe.paySession(sessionOf(started))
    expectRejected(await deliver('checkout.session.completed', { ...genuine, amount_total: 100 }), 'amount_mismatch', orderId)
    expectRejected(await deliver('checkout.session.completed', { ...genuine, currency: 'eur' }), 'currency_mismatch', orderId)
    expectRejected(await deliver('checkout.session.completed', { ...genuine, amount_total: null }), 'amount_mismatch', orderId)
    await expectPendingAndUnpaid(orderId)
    await deliver('checkout.session.completed', genuine)
    expect(await grantsOf(orderId)).toHaveLength(1)
  })

  it('applies async_payment_succeeded by the same rules', async () => {
    const { started } = await startedOrder('delayed-payer')
    const orderId = started.order.id
    // A delayed payment method: the session completes unpaid, and nothing happens yet.
    const unpaid = await deliver('checkout.session.completed', { ...stripe.sessions.get(sessionOf(started)), status: 'complete', payment_status: 'unpaid' })
    expect(unpaid).toMatchObject({ rejectedReason: null, processedAt: expect.any(Date) })
    expectRejected(await deliver('checkout.session.async_payment_succeeded', stripe.paidPaymentLinkSession({ amount: 100, currency: 'eur', clientReferenceId: orderId })), 'session_mismatch', orderId)
    const genuine = stripe.paySession(sessionOf(started))
    expectRejected(await deliver('checkout.session.async_payment_succeeded', { ...genuine, amount_total: 4899 }), 'amount_mismatch', orderId)
    expectRejected(await deliver('checkout.session.async_payment_succeeded', { ...genuine, currency: 'gbp' }), 'currency_mismatch', orderId)
    await expectPendingAndUnpaid(orderId)
    await deliver('checkout.session.async_payment_succeeded', genuine)
    await deliver('checkout.session.async_payment_succeeded', genuine)
    expect(await orderRow(orderId)).toMatchObject({ status: 'paid' })
    expect(await grantsOf(orderId)).toHaveLength(1)
  })

  it('stores a paid session that names no order of ours as unknown_session (a malformed reference is not a 500)', async () => {
    for (const reference of ['not-a-uuid', crypto.randomUUID(), undefined]) {
      const session = stripe.paidPaymentLinkSession({ amount: 4900, currency: 'usd', ...(reference && { clientReferenceId: reference }) })
      expectRejected(await deliver('checkout.session.completed', session), 'unknown_session', null)
    }
  })

  it('lets only the order’s own session expire it', async () => {
    const { started } = await startedOrder('expiring')
    const orderId = started.order.id
    await deliver('checkout.session.expired', { ...stripe.paidPaymentLinkSession({ amount: 100, currency: 'eur', metadata: { orderId } }), status: 'expired', payment_status: 'unpaid' })
    expect((await orderRow(orderId)).status).toBe('pending')
    await deliver('checkout.session.expired', { ...stripe.sessions.get(sessionOf(started)), status: 'expired' })
    expect((await orderRow(orderId)).status).toBe('expired')
  })

  it("a payment event that overtakes the recording of its session id waits, and applies exactly once when checkout records it", async () => {
    // Stripe makes the session but answers too late: the order is pending with no session id recorded.
    const { buyer, order, sessionId } = await unlinkedOrder('overtaken')
    expect(order).toMatchObject({ status: 'pending', stripeSessionId: null })
    const session = { id: sessionId }

    // The buyer pays at once; the event arrives before the order knows its session.
    const genuine = stripe.paySession(String(session.id))
    const early = await deliver('checkout.session.completed', genuine, `evt_early_${order.id}`)
    expect(early).toMatchObject({ waitingFor: order.id, orderId: order.id, processedAt: null, rejectedReason: null })
    // A Payment Link naming the unlinked order: a wrong currency is refused at once; the right money waits to be compared.
    expectRejected(await deliver('checkout.session.completed', stripe.paidPaymentLinkSession({ amount: 100, currency: 'eur', clientReferenceId: order.id })), 'currency_mismatch', order.id)
    const lookalike = await deliver('checkout.session.completed', stripe.paidPaymentLinkSession({ amount: 4900, currency: 'usd', clientReferenceId: order.id }))
    expect(lookalike).toMatchObject({ waitingFor: order.id, processedAt: null })
    await expectPendingAndUnpaid(order.id)

    // The retry gets the same session back (same idempotency key), records it, and applies what waited.
    const retried = await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId } })
    expect(retried.status, retried.text).toBe(201)
    expect(sessionOf(retried.json)).toBe(session.id)
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid', stripeSessionId: session.id, stripePaymentIntentId: genuine.payment_intent })
    expect(await grantsOf(order.id)).toHaveLength(1)
    const [applied] = await h.db.select().from(stripeEvents).where(eq(stripeEvents.id, early.id))
    expect(applied).toMatchObject({ waitingFor: null, rejectedReason: null, processedAt: expect.any(Date) })
    const [refused] = await h.db.select().from(stripeEvents).where(eq(stripeEvents.id, lookalike.id))
    expectRejected(refused!, 'session_mismatch', order.id)

    // Stripe's retry of the early event, and a restart, change nothing.
    await deliver('checkout.session.completed', genuine, early.id)
    expect(await resumeStripeEvents(h.deps)).toBe(0)
    expect(await grantsOf(order.id)).toHaveLength(1)
  })

  // Real concurrency needs a second connection: Postgres only (PGlite runs one statement at a time).
  it.runIf(process.env.DATABASE_URL)('grants once whichever of the payment event and the recording of the session takes the order first', async () => {
    const locker = postgres(h.databaseUrl!, { max: 2, onnotice: () => {} }) // one holds the lock, one watches who waits
    try {
      const waiters = async () => (await locker`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)[0]!.n as number
      const until = async (count: number) => {
        for (let poll = 0; poll < 400 && (await waiters()) < count; poll++) await new Promise((resolve) => setTimeout(resolve, 25))
        expect(await waiters()).toBeGreaterThanOrEqual(count)
      }
      for (const first of ['event', 'checkout'] as const) {
        const { buyer, order, sessionId } = await unlinkedOrder(`interleaved-${first}`)
        const genuine = stripe.paySession(sessionId)
        const payload = JSON.stringify({ id: `evt_${first}_${order.id}`, object: 'event', type: 'checkout.session.completed', created: Math.floor(Date.now() / 1000), data: { object: genuine } })
        const event = () => h.call('POST', '/v1/stripe/webhook', { body: payload, headers: { 'Stripe-Signature': signer.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }) } })
        const checkout = () => h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId } })

        // Hold the order's row; both sides queue on it in the chosen order, then go.
        const session = await locker.reserve()
        await session`begin`
        await session`select id from orders where id = ${order.id} for update`
        const base = await waiters()
        const one = first === 'event' ? event() : checkout()
        await until(base + 1)
        const two = first === 'event' ? checkout() : event()
        await until(base + 2)
        await session`commit`
        session.release()
        const answers = await Promise.all([one, two])
        expect(answers.map((answer) => answer.status).sort()).toEqual([200, 201])
        await h.idle() // the event's job, which queued on the lock too

        expect(await orderRow(order.id), first).toMatchObject({ status: 'paid', stripeSessionId: sessionId })
        expect(await grantsOf(order.id), first).toHaveLength(1)
        const [stored] = await h.db.select().from(stripeEvents).where(eq(stripeEvents.id, `evt_${first}_${order.id}`))
        expect(stored, first).toMatchObject({ processedAt: expect.any(Date), waitingFor: null, rejectedReason: null })
      }
    } finally {
      await locker.end({ timeout: 0 })
    }
  })

  it('a restart applies an event that waited for an order linked since (a crash between recording the session and applying)', async () => {
    const { started } = await startedOrder('crash-linker')
    const orderId = started.order.id
    // As if the event had arrived before the link and the process died right after the link.
    const sessionId = sessionOf(started)
    await h.db.update(orders).set({ stripeSessionId: null }).where(eq(orders.id, orderId))
    const waiting = await deliver('checkout.session.completed', stripe.paySession(sessionId))
    expect(waiting).toMatchObject({ waitingFor: orderId, processedAt: null })
    await h.db.update(orders).set({ stripeSessionId: sessionId }).where(eq(orders.id, orderId))

    expect(await resumeStripeEvents(h.deps)).toBe(1)
    expect(await orderRow(orderId)).toMatchObject({ status: 'paid' })
    expect(await grantsOf(orderId)).toHaveLength(1)
    expect(await resumeStripeEvents(h.deps)).toBe(0)
  })
})
