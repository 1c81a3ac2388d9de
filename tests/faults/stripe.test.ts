import { eq } from 'drizzle-orm'
import Stripe from 'stripe'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPayments } from '../../src/commerce/stripe'
import { entitlements, orders } from '../../src/commerce/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'
import { startStripeServer, type StripeTestServer } from '../helpers/stripe'
import { expectRecovered } from './invariants'

const WEBHOOK_SECRET = 'whsec_test_stripe_faults'
const signer = new Stripe('sk_test_signer')

// (Stripe answering slower than the client's timeout is in tests/commerce/commerce.test.ts.)
describe('Stripe unreachable or hung (a fault proxy in front of the Stripe test server)', () => {
  let stripe: StripeTestServer
  let proxy: FaultProxy
  let h: Harness

  beforeAll(async () => {
    stripe = await startStripeServer()
    proxy = await startFaultProxy({ host: '127.0.0.1', port: stripe.port })
    h = await createHarness({
      payments: createPayments({ secretKey: 'sk_test_faults', webhookSecret: WEBHOOK_SECRET, apiUrl: `http://127.0.0.1:${proxy.port}`, feeBps: 1000, timeoutMs: 1000 }),
    })
  })
  afterAll(async () => {
    proxy?.set('up')
    await h?.close()
    await proxy?.close()
    await stripe?.close()
  })

  async function deliver(type: string, object: Record<string, unknown>) {
    const payload = JSON.stringify({ id: `evt_${crypto.randomUUID()}`, object: 'event', type, created: Math.floor(Date.now() / 1000), data: { object } })
    const response = await h.call('POST', '/v1/stripe/webhook', { body: payload, headers: { 'Stripe-Signature': signer.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }) } })
    await h.idle() // the job queue applies it
    return response
  }

  it('answers 503 payments_unavailable while Stripe is down or hung, keeps one pending order, and completes the sale once it is back', async () => {
    const seller = await h.teamOwner('stripe-seller')
    await createListing(h, seller, 'paid-lora')
    await publishFolder(h, seller, 'paid-lora', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const onboarding = await h.call('POST', `/v1/teams/${seller.team}/payouts/onboarding`, { auth: seller.token })
    expect((await deliver('account.updated', stripe.enableAccount(onboarding.json.accountId))).status).toBe(200)
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/paid-lora/offers`, { auth: seller.token, body: { kind: 'one_time', license: 'commercial', amount: 900, currency: 'eur' } })
    const buyer = await h.user('stripe-buyer')
    const buy = () => h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id } })

    for (const mode of ['down', 'stall'] as const) {
      proxy.set(mode)
      const refused = await buy()
      expectProblem(refused, 503, 'payments_unavailable')
      expect(refused.headers.get('retry-after')).toBe('5')
    }
    const pending = await h.db.select().from(orders).where(eq(orders.offerId, offer.json.id))
    expect(pending).toEqual([expect.objectContaining({ status: 'pending', stripeSessionId: null })])

    proxy.set('up')
    const bought = await buy()
    expect(bought.status).toBe(201)
    expect(bought.json.order.id).toBe(pending[0]!.id)
    const sessionId = (bought.json.checkoutUrl as string).split('/').at(-1)
    expect(sessionId).toBe((await h.db.select().from(orders).where(eq(orders.id, pending[0]!.id)))[0]!.stripeSessionId)
    const paid = await deliver('checkout.session.completed', stripe.paySession(sessionId!, { paymentIntent: 'pi_after_outage' }))
    expect(paid.status).toBe(200)
    expect(await h.db.select().from(entitlements).where(eq(entitlements.sourceId, pending[0]!.id))).toHaveLength(1)
    await expectRecovered(h)
  })
})
