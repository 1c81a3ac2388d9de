import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Stripe from 'stripe'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPayments } from '../../src/commerce/stripe'
import { peftFolder, publishFolder } from '../helpers/adapters'
import { runCli } from '../helpers/cli'
import { createHarness, type Harness } from '../helpers/harness'
import { startStripeServer, type StripeTestServer } from '../helpers/stripe'

const WEBHOOK_SECRET = 'whsec_test_cli'
const API = 'http://localhost:8787'

describe('refinery login, adapter/offer create, search and buy', () => {
  let h: Harness
  let stripe: StripeTestServer
  let dir: string
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  const as = (token: string) => ({ env: { REFINERY_URL: API, REFINERY_API_KEY: token, REFINERY_CONFIG_DIR: join(dir, 'unused') }, fetch: h.network })

  beforeAll(async () => {
    stripe = await startStripeServer()
    h = await createHarness({
      payments: createPayments({ secretKey: 'sk_test_cli', webhookSecret: WEBHOOK_SECRET, apiUrl: stripe.url, feeBps: 1000, timeoutMs: 2000 }),
    })
    dir = await mkdtemp(join(tmpdir(), 'refinery-market-'))
    seller = await h.teamOwner('cli-market')
    // Payouts enabled the way Stripe does it: onboarding, then a signed account.updated.
    const onboarding = await h.call('POST', `/v1/teams/${seller.team}/payouts/onboarding`, { auth: seller.token })
    const payload = JSON.stringify({ id: 'evt_cli_account', object: 'event', type: 'account.updated', data: { object: stripe.enableAccount(onboarding.json.accountId) } })
    const signature = new Stripe('sk_test_signer').webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET })
    expect((await h.call('POST', '/v1/stripe/webhook', { body: payload, headers: { 'Stripe-Signature': signature } })).status).toBe(200)
    await h.idle() // the job queue applies it
  })
  afterAll(async () => {
    await h.close()
    await stripe.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('login stores a key read from standard input (0600); a bad key is refused and nothing is stored', async () => {
    const key = (await h.call('POST', '/v1/api-keys', { auth: seller.token, body: { name: 'cli', scopes: ['read', 'publish', 'admin'] } })).json.key as string
    const env = { REFINERY_CONFIG_DIR: join(dir, 'login') }
    const bad = await runCli(['login', '--url', API], { env, fetch: h.network, stdin: `rfy_${'A'.repeat(43)}\n` })
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('(invalid_api_key)') })
    await expect(stat(join(dir, 'login', 'credentials.json'))).rejects.toThrow()

    const good = await runCli(['login', '--url', API], { env, fetch: h.network, stdin: `${key}\n` })
    expect(good).toMatchObject({ code: 0, stdout: expect.stringContaining(`✔ logged in to ${API} as ${seller.email}`) })
    expect((await stat(join(dir, 'login', 'credentials.json'))).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'login'))).mode & 0o777).toBe(0o700)
    expect(JSON.parse(await readFile(join(dir, 'login', 'credentials.json'), 'utf8'))).toEqual({ url: API, token: key, email: seller.email })

    // The stored key is used; REFINERY_API_KEY overrides it.
    expect(await runCli(['team', 'create', `${seller.team}-two`], { env, fetch: h.network })).toMatchObject({ stderr: '', code: 0 })
    const overridden = await runCli(['team', 'create', `${seller.team}-three`], { env: { ...env, REFINERY_API_KEY: 'rfy_not-a-key' }, fetch: h.network })
    expect(overridden).toMatchObject({ code: 2, stderr: expect.stringContaining('(invalid_api_key)') })
    expect(await runCli(['logout'], { env, fetch: h.network })).toMatchObject({ code: 0, stdout: `✔ logged out of ${API}\n` })
    expect(await runCli(['logout'], { env, fetch: h.network })).toMatchObject({ code: 0, stdout: 'Not logged in.\n' })
  })

  it('creates a listing and its offers, finds it, and buys each kind of offer', async () => {
    const readme = join(dir, 'README.md')
    await writeFile(readme, '# Contract law\n\nAnswers questions about **contract law**.\n')
    const created = await runCli(
      ['adapter', 'create', `${seller.team}/contracts`, '--title', 'Contract law assistant', '--summary', 'Chinese contract law', '--description', readme,
        '--license', 'Apache-2.0', '--commercial', '--derivatives', '--task', 'chat,qa', '--domain', 'legal', '--language', 'zh,en', '--visibility', 'published'],
      as(seller.token),
    )
    expect(created).toMatchObject({ code: 0, stdout: expect.stringContaining(`✔ ${seller.team}/contracts created (published)`) })
    const listing = await h.call('GET', `/v1/adapters/${seller.team}/contracts`)
    expect(listing.json).toMatchObject({
      description: expect.stringContaining('**contract law**'),
      tags: { task: ['chat', 'qa'], domain: ['legal'], language: ['zh', 'en'] },
      license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true },
    })
    await publishFolder(h, seller, 'contracts', '1.0.0', peftFolder({ base: 'mistralai/Mistral-7B-v0.1' }), { baseModel: 'mistralai/Mistral-7B-v0.1', publish: true })

    const paid = await runCli(['offer', 'create', `${seller.team}/contracts`, '--price', '49.90', '--currency', 'usd', '--license', 'commercial'], as(seller.token))
    expect(paid).toMatchObject({ code: 0, stdout: expect.stringContaining(': one_time $49.90, commercial licence') })
    const onRequest = await runCli(['offer', 'create', `${seller.team}/contracts`, '--on-request', '--license', 'research'], as(seller.token))
    expect(onRequest.code).toBe(0)
    expect(await runCli(['offer', 'create', `${seller.team}/contracts`, '--free', '--price', '1', '--license', 'research'], as(seller.token))).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('Choose one'),
    })
    expect(await runCli(['offer', 'create', `${seller.team}/contracts`, '--price', '4,90', '--license', 'research'], as(seller.token))).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('give an amount like 49 or 49.90'),
    })
    const offers = (await h.call('GET', `/v1/adapters/${seller.team}/contracts/offers`)).json.items as { id: string; kind: string; amount: number | null }[]
    expect(offers.map((offer) => [offer.kind, offer.amount]).sort()).toEqual([['on_request', null], ['one_time', 4990]])

    const buyer = await h.user('cli-buyer')
    const found = await runCli(['search', 'contract', '--base', 'mistralai/Mistral-7B-v0.1', '--max-price', '50', '--currency', 'usd'], as(buyer.token))
    expect(found.stdout).toContain(`${seller.team}/contracts@1.0.0  Contract law assistant`)
    expect(found.stdout).toMatch(/0 downloads · no reviews · Apache-2.0\n\s+fits .*mistralai\/Mistral-7B-v0\.1/)
    expect((await runCli(['search', 'contract', '--max-price', '40.00', '--currency', 'usd'], as(buyer.token))).stdout).not.toContain('/contracts@')
    // One convention for every price flag: the currency's major unit, never cents.
    expect(await runCli(['search', 'contract', '--max-price', '4990c'], as(buyer.token))).toMatchObject({ code: 2, stderr: expect.stringContaining('not cents') })
    const bad = await runCli(['search', '--sort', 'cheapest'], as(buyer.token))
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/^error: .*\(validation_failed\)/) })

    const choose = await runCli(['buy', `${seller.team}/contracts`], as(buyer.token))
    expect(choose.code).toBe(2)
    for (const offer of offers) expect(choose.stderr).toContain(`--offer ${offer.id}`)

    const paidOffer = offers.find((offer) => offer.kind === 'one_time')!
    const checkout = await runCli(['buy', `${seller.team}/contracts`, '--offer', paidOffer.id], as(buyer.token))
    expect(checkout.code).toBe(0)
    expect(checkout.stdout).toMatch(new RegExp(`^Pay \\$49\\.90 for ${seller.team}/contracts \\(commercial licence\\) at:\\n${stripe.url.replace(/[.]/g, '\\.')}\\S+\\n$`))

    const requestOffer = offers.find((offer) => offer.kind === 'on_request')!
    expect(await runCli(['buy', `${seller.team}/contracts`, '--offer', requestOffer.id], as(buyer.token))).toMatchObject({ code: 2, stderr: expect.stringContaining('--message') })
    const requested = await runCli(['buy', `${seller.team}/contracts`, '--offer', requestOffer.id, '--message', 'A law school research group.'], as(buyer.token))
    expect(requested).toMatchObject({ code: 0, stdout: expect.stringContaining('access requested (pending)') })
    const pending = await h.call('GET', `/v1/teams/${seller.team}/access-requests`, { auth: seller.token })
    expect(pending.json.items).toHaveLength(1)
  })

  it('lists, reprices, withdraws and restores an offer', async () => {
    await h.call('POST', '/v1/adapters', {
      auth: seller.token,
      body: { team: seller.team, slug: 'priced', title: 'Priced', visibility: 'published', license: { spdx: 'MIT', commercialUse: true, derivatives: true } },
    })
    const ref = `${seller.team}/priced`
    const created = await runCli(['offer', 'create', ref, '--price', '49.00', '--currency', 'usd', '--license', 'commercial'], as(seller.token))
    const id = /offer ([0-9a-f-]{36})/.exec(created.stdout)![1]!
    expect(await runCli(['offer', 'create', ref, '--price', '49', '--currency', 'usd', '--license', 'commercial'], as(seller.token))).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('(offer_exists)'),
    })
    const repriced = await runCli(['offer', 'update', ref, id, '--price', '59.90'], as(seller.token))
    expect(repriced).toMatchObject({ code: 0, stdout: expect.stringContaining('$59.90, commercial licence; licences already granted stay') })
    expect((await runCli(['offer', 'update', ref, id, '--withdraw'], as(seller.token))).stdout).toContain('(withdrawn)')
    expect((await runCli(['offer', 'list', ref], as(seller.token))).stdout).toContain(`${id}: one_time $59.90, commercial licence (withdrawn)`)
    const buyer = await h.user('offer-list-buyer')
    expect((await runCli(['offer', 'list', ref], as(buyer.token))).stdout).toBe(`${ref} has no offers.\n`)
    expect((await runCli(['offer', 'update', ref, id, '--restore'], as(seller.token))).code).toBe(0)
    expect((await runCli(['offer', 'list', ref], as(buyer.token))).stdout).toContain(`${id}: one_time $59.90`)
    expect(await runCli(['offer', 'update', ref, id], as(seller.token))).toMatchObject({ code: 2, stderr: expect.stringContaining('--withdraw or --restore') })
  })

  it('names --url in the connection error when --url set the address, REFINERY_URL when it did', async () => {
    const refused = (async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })
    }) as typeof fetch
    const env = { REFINERY_CONFIG_DIR: join(dir, 'offline') }
    const viaFlag = await runCli(['login', '--url', 'http://127.0.0.1:9', '--api-key', 'rfy_x'], { env, fetch: refused })
    expect(viaFlag).toMatchObject({ code: 2, stderr: expect.stringContaining('is --url right') })
    const viaEnv = await runCli(['search', 'x'], { env: { ...env, REFINERY_URL: 'http://127.0.0.1:9' }, fetch: refused })
    expect(viaEnv).toMatchObject({ code: 2, stderr: expect.stringContaining('is REFINERY_URL right') })
  })
})
