import { ApiError } from './errors'

/**
 * A per-key limit of events per window. Asynchronous, so a backend may keep its counts outside
 * the process (the Workers backend); every limit in the app goes through this interface.
 */
export type RateLimiter = {
  /** Counts one event for `key`; over the limit, says how long to wait instead. */
  take(key: string): Promise<{ retryAfterSeconds: number } | undefined>
}

/** `limit` events per fixed window, in memory: per process (or Worker isolate). */
export function createRateLimiter(options: { limit: number; windowSeconds: number; clock?: () => Date }): RateLimiter {
  const now = () => (options.clock ? options.clock().getTime() : Date.now())
  const windowMs = options.windowSeconds * 1000
  const windows = new Map<string, { start: number; count: number }>()
  return {
    async take(key) {
      const at = now()
      let window = windows.get(key)
      if (!window || at - window.start >= windowMs) {
        if (windows.size > 10_000) for (const [k, w] of windows) if (at - w.start >= windowMs) windows.delete(k)
        window = { start: at, count: 0 }
        windows.set(key, window)
      }
      window.count += 1
      if (window.count <= options.limit) return undefined
      return { retryAfterSeconds: Math.max(1, Math.ceil((window.start + windowMs - at) / 1000)) }
    },
  }
}

/** Counts one event for `key` on `limiter` (none: unlimited); over the limit, a 429 problem with Retry-After. */
export async function enforceRateLimit(limiter: RateLimiter | undefined, key: string, what: string) {
  const limited = await limiter?.take(key)
  if (!limited) return
  throw new ApiError('rate_limited', `Too many ${what}; try again in ${limited.retryAfterSeconds} s.`, {
    headers: { 'Retry-After': String(limited.retryAfterSeconds) },
  })
}
