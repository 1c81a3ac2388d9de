import Stripe from 'stripe'
import type { Payments } from './payments'

// The Stripe SDK lives here alone: the Node server imports this module only when payments are configured.

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
