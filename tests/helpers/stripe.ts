import { randomInt } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Stripe from 'stripe'

export type StripeTestRequest = {
  method: string
  /** Without the query string. */
  path: string
  /** The form body (or, for GET and DELETE, the query) with bracket keys nested: `a[b][0]=x` → `{ a: { b: ['x'] } }`. Values stay strings, as sent. */
  body: Record<string, unknown>
  /** Lower-case names, as Node gives them. */
  headers: IncomingHttpHeaders
  /** Note the SDK sends one on every POST (`stripe-node-retry-<uuid>`) unless the caller gives its own. */
  idempotencyKey?: string
  stripeAccount?: string
}

export type StripeTestServer = {
  url: string
  host: string
  port: number
  protocol: 'http'
  /** Every request received, in order, including ones answered with an error. */
  requests: StripeTestRequest[]
  /** Objects created so far, by id. Tests may edit them (say, to mark a session paid). */
  sessions: Map<string, Record<string, unknown>>
  accounts: Map<string, Record<string, unknown>>
  refunds: Map<string, Record<string, unknown>>
  /** The next `count` requests are handled at once but answered only after `ms` (to make the SDK time out). */
  delayNext(ms: number, count?: number): void
  /** The next `count` requests answer with this HTTP status and a Stripe error body, and do nothing else. */
  failNext(status: number, count?: number): void
  /** Marks an account as able to take charges and payouts, as Stripe does when onboarding finishes. */
  enableAccount(id: string): Record<string, unknown>
  /** The buyer paid this session: it is complete and paid, with a payment intent. Returns it, as a `checkout.session.*` event carries it. */
  paySession(id: string, options?: { paymentIntent?: string }): Record<string, unknown>
  /**
   * A session of a Payment Link on the platform account, paid: the payer chose the amount's
   * link and set `client_reference_id` in its URL (Stripe lets them); metadata is the link's.
   */
  paidPaymentLinkSession(options: { amount: number; currency: string; clientReferenceId?: string; metadata?: Record<string, string> }): Record<string, unknown>
  close(): Promise<void>
}

type Answer = { status: number; headers: Record<string, string>; body: string }
type StripeErrorBody = { type: string; message: string; code?: string; param?: string }

/** What Stripe keeps for an idempotency key: the answer, and what it was an answer to. */
type IdempotentResult = { path: string; fingerprint: string; answer: Answer }

/** A bad request in the Stripe error shape; handlers throw it and the server answers it. */
class StripeFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: StripeErrorBody,
  ) {
    super(error.message)
  }
}

const missing = (param: string) =>
  new StripeFailure(400, { type: 'invalid_request_error', code: 'parameter_missing', param, message: `Missing required param: ${param}.` })
const invalid = (param: string, message: string, code?: string) =>
  new StripeFailure(400, { type: 'invalid_request_error', param, message, ...(code ? { code } : {}) })
const noSuch = (what: string, id: string, param?: string) =>
  new StripeFailure(404, { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${what}: '${id}'`, ...(param ? { param } : {}) })

/**
 * A Stripe-compatible API on a free loopback port, for the calls the app makes (Checkout sessions,
 * Connect accounts and onboarding links, refunds), so tests can point the real `stripe` SDK at it.
 * It checks what Stripe checks on those calls and keeps idempotency keys the way Stripe does.
 */
export async function startStripeServer(): Promise<StripeTestServer> {
  const requests: StripeTestRequest[] = []
  const sessions = new Map<string, Record<string, unknown>>()
  const accounts = new Map<string, Record<string, unknown>>()
  const refunds = new Map<string, Record<string, unknown>>()
  // Keyed by connected account and key: Stripe scopes keys per account, not per endpoint.
  const idempotent = new Map<string, IdempotentResult>()
  const delays: { ms: number; count: number }[] = []
  const failures: { status: number; count: number }[] = []
  const timers = new Set<NodeJS.Timeout>()
  let url = ''

  /** Takes one use off the head of a queue set by delayNext or failNext. */
  const take = <T extends { count: number }>(queue: T[]): T | undefined => {
    const head = queue[0]
    if (!head) return undefined
    if (--head.count <= 0) queue.shift()
    return head
  }

  const routes: { method: string; pattern: RegExp; handle: (body: Record<string, unknown>, id: string) => Record<string, unknown> }[] = [
    { method: 'POST', pattern: /^\/v1\/checkout\/sessions$/, handle: (body) => createSession(body) },
    { method: 'GET', pattern: /^\/v1\/checkout\/sessions\/([^/]+)$/, handle: (_, id) => found(sessions, 'checkout.session', id) },
    { method: 'POST', pattern: /^\/v1\/accounts$/, handle: (body) => createAccount(body) },
    { method: 'GET', pattern: /^\/v1\/accounts\/([^/]+)$/, handle: (_, id) => found(accounts, 'account', id) },
    { method: 'POST', pattern: /^\/v1\/account_links$/, handle: (body) => createAccountLink(body) },
    { method: 'POST', pattern: /^\/v1\/refunds$/, handle: (body) => createRefund(body) },
  ]

  function found(objects: Map<string, Record<string, unknown>>, what: string, id: string) {
    const object = objects.get(id)
    if (!object) throw noSuch(what, id, 'id')
    return object
  }

  function createSession(body: Record<string, unknown>) {
    const mode = body.mode
    if (mode === undefined) throw missing('mode')
    if (mode !== 'payment' && mode !== 'setup' && mode !== 'subscription') {
      throw invalid('mode', 'Invalid mode: must be one of payment, setup, or subscription')
    }
    if (!body.success_url) throw missing('success_url')
    const lineItems = body.line_items
    if (!Array.isArray(lineItems) || lineItems.length === 0) throw missing('line_items')
    let amountTotal = 0
    let currency: string | undefined
    lineItems.forEach((item: unknown, index) => {
      const param = `line_items[${index}]`
      const priceData = record(record(item).price_data)
      if (!priceData.currency) throw missing(`${param}[price_data][currency]`)
      const itemCurrency = String(priceData.currency).toLowerCase()
      if (currency && itemCurrency !== currency) throw invalid(`${param}[price_data][currency]`, 'All line items must use the same currency.')
      currency = itemCurrency
      if (priceData.unit_amount === undefined) throw missing(`${param}[price_data][unit_amount]`)
      const unitAmount = integer(priceData.unit_amount, `${param}[price_data][unit_amount]`)
      if (unitAmount <= 0) throw invalid(`${param}[price_data][unit_amount]`, 'This value must be greater than 0.')
      // Stripe wants an explicit quantity on every Checkout line item.
      if (record(item).quantity === undefined) throw missing(`${param}[quantity]`)
      const quantity = integer(record(item).quantity, `${param}[quantity]`)
      if (quantity <= 0) throw invalid(`${param}[quantity]`, 'This value must be greater than 0.')
      amountTotal += unitAmount * quantity
    })
    let paymentIntentData = body.payment_intent_data === undefined ? undefined : record(body.payment_intent_data)
    if (paymentIntentData) {
      checkDestinationCharge(paymentIntentData, amountTotal)
      // Echoed as given, but with the fee as the integer Stripe objects carry rather than the form's string.
      const fee = paymentIntentData.application_fee_amount
      if (fee !== undefined) paymentIntentData = { ...paymentIntentData, application_fee_amount: Number(fee) }
    }
    const id = `cs_test_${randomId(58)}`
    const now = unixNow()
    const session: Record<string, unknown> = {
      id,
      object: 'checkout.session',
      url: `${url}/pay/${id}`,
      status: 'open',
      payment_status: 'unpaid',
      mode,
      amount_subtotal: amountTotal,
      amount_total: amountTotal,
      currency,
      client_reference_id: body.client_reference_id ?? null,
      customer_email: body.customer_email ?? null,
      metadata: body.metadata ?? {},
      payment_intent: null,
      success_url: body.success_url,
      cancel_url: body.cancel_url ?? null,
      expires_at: now + 24 * 60 * 60,
      created: now,
      livemode: false,
      ...(paymentIntentData ? { payment_intent_data: paymentIntentData } : {}),
    }
    sessions.set(id, session)
    return session
  }

  /** A destination charge needs a fee no larger than the amount, and a connected account that can receive transfers. */
  function checkDestinationCharge(data: Record<string, unknown>, amountTotal: number) {
    if (data.application_fee_amount !== undefined) {
      const fee = integer(data.application_fee_amount, 'payment_intent_data[application_fee_amount]')
      if (fee < 0 || fee > amountTotal) {
        throw invalid('payment_intent_data[application_fee_amount]', 'The application fee amount must not be negative or exceed the amount of the payment.')
      }
    }
    if (data.transfer_data === undefined) return
    const param = 'payment_intent_data[transfer_data][destination]'
    const destination = record(data.transfer_data).destination
    if (!destination) throw missing(param)
    const account = accounts.get(String(destination))
    if (!account) throw invalid(param, `No such destination: '${String(destination)}'`, 'resource_missing')
    if (record(account.capabilities).transfers !== 'active') {
      throw invalid(
        param,
        'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments',
        'insufficient_capabilities_for_transfer',
      )
    }
  }

  function createAccount(body: Record<string, unknown>) {
    const type = body.type ?? 'standard'
    if (type !== 'standard' && type !== 'express' && type !== 'custom') {
      throw invalid('type', 'Invalid type: must be one of standard, express, or custom')
    }
    const id = `acct_${randomId(16)}`
    // Requested capabilities start inactive; enableAccount turns them (and the usual two) on.
    const capabilities = Object.fromEntries(Object.keys(record(body.capabilities)).map((name) => [name, 'inactive']))
    const account: Record<string, unknown> = {
      id,
      object: 'account',
      type,
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      capabilities,
      metadata: body.metadata ?? {},
      country: body.country ?? 'US',
      email: body.email ?? null,
      created: unixNow(),
    }
    accounts.set(id, account)
    return account
  }

  function createAccountLink(body: Record<string, unknown>) {
    for (const param of ['account', 'refresh_url', 'return_url', 'type']) if (!body[param]) throw missing(param)
    if (body.type !== 'account_onboarding' && body.type !== 'account_update') {
      throw invalid('type', 'Invalid type: must be one of account_onboarding or account_update')
    }
    const account = String(body.account)
    if (!accounts.has(account)) throw noSuch('account', account, 'account')
    const now = unixNow()
    return { object: 'account_link', url: `${url}/onboard/${account}`, created: now, expires_at: now + 300 }
  }

  function createRefund(body: Record<string, unknown>) {
    if (!body.payment_intent && !body.charge) throw invalid('payment_intent', 'One of the following params should be provided for this request: payment_intent or charge.')
    // Without an amount Stripe refunds the whole payment; a session a test marked paid with this payment_intent knows it.
    const paid = [...sessions.values()].find((session) => body.payment_intent && session.payment_intent === body.payment_intent)
    const amount = body.amount === undefined ? (paid?.amount_total ?? null) : integer(body.amount, 'amount')
    const id = `re_${randomId(24)}`
    const refund: Record<string, unknown> = {
      id,
      object: 'refund',
      amount,
      currency: paid?.currency ?? null,
      status: 'succeeded',
      payment_intent: body.payment_intent ?? null,
      charge: body.charge ?? null,
      reason: body.reason ?? null,
      metadata: body.metadata ?? {},
      created: unixNow(),
    }
    refunds.set(id, refund)
    return refund
  }

  /** Decides the answer to one request; any delay is applied after, so the work is done even if the client gives up. */
  function answer(request: StripeTestRequest, authorization: string | undefined): Answer {
    const failure = take(failures)
    if (failure) return errorAnswer(failure.status, simulatedFailure(failure.status))
    if (!request.path.startsWith('/v1/')) return errorAnswer(404, unrecognized(request))
    if (!authorization?.startsWith('Bearer sk_')) {
      return errorAnswer(401, { type: 'invalid_request_error', message: 'Invalid API Key provided' })
    }
    const key = request.method === 'POST' ? request.idempotencyKey : undefined
    const scope = `${request.stripeAccount ?? ''}\n${key}`
    const fingerprint = canonical(request.body)
    const earlier = key === undefined ? undefined : idempotent.get(scope)
    if (earlier) {
      if (earlier.path !== request.path) {
        return errorAnswer(400, {
          type: 'idempotency_error',
          message: `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${request.path}' vs '${earlier.path}'). Try using a key other than '${key}' if you meant to execute a different request.`,
        })
      }
      if (earlier.fingerprint !== fingerprint) {
        return errorAnswer(400, {
          type: 'idempotency_error',
          message: 'Keys for idempotent requests can only be used with the same parameters they were first used with.',
        })
      }
      return { ...earlier.answer, headers: { ...earlier.answer.headers, 'Idempotent-Replayed': 'true' } }
    }
    for (const route of routes) {
      const match = route.method === request.method ? route.pattern.exec(request.path) : null
      if (!match) continue
      let result: Answer
      try {
        result = jsonAnswer(200, route.handle(request.body, decodeURIComponent(match[1] ?? '')))
      } catch (error) {
        // Stripe keeps no result for a request that failed validation: the key may be used again.
        if (error instanceof StripeFailure) return errorAnswer(error.status, error.error)
        throw error
      }
      if (key !== undefined) idempotent.set(scope, { path: request.path, fingerprint, answer: result })
      return result
    }
    return errorAnswer(404, unrecognized(request))
  }

  const server = createServer((req, res) => {
    readBody(req).then(
      (raw) => {
        const address = new URL(req.url ?? '/', 'http://127.0.0.1')
        const method = req.method ?? 'GET'
        const request: StripeTestRequest = {
          method,
          path: address.pathname,
          body: parseForm(method === 'GET' || method === 'DELETE' ? address.searchParams : new URLSearchParams(raw)),
          headers: req.headers,
          ...optional('idempotencyKey', header(req.headers['idempotency-key'])),
          ...optional('stripeAccount', header(req.headers['stripe-account'])),
        }
        requests.push(request)
        const delay = take(delays)
        let result: Answer
        try {
          result = answer(request, header(req.headers.authorization))
        } catch (error) {
          result = errorAnswer(500, { type: 'api_error', message: `Test server failure: ${error instanceof Error ? error.message : String(error)}` })
        }
        if (request.stripeAccount) result = { ...result, headers: { ...result.headers, 'Stripe-Account': request.stripeAccount } }
        if (!delay) return send(res, result)
        const timer = setTimeout(() => {
          timers.delete(timer)
          send(res, result)
        }, delay.ms)
        timers.add(timer)
      },
      () => res.destroy(),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  url = `http://127.0.0.1:${port}`

  return {
    url,
    host: '127.0.0.1',
    port,
    protocol: 'http',
    requests,
    sessions,
    accounts,
    refunds,
    delayNext(ms, count = 1) {
      delays.push({ ms, count })
    },
    failNext(status, count = 1) {
      failures.push({ status, count })
    },
    enableAccount(id) {
      const account = accounts.get(id)
      if (!account) throw new Error(`No such account in the Stripe test server: ${id}`)
      Object.assign(account, {
        charges_enabled: true,
        payouts_enabled: true,
        details_submitted: true,
        capabilities: { ...record(account.capabilities), card_payments: 'active', transfers: 'active' },
      })
      return account
    },
    paySession(id, options = {}) {
      const session = sessions.get(id)
      if (!session) throw new Error(`No such session in the Stripe test server: ${id}`)
      Object.assign(session, { status: 'complete', payment_status: 'paid', payment_intent: options.paymentIntent ?? `pi_${randomId(24)}` })
      return { ...session }
    },
    paidPaymentLinkSession(options) {
      const id = `cs_test_${randomId(58)}`
      const now = unixNow()
      const session: Record<string, unknown> = {
        id,
        object: 'checkout.session',
        url: null,
        status: 'complete',
        payment_status: 'paid',
        mode: 'payment',
        payment_link: `plink_${randomId(24)}`,
        amount_subtotal: options.amount,
        amount_total: options.amount,
        currency: options.currency.toLowerCase(),
        client_reference_id: options.clientReferenceId ?? null,
        customer_email: null,
        metadata: options.metadata ?? {},
        payment_intent: `pi_${randomId(24)}`,
        expires_at: now + 24 * 60 * 60,
        created: now,
        livemode: false,
      }
      sessions.set(id, session)
      return { ...session }
    },
    async close() {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
      server.closeAllConnections()
      await closed
    },
  }
}

/** A Stripe client pointed at the server: no retries unless given, and a short timeout. */
export function stripeClientFor(server: StripeTestServer, options: { timeoutMs?: number; maxNetworkRetries?: number } = {}): Stripe {
  return new Stripe('sk_test_refinery', {
    host: server.host,
    port: server.port,
    protocol: server.protocol,
    maxNetworkRetries: options.maxNetworkRetries ?? 0,
    timeout: options.timeoutMs ?? 2_000,
    telemetry: false,
  })
}

/**
 * Turns form pairs into nested values the way Stripe reads them: `a[b][c]=x` is `{ a: { b: { c: 'x' } } }`,
 * a numeric segment makes an array (`line_items[0][quantity]`), and `a[]` appends.
 */
function parseForm(pairs: URLSearchParams): Record<string, unknown> {
  const result: Record<string, unknown> = {}
  for (const [name, value] of pairs) {
    const segments = name.match(/^[^[\]]+|\[[^[\]]*\]/g)?.map((segment) => segment.replace(/^\[|\]$/g, ''))
    if (!segments?.[0]) continue
    // Prototype keys would reach Object.prototype through plain objects.
    if (segments.some((segment) => segment === '__proto__' || segment === 'constructor' || segment === 'prototype')) continue
    let container: Record<string, unknown> | unknown[] = result
    for (const [index, segment] of segments.entries()) {
      const slots = container as Record<string | number, unknown>
      const slot = Array.isArray(container) ? (segment === '' ? container.length : Number(segment)) : segment
      if (Number.isNaN(slot)) break // a named key under an array: not something Stripe accepts either
      const next = segments[index + 1]
      if (next === undefined) {
        slots[slot] = value
        break
      }
      const existing = slots[slot]
      const child = typeof existing === 'object' && existing !== null ? existing : next === '' || /^\d+$/.test(next) ? [] : {}
      slots[slot] = child
      container = child as Record<string, unknown> | unknown[]
    }
  }
  return result
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function send(res: ServerResponse, answer: Answer) {
  // The client may have given up (an SDK timeout destroys the socket); the work is done regardless.
  if (res.destroyed || res.writableEnded) return
  res.writeHead(answer.status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(answer.body),
    'Request-Id': `req_${randomId(14)}`,
    ...answer.headers,
  })
  res.end(answer.body)
}

const jsonAnswer = (status: number, body: unknown): Answer => ({ status, headers: {}, body: JSON.stringify(body) })
const errorAnswer = (status: number, error: StripeErrorBody): Answer => jsonAnswer(status, { error })

function simulatedFailure(status: number): StripeErrorBody {
  const message = `Simulated ${status} from the Stripe test server.`
  if (status >= 500) return { type: 'api_error', message }
  if (status === 402) return { type: 'card_error', code: 'card_declined', message }
  if (status === 429) return { type: 'invalid_request_error', code: 'rate_limit', message }
  return { type: 'invalid_request_error', message }
}

const unrecognized = (request: StripeTestRequest): StripeErrorBody => ({
  type: 'invalid_request_error',
  message: `Unrecognized request URL (${request.method}: ${request.path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
})

/** The same parameters in any order give the same string, so a replay is recognised whatever order the caller built them in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonical(inner)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

function integer(value: unknown, param: string): number {
  if (typeof value !== 'string' || !/^-?\d+$/.test(value)) throw invalid(param, 'Invalid integer: ' + String(value), 'parameter_invalid_integer')
  return Number(value)
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {}

const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value)

/** `{ [name]: value }` when there is a value, so optional fields stay absent rather than undefined. */
const optional = <K extends string>(name: K, value: string | undefined) => (value === undefined ? {} : ({ [name]: value } as { [P in K]: string }))

const unixNow = () => Math.floor(Date.now() / 1000)

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const randomId = (length: number) => Array.from({ length }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')

/** A Stripe event as Stripe delivers it to our webhook: the JSON body and its signature header. */
export function signedStripeEvent(type: string, object: Record<string, unknown>, options: { secret: string; id?: string }) {
  const id = options.id ?? `evt_${crypto.randomUUID()}`
  const body = JSON.stringify({ id, object: 'event', type, api_version: '2025-01-01', created: Math.floor(Date.now() / 1000), livemode: false, data: { object } })
  const signature = new Stripe('sk_test_signer').webhooks.generateTestHeaderString({ payload: body, secret: options.secret })
  return { id, body, headers: { 'Stripe-Signature': signature } }
}
