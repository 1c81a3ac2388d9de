import { eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import worker from '../../workers/api'
import { createApp } from '../../src/app'
import { createPayments } from '../../src/commerce/stripe'
import { entitlements, orders, stripeEvents } from '../../src/commerce/tables'
import type { Database } from '../../src/db/types'
import { type Job } from '../../src/lib/jobs'
import { runJob } from '../../src/jobs'
import { runMaintenance } from '../../src/maintenance'
import { STUCK_STRIPE_EVENT_AFTER_MS } from '../../src/maintenance'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { canRunPrivatePostgres, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres'
import { expectProblem } from '../helpers/problems'
import { signedStripeEvent, startStripeServer, type StripeTestServer } from '../helpers/stripe'
import { expectRecovered } from '../faults/invariants'

const WEBHOOK_SECRET = 'whsec_test_webhook_queue'

/**
 * The database itself refuses the next `times` inserts into `table` (a trigger; the count is a
 * sequence, which a rolled-back transaction does not reset). A real write failure, not a mock.
 */
async function failInserts(db: Database, table: string, times: number) {
  const name = `fault_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
  await db.execute(sql.raw(`create sequence ${name}`))
  await db.execute(
    sql.raw(
      `create function ${name}() returns trigger language plpgsql as $$ begin if nextval('${name}') <= ${times} then raise exception 'injected fault on ${table}'; end if; return new; end $$`,
    ),
  )
  await db.execute(sql.raw(`create trigger ${name} before insert on ${table} for each row execute function ${name}()`))
  return {
    async remove() {
      await db.execute(sql.raw(`drop trigger ${name} on ${table}`))
      await db.execute(sql.raw(`drop function ${name}()`))
      await db.execute(sql.raw(`drop sequence ${name}`))
    },
  }
}

/** A seller with payouts enabled and a 49 USD offer on a published adapter; buyers with a pending order and its Checkout session. */
async function market(h: Harness, stripe: StripeTestServer) {
  const seller = await h.teamOwner('queue-seller')
  const onboarding = await h.call('POST', `/v1/teams/${seller.team}/payouts/onboarding`, { auth: seller.token })
  const account = signedStripeEvent('account.updated', stripe.enableAccount(onboarding.json.accountId), { secret: WEBHOOK_SECRET })
  expect((await h.call('POST', '/v1/stripe/webhook', account)).status).toBe(200)
  await h.idle()
  await createListing(h, seller, 'queued-lora')
  await publishFolder(h, seller, 'queued-lora', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
  const offer = await h.call('POST', `/v1/adapters/${seller.team}/queued-lora/offers`, {
    auth: seller.token,
    body: { kind: 'one_time', license: 'commercial', amount: 4900, currency: 'usd' },
  })
  expect(offer.status, offer.text).toBe(201)

  return {
    /** A new buyer's pending order, and the signed event of its session paid. */
    async paidOrder(name: string) {
      const buyer = await h.user(name)
      const started = await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id } })
      expect(started.status, started.text).toBe(201)
      const sessionId = (started.json.checkoutUrl as string).split('/').at(-1)!
      const event = signedStripeEvent('checkout.session.completed', stripe.paySession(sessionId, { paymentIntent: `pi_${sessionId}` }), { secret: WEBHOOK_SECRET })
      return { orderId: started.json.order.id as string, event }
    },
    grantsOf: (orderId: string) => h.db.select().from(entitlements).where(eq(entitlements.sourceId, orderId)),
    orderOf: async (orderId: string) => (await h.db.select().from(orders).where(eq(orders.id, orderId)))[0]!,
    storedEvent: async (id: string) => (await h.db.select().from(stripeEvents).where(eq(stripeEvents.id, id)))[0],
  }
}

const post = (app: { request: (path: string, init: RequestInit) => Response | Promise<Response> }, event: { body: string; headers: Record<string, string> }) =>
  app.request('/v1/stripe/webhook', { method: 'POST', body: event.body, headers: { ...event.headers, 'Content-Type': 'application/json' } })

describe('Stripe webhooks: stored and answered at once, applied by the job queue', () => {
  let h: Harness
  let stripe: StripeTestServer
  let shop: Awaited<ReturnType<typeof market>>

  beforeAll(async () => {
    stripe = await startStripeServer()
    h = await createHarness({
      payments: createPayments({ secretKey: 'sk_test_queue', webhookSecret: WEBHOOK_SECRET, apiUrl: stripe.url, feeBps: 1000, timeoutMs: 2000 }),
    })
    shop = await market(h, stripe)
  })
  afterAll(async () => {
    await h?.close()
    await stripe?.close()
  })

  it('answers 200 once the event is stored, before anything is applied; every copy of its job applies it once; a repeat after that queues nothing', async () => {
    // The same app whose queue holds its messages, as a Cloudflare Queue does until a consumer runs.
    const held: Job[] = []
    const app = createApp({ ...h.deps, jobs: { enqueue: async (job) => void held.push(job) } })
    const { orderId, event } = await shop.paidOrder('held-buyer')

    // Stripe delivers, and (no answer fast enough for it) delivers again, twice at once.
    const answers = [await post(app, event), ...(await Promise.all([post(app, event), post(app, event)]))]
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200])
    expect(await answers[0]!.json()).toEqual({ received: true, id: event.id })
    expect(await shop.storedEvent(event.id)).toMatchObject({ processedAt: null, attempts: 0 })
    expect(await shop.orderOf(orderId)).toMatchObject({ status: 'pending' })
    expect(await shop.grantsOf(orderId)).toEqual([])
    expect(held).toEqual(Array(3).fill({ kind: 'apply_stripe_event', eventId: event.id }))

    // Consumers run every copy, at once: one application.
    await Promise.all(held.map((job) => runJob(h.deps, job)))
    expect(await shop.orderOf(orderId)).toMatchObject({ status: 'paid' })
    expect(await shop.grantsOf(orderId)).toHaveLength(1)
    expect(await shop.storedEvent(event.id)).toMatchObject({ processedAt: expect.any(Date), attempts: 0 })

    held.length = 0
    expect((await post(app, event)).status).toBe(200)
    expect(held).toEqual([])
    await runJob(h.deps, { kind: 'apply_stripe_event', eventId: event.id })
    expect(await shop.grantsOf(orderId)).toHaveLength(1)
  })

  it('a write of the application that fails does not reach Stripe: the queue retries it and the entitlement appears once', async () => {
    const { orderId, event } = await shop.paidOrder('retried-buyer')
    const fault = await failInserts(h.db, 'entitlements', 1)
    try {
      expect((await h.call('POST', '/v1/stripe/webhook', event)).status).toBe(200)
      await h.idle()
    } finally {
      await fault.remove()
    }
    expect(await shop.grantsOf(orderId)).toHaveLength(1)
    expect(await shop.orderOf(orderId)).toMatchObject({ status: 'paid' })
    // The failed try rolled back whole (the order was not left paid without its entitlement) and was counted.
    expect(await shop.storedEvent(event.id)).toMatchObject({ processedAt: expect.any(Date), attempts: 1, lastError: expect.stringContaining('insert into "entitlements"') })
    await expectRecovered(h)
  })

  it('an application that fails past the queue’s retries stays stored, and upkeep queues it again', async () => {
    const { orderId, event } = await shop.paidOrder('requeued-buyer')
    const fault = await failInserts(h.db, 'entitlements', 2) // the harness's queue tries a job twice
    try {
      expect((await h.call('POST', '/v1/stripe/webhook', event)).status).toBe(200)
      await h.idle()
    } finally {
      await fault.remove()
    }
    expect(await shop.grantsOf(orderId)).toEqual([])
    expect(await shop.storedEvent(event.id)).toMatchObject({ processedAt: null, attempts: 2 })
    expect((await runMaintenance(h.deps)).requeuedStripeEvents).toBe(0) // too recent: its job may still be on its way

    h.advanceClock(STUCK_STRIPE_EVENT_AFTER_MS + 1000)
    expect((await runMaintenance(h.deps)).requeuedStripeEvents).toBe(1)
    await h.idle()
    expect(await shop.grantsOf(orderId)).toHaveLength(1)
    expect((await runMaintenance(h.deps)).requeuedStripeEvents).toBe(0)
    await expectRecovered(h)
  })

  it('a queue that refuses the job answers 503 (Stripe retries); the retry finds the stored event, queues it, and it applies once', async () => {
    let refuse = true
    const app = createApp({
      ...h.deps,
      jobs: {
        async enqueue(job) {
          if (refuse) throw new Error('queue send failed')
          await h.deps.jobs.enqueue(job)
        },
      },
    })
    const { orderId, event } = await shop.paidOrder('refused-queue-buyer')
    const refused = await post(app, event)
    expectProblem({ status: refused.status, headers: refused.headers, json: await refused.json() }, 503, 'queue_unavailable')
    expect(refused.headers.get('retry-after')).toBe('5')
    expect(await shop.storedEvent(event.id)).toMatchObject({ processedAt: null })

    refuse = false
    expect((await post(app, event)).status).toBe(200)
    await h.idle()
    expect(await shop.grantsOf(orderId)).toHaveLength(1)
  })

  it('stores nothing and queues nothing for a forged delivery', async () => {
    const held: Job[] = []
    const app = createApp({ ...h.deps, jobs: { enqueue: async (job) => void held.push(job) } })
    const forged = signedStripeEvent('checkout.session.completed', { id: 'cs_forged', payment_status: 'paid' }, { secret: 'whsec_not_ours' })
    const answer = await post(app, forged)
    expect(answer.status).toBe(400)
    expect(await shop.storedEvent(forged.id)).toBeUndefined()
    expect(held).toEqual([])
  })
})

/** The Workers queue consumer needs Postgres: DATABASE_URL's server, or a cluster of this file's own. */
describe.runIf(process.env.DATABASE_URL || canRunPrivatePostgres)('the Workers queue consumer (workers/api.ts queue) given a Stripe event’s job twice', () => {
  let pg: PrivatePostgres | undefined
  let stripe: StripeTestServer
  let h: Harness
  let shop: Awaited<ReturnType<typeof market>>
  let env: Record<string, string>

  beforeAll(async () => {
    if (!process.env.DATABASE_URL) pg = await startPrivatePostgres()
    stripe = await startStripeServer()
    h = await createHarness({
      databaseServerUrl: pg?.url,
      payments: createPayments({ secretKey: 'sk_test_queue', webhookSecret: WEBHOOK_SECRET, apiUrl: stripe.url, feeBps: 1000, timeoutMs: 2000 }),
    })
    shop = await market(h, stripe)
    // The consumer builds its store from S3_* but a Stripe job never touches it.
    env = { DATABASE_URL: h.databaseUrl!, JWT_SECRET: 'worker-test-secret-that-is-at-least-32-characters', S3_BUCKET: 'unused', S3_REGION: 'auto', S3_ACCESS_KEY_ID: 'unused', S3_SECRET_ACCESS_KEY: 'unused', S3_ENDPOINT: 'http://127.0.0.1:9' }
  })
  afterAll(async () => {
    try {
      await h?.close()
      await stripe?.close()
    } finally {
      await pg?.close()
    }
  })

  it('in racing batches: every copy is acked, the event is applied once', async () => {
    const held: Job[] = []
    const app = createApp({ ...h.deps, jobs: { enqueue: async (job) => void held.push(job) } })
    const { orderId, event } = await shop.paidOrder('consumer-buyer')
    expect((await post(app, event)).status).toBe(200)
    expect((await post(app, event)).status).toBe(200)
    const messages = held.map((body) => ({ id: crypto.randomUUID(), body, attempts: 1, acked: 0, retried: 0, ack() { this.acked += 1 }, retry() { this.retried += 1 } }))
    expect(messages).toHaveLength(2)
    await Promise.all(messages.map((message) => worker.queue({ messages: [message] } as unknown as Parameters<typeof worker.queue>[0], env)))
    expect(messages.map((message) => [message.acked, message.retried])).toEqual([[1, 0], [1, 0]])
    expect(await shop.grantsOf(orderId)).toHaveLength(1)
    expect(await shop.orderOf(orderId)).toMatchObject({ status: 'paid' })
    await expectRecovered(h)
  })
})
