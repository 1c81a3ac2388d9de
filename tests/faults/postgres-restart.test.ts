import { eq } from 'drizzle-orm'
import Stripe from 'stripe'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { adapterVersions, versionCompatibility } from '../../src/publishing/tables'
import { listRegistry } from '../../src/registry/registry'
import { resumeStripeEvents } from '../../src/commerce'
import { createPayments } from '../../src/commerce/stripe'
import { entitlements, orders, stripeEvents } from '../../src/commerce/tables'
import { createListing, declare, peftFolder, publishFolder } from '../helpers/adapters'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy'
import { createHarness, type Harness } from '../helpers/harness'
import { canRunPrivatePostgres, holdWriteLock, startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres'
import { expectProblem } from '../helpers/problems'
import { startStripeServer, type StripeTestServer } from '../helpers/stripe'
import { expectRecovered } from './invariants'

const WEBHOOK_SECRET = 'whsec_test_faults'
const signer = new Stripe('sk_test_signer')

type Response = Awaited<ReturnType<Harness['call']>>

/** A request that met the outage: 503 database_unavailable with a retry hint, never a 500. */
function expectDatabaseUnavailable(response: Response) {
  expectProblem(response, 503, 'database_unavailable')
  expect(response.headers.get('retry-after')).toBe('5')
}

describe.runIf(canRunPrivatePostgres)('Postgres stopped and started under a running app (a private cluster)', () => {
  let pg: PrivatePostgres
  let stripe: StripeTestServer
  let h: Harness
  let eventCounter = 0

  beforeAll(async () => {
    pg = await startPrivatePostgres()
    stripe = await startStripeServer()
    h = await createHarness({
      databaseServerUrl: pg.url,
      payments: createPayments({ secretKey: 'sk_test_faults', webhookSecret: WEBHOOK_SECRET, apiUrl: stripe.url, feeBps: 1000, timeoutMs: 2000 }),
    })
  })
  // A test that failed while the cluster was down must not leave the next ones without it.
  afterEach(async () => {
    if (pg && !pg.running) await pg.start()
  })
  afterAll(async () => {
    try {
      await h?.close()
      await stripe?.close()
    } finally {
      await pg?.close()
    }
  })

  async function deliver(type: string, object: Record<string, unknown>, id = `evt_${++eventCounter}_${crypto.randomUUID().slice(0, 8)}`) {
    const payload = JSON.stringify({ id, object: 'event', type, api_version: '2025-01-01', created: Math.floor(Date.now() / 1000), livemode: false, data: { object } })
    const signature = signer.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET })
    return h.call('POST', '/v1/stripe/webhook', { body: payload, headers: { 'Stripe-Signature': signature } })
  }

  /** A seller team with a published adapter and Stripe payouts enabled. */
  async function sellerWithListing(slug: string) {
    const seller = await h.teamOwner('pg-seller')
    await createListing(h, seller, slug)
    const { version } = await publishFolder(h, seller, slug, '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    expect(version.status).toBe('published')
    const onboarding = await h.call('POST', `/v1/teams/${seller.team}/payouts/onboarding`, { auth: seller.token })
    expect((await deliver('account.updated', stripe.enableAccount(onboarding.json.accountId))).status).toBe(200)
    await h.idle() // the job queue applies it
    return seller
  }

  async function offer(seller: { token: string; team: string }, slug: string, body: Record<string, unknown>) {
    const response = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/offers`, { auth: seller.token, body })
    expect(response.status).toBe(201)
    return response.json.id as string
  }

  it('answers 503 database_unavailable while Postgres is down, and serves again once it is back, without restarting the app', async () => {
    const seller = await sellerWithListing('outage-lora')
    const free = await offer(seller, 'outage-lora', { kind: 'free', license: 'research' })
    const key = (await h.call('POST', '/v1/api-keys', { auth: seller.token, body: { name: 'ci', scopes: ['read'] } })).json.key as string
    const buyer = await h.user('outage-buyer')
    const files = `/v1/adapters/${seller.team}/outage-lora/versions/1.0.0/files/adapter_model.safetensors`
    // Reads, writes, API-key authentication (a query in the middleware) and the download check.
    const requests: [string, () => Promise<Response>, number][] = [
      ['getMe', () => h.call('GET', '/v1/me', { auth: seller.token }), 200],
      ['getMe with an API key', () => h.call('GET', '/v1/me', { auth: key }), 200],
      ['login', () => h.call('POST', '/v1/login', { body: { email: buyer.email, password: buyer.password } }), 200],
      ['searchAdapters', () => h.call('GET', '/v1/adapters?q=legal', { auth: buyer.token }), 200],
      ['getAdapter', () => h.call('GET', `/v1/adapters/${seller.team}/outage-lora`, { auth: buyer.token }), 200],
      ['downloadFile', () => h.call('GET', files, { auth: seller.token }), 302],
      ['checkout (free)', () => h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: free } }), 201],
    ]

    await pg.stop('fast')
    for (const [name, request] of requests) {
      const response = await request()
      expect(response.status, name).toBe(503)
      expectDatabaseUnavailable(response)
    }
    // Many at once: every one fails fast with the same answer (no request queued behind a long reconnect backoff).
    const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => requests[i % requests.length]![1]()))
    expect(burst.map((response) => response.json?.code)).toEqual(Array(30).fill('database_unavailable'))
    // /health is liveness: the process is up.
    expect((await h.call('GET', '/health')).status).toBe(200)

    await pg.start()
    for (const [name, request, status] of requests) expect((await request()).status, name).toBe(status)
    // The free claim during the outage wrote nothing: the one that succeeded afterwards is the only one.
    const granted = await h.db.select().from(entitlements).where(eq(entitlements.userId, buyer.id))
    expect(granted).toHaveLength(1)
    await expectRecovered(h)
  })

  it('a free checkout in flight when Postgres stops is either committed or not: after the restart and a retry, exactly one entitlement', async () => {
    const seller = await sellerWithListing('inflight-lora')
    const free = await offer(seller, 'inflight-lora', { kind: 'free', license: 'research' })
    const buyer = await h.user('inflight-buyer')

    const lock = await holdWriteLock(h.databaseUrl!, 'entitlements')
    const inFlight = h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: free } })
    await lock.inFlight()
    await pg.stop('fast')
    // The claim is one INSERT: the stop either kills it while it waits, or (the lock holder dying
    // first) lets it commit. Either way the caller is told plainly.
    const answer = await inFlight
    if (answer.status !== 201) expectDatabaseUnavailable(answer)
    await lock.close()

    await pg.start()
    const held = await h.db.select().from(entitlements).where(eq(entitlements.userId, buyer.id))
    expect(held).toHaveLength(answer.status === 201 ? 1 : held.length)
    expect(held.length).toBeLessThanOrEqual(1)
    // The client's retry gets it (or finds it); the next one finds it.
    expect([200, 201]).toContain((await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: free } })).status)
    const again = await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: free } })
    expect(again.status).toBe(200)
    expect(again.json.existing).toBe(true)
    expect(await h.db.select().from(entitlements).where(eq(entitlements.userId, buyer.id))).toHaveLength(1)
    await expectRecovered(h)
  })

  it('a webhook is answered 200 once stored, while its application waits; a crash halfway leaves nothing half-applied; an event arriving while Postgres is down gets 503; resumption and Stripe retries apply each once', async () => {
    const seller = await sellerWithListing('webhook-lora')
    const paid = await offer(seller, 'webhook-lora', { kind: 'one_time', license: 'commercial', amount: 1500, currency: 'usd' })
    const first = await h.user('webhook-buyer')
    const second = await h.user('webhook-buyer')
    const firstCheckout = (await h.call('POST', '/v1/checkout', { auth: first.token, body: { offerId: paid } })).json
    const secondCheckout = (await h.call('POST', '/v1/checkout', { auth: second.token, body: { offerId: paid } })).json
    const firstOrder = firstCheckout.order
    const secondOrder = secondCheckout.order
    // The order's own Checkout session, paid (only it pays for the order).
    const sessions = new Map([firstCheckout, secondCheckout].map((started) => [started.order.id as string, started.checkoutUrl.split('/').at(-1) as string]))
    const session = (order: { id: string }, n: string) => stripe.paySession(sessions.get(order.id)!, { paymentIntent: `pi_${n}` })
    const halfwayId = `evt_halfway_${crypto.randomUUID().slice(0, 8)}`
    const lostId = `evt_lost_${crypto.randomUUID().slice(0, 8)}`

    // The queued job's transaction marks the order paid and waits to grant; Stripe already has its
    // 200 (the event is stored), and the crash comes there.
    const lock = await holdWriteLock(h.databaseUrl!, 'entitlements')
    expect((await deliver('checkout.session.completed', session(firstOrder, 'halfway'), halfwayId)).status).toBe(200)
    await lock.inFlight()
    await pg.stop('immediate')
    await h.idle() // the in-process queue retries while the database is down, and gives up
    await lock.close()
    // Delivered while the database is down: nothing can be stored, so Stripe must retry.
    expectDatabaseUnavailable(await deliver('checkout.session.completed', session(secondOrder, 'lost'), lostId))

    await pg.start()
    // Crash recovery rolled the half-done transaction back: the order is pending, nothing granted.
    const [afterCrash] = await h.db.select().from(orders).where(eq(orders.id, firstOrder.id))
    expect(afterCrash).toMatchObject({ status: 'pending', paidAt: null })
    expect(await h.db.select().from(entitlements).where(eq(entitlements.sourceId, firstOrder.id))).toEqual([])
    const [stored] = await h.db.select().from(stripeEvents).where(eq(stripeEvents.id, halfwayId))
    expect(stored).toMatchObject({ processedAt: null })
    expect(await h.db.select().from(stripeEvents).where(eq(stripeEvents.id, lostId))).toEqual([])

    // What the server does at start finishes the stored event; Stripe's retries then change nothing.
    expect(await resumeStripeEvents(h.deps)).toBe(1)
    expect((await deliver('checkout.session.completed', session(firstOrder, 'halfway'), halfwayId)).status).toBe(200)
    // The event that was never stored arrives again with Stripe's retry, twice.
    expect((await deliver('checkout.session.completed', session(secondOrder, 'lost'), lostId)).status).toBe(200)
    expect((await deliver('checkout.session.completed', session(secondOrder, 'lost'), lostId)).status).toBe(200)
    await h.idle()

    for (const order of [firstOrder, secondOrder]) {
      const [row] = await h.db.select().from(orders).where(eq(orders.id, order.id))
      expect(row?.status).toBe('paid')
      expect(await h.db.select().from(entitlements).where(eq(entitlements.sourceId, order.id))).toHaveLength(1)
    }
    await expectRecovered(h)
  })

  it('a validation cut by the restart stays validating, then upkeep finishes it with one verdict and one matrix', async () => {
    const seller = await h.teamOwner('pg-validator')
    await createListing(h, seller, 'cut-lora')
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })
    const created = await h.call('POST', `/v1/adapters/${seller.team}/cut-lora/versions`, {
      auth: seller.token,
      body: { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) },
    })
    for (const upload of created.json.uploads) {
      expect((await h.put(upload.url, upload.headers, files.find((file) => file.path === upload.path)!.bytes)).status).toBe(200)
    }
    // The verdict's transaction has set the status and waits to write the matrix when the server stops.
    const lock = await holdWriteLock(h.databaseUrl!, 'version_compatibility')
    expect((await h.call('POST', `/v1/adapters/${seller.team}/cut-lora/versions/1.0.0/complete`, { auth: seller.token })).status).toBe(202)
    await lock.inFlight()
    await pg.stop('fast')
    await h.idle() // the in-process queue retries while the database is down, and gives up
    await lock.close()
    await pg.start()

    const version = await h.call('GET', `/v1/adapters/${seller.team}/cut-lora/versions/1.0.0`, { auth: seller.token })
    expect(version.json.status).toBe('validating')
    await expectRecovered(h) // runMaintenance requeues it
    const [row] = await h.db.select().from(adapterVersions).where(eq(adapterVersions.id, version.json.id))
    expect(row?.status).toBe('ready')
    const matrix = await h.db.select().from(versionCompatibility).where(eq(versionCompatibility.versionId, version.json.id))
    expect(matrix).toHaveLength((await listRegistry(h.db)).length)
  })
})

describe.runIf(canRunPrivatePostgres)('Postgres that stops answering (a hung server or a dropped route)', () => {
  let pg: PrivatePostgres
  let proxy: FaultProxy
  let h: Harness

  beforeAll(async () => {
    pg = await startPrivatePostgres()
    proxy = await startFaultProxy({ host: '127.0.0.1', port: pg.port })
    const url = new URL(pg.url)
    url.port = String(proxy.port)
    h = await createHarness({ databaseServerUrl: url.toString(), connectTimeoutSeconds: 1 })
  })
  afterAll(async () => {
    try {
      proxy?.set('up')
      await h?.close()
      await proxy?.close()
    } finally {
      await pg?.close()
    }
  })

  it('fails requests after the connect timeout with 503, not a hang, and recovers when the route comes back', async () => {
    const user = await h.user('hung')
    proxy.set('stall')
    const during = await Promise.all([h.call('GET', '/v1/me', { auth: user.token }), h.call('POST', '/v1/login', { body: { email: user.email, password: user.password } })])
    for (const response of during) expectDatabaseUnavailable(response)

    proxy.set('down')
    expectDatabaseUnavailable(await h.call('GET', '/v1/me', { auth: user.token }))

    proxy.set('up')
    expect((await h.call('GET', '/v1/me', { auth: user.token })).status).toBe(200)
    expect((await h.call('POST', '/v1/login', { body: { email: user.email, password: user.password } })).status).toBe(200)
  })
})
