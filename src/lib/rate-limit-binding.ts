import { sha256Hex } from './crypto'
import type { RateLimiter } from './rate-limit'

/** A Workers Rate Limiting binding (`[[ratelimits]]` in wrangler.toml), as workerd hands it over. */
export type RateLimitBinding = { limit(options: { key: string }): Promise<{ success: boolean }> }

export const isRateLimitBinding = (value: unknown): value is RateLimitBinding =>
  typeof value === 'object' && value !== null && typeof (value as { limit?: unknown }).limit === 'function'

/**
 * A limiter backed by a Workers Rate Limiting binding. The binding holds the limit and the
 * period (wrangler.toml's `simple = { limit, period }`; 10 or 60 s), counts per Cloudflare
 * location and is eventually consistent (Cloudflare: "permissive… not an accurate accounting
 * system"). It says only whether the event is admitted, so a refusal asks for a whole period.
 * Keys are hashed: bounded in length, and no email leaves the Worker as a counter name.
 */
export function createBindingRateLimiter(binding: RateLimitBinding, options: { periodSeconds: number }): RateLimiter {
  return {
    async take(key) {
      const { success } = await binding.limit({ key: await sha256Hex(key) })
      return success ? undefined : { retryAfterSeconds: options.periodSeconds }
    },
  }
}
