import Stripe from 'stripe'
import { ApiError } from '../lib/errors'

/** Stripe, as the app uses it: the client, the webhook secret and the platform's cut. */
export type Payments = {
  stripe: Stripe
  webhookSecret: string | undefined
  /** Platform fee in basis points of each paid order (1000 = 10%). */
  feeBps: number
  /** Web Crypto verifier for webhook signatures: the same code runs on Node and in workerd. */
  crypto: Stripe.CryptoProvider
}

export type PaymentsConfig = {
  secretKey: string
  webhookSecret?: string
  /** Another Stripe-compatible host (tests); Stripe's own otherwise. */
  apiUrl?: string
  feeBps: number
  /** On Workers, requests go through fetch. */
  fetch?: boolean
  timeoutMs?: number
}

export function createPayments(config: PaymentsConfig): Payments {
  const url = config.apiUrl ? new URL(config.apiUrl) : undefined
  const stripe = new Stripe(config.secretKey, {
    ...(url && {
      host: url.hostname,
      port: url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80,
      protocol: url.protocol === 'http:' ? 'http' : 'https',
    }),
    ...(config.fetch && { httpClient: Stripe.createFetchHttpClient() }),
    // One request at a time, with our own idempotency keys: a retry is ours to make.
    maxNetworkRetries: 0,
    timeout: config.timeoutMs ?? 10_000,
    appInfo: { name: 'refinery' },
  })
  return { stripe, webhookSecret: config.webhookSecret, feeBps: config.feeBps, crypto: Stripe.createSubtleCryptoProvider() }
}

export function requirePayments(payments: Payments | undefined): Payments {
  if (!payments) {
    throw new ApiError(503, 'payments_not_configured', 'Payments are not configured on this server (STRIPE_SECRET_KEY); free and on-request offers still work.')
  }
  return payments
}

/** Runs a Stripe call; a failure becomes a problem the caller can act on, never a 500. */
export async function callStripe<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw stripeFailure(error)
  }
}

function stripeFailure(error: unknown): ApiError {
  if (error instanceof Stripe.errors.StripeError && error.type === 'StripeInvalidRequestError') {
    return new ApiError(422, 'payment_rejected', `Stripe refused the request: ${error.message}`)
  }
  return new ApiError(503, 'payments_unavailable', 'Stripe did not answer in time; nothing was charged. Try again: the same order is reused.', {
    headers: { 'Retry-After': '5' },
  })
}
