import type Stripe from 'stripe'
import { ApiError } from '../lib/errors'

/** Stripe, as the app uses it: the client, the webhook secret and the platform's cut (built by ./stripe). */
export type Payments = {
  stripe: Stripe
  webhookSecret: string | undefined
  /** Platform fee in basis points of each paid order (1000 = 10%). */
  feeBps: number
  /** Web Crypto verifier for webhook signatures: the same code runs on Node and in workerd. */
  crypto: Stripe.CryptoProvider
}

export function requirePayments(payments: Payments | undefined): Payments {
  if (!payments) {
    throw new ApiError('payments_not_configured', 'Payments are not configured on this server (STRIPE_SECRET_KEY); free and on-request offers still work.')
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
  // Checked by its type name, so this module does not load the SDK (see ./stripe).
  if (error instanceof Error && (error as { type?: unknown }).type === 'StripeInvalidRequestError') {
    return new ApiError('payment_rejected', `Stripe refused the request: ${error.message}`)
  }
  return new ApiError('payments_unavailable', 'Stripe did not answer in time; nothing was charged. Try again: the same order is reused.', {
    headers: { 'Retry-After': '5' },
  })
}
