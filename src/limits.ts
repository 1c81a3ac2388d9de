import type { Config } from './config'
import { ConfigError } from './config'
import type { Database } from './db/types'
import type { Deps } from './lib/context'
import { createRateLimiter, type RateLimiter } from './lib/rate-limit'
import { createBindingRateLimiter, isRateLimitBinding } from './lib/rate-limit-binding'
import { createPostgresRateLimiter } from './lib/rate-limit-postgres'

/**
 * Every limit the app enforces: the setting that sizes it (0 turns it off), its window, and on
 * Workers the Rate Limiting binding that carries it (wrangler.toml `[[ratelimits]]`, period 60).
 * Windows a binding cannot express (an hour) have no binding and count in Postgres.
 */
export const LIMITS = [
  { dep: 'rateLimiter', name: 'downloads', setting: 'DOWNLOAD_RATE_PER_MINUTE', windowSeconds: 60, binding: 'DOWNLOAD_RATE_LIMITER' },
  { dep: 'loginLimiter', name: 'login-account', setting: 'LOGIN_ATTEMPTS_PER_MINUTE', windowSeconds: 60, binding: 'LOGIN_ACCOUNT_RATE_LIMITER' },
  { dep: 'loginAddressLimiter', name: 'login-address', setting: 'LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE', windowSeconds: 60, binding: 'LOGIN_ADDRESS_RATE_LIMITER' },
  { dep: 'loginGlobalLimiter', name: 'login-global', setting: 'LOGIN_ATTEMPTS_GLOBAL_PER_MINUTE', windowSeconds: 60, binding: 'LOGIN_GLOBAL_RATE_LIMITER' },
  { dep: 'signupAddressLimiter', name: 'signup-address', setting: 'SIGNUPS_PER_ADDRESS_PER_HOUR', windowSeconds: 3600, binding: undefined },
  { dep: 'signupGlobalLimiter', name: 'signup-global', setting: 'SIGNUPS_GLOBAL_PER_MINUTE', windowSeconds: 60, binding: 'SIGNUP_GLOBAL_RATE_LIMITER' },
  { dep: 'baseModelLimiter', name: 'base-model-registrations', setting: 'BASE_MODEL_REGISTRATIONS_PER_HOUR', windowSeconds: 3600, binding: undefined },
  { dep: 'fingerprintCheckLimiter', name: 'fingerprint-checks', setting: 'FINGERPRINT_CHECKS_PER_HOUR', windowSeconds: 3600, binding: undefined },
] as const satisfies readonly { dep: keyof Deps; name: string; setting: keyof Config; windowSeconds: number; binding: string | undefined }[]

type Limit = (typeof LIMITS)[number]
export type Limiters = { [L in Limit as L['dep']]?: RateLimiter }
export type LimitSettings = Pick<Config, Limit['setting'] | 'RATE_LIMIT_BACKEND'>

/**
 * Where the counts live, per platform:
 * - `node`: RATE_LIMIT_BACKEND, `memory` (default: one process) or `postgres` (several processes
 *   sharing the database).
 * - `workers`: the limit's binding when `env` has it, Postgres otherwise; RATE_LIMIT_BACKEND=postgres
 *   puts every limit in Postgres (exact, all locations together). Never memory: an isolate's
 *   counts would limit nothing.
 * `db` returns the database to count in, called on every event (per request on Workers).
 */
export type LimitPlatform =
  | { kind: 'node'; db: () => Database; clock: () => Date }
  | { kind: 'workers'; env: Record<string, unknown>; db: () => Database; clock: () => Date }

/** All the limiters the configuration asks for, on the backend the platform provides. */
export function createLimiters(config: LimitSettings, platform: LimitPlatform): Limiters {
  if (platform.kind === 'workers' && config.RATE_LIMIT_BACKEND === 'memory') {
    throw new ConfigError('RATE_LIMIT_BACKEND: memory counts per isolate on Workers and limits nothing; leave it unset (bindings, then Postgres) or set postgres')
  }
  const backend = config.RATE_LIMIT_BACKEND ?? (platform.kind === 'node' ? 'memory' : undefined)
  const limiters: Limiters = {}
  for (const limit of LIMITS) {
    const max = config[limit.setting]
    if (max <= 0) continue
    const binding = platform.kind === 'workers' && backend === undefined && limit.binding ? platform.env[limit.binding] : undefined
    limiters[limit.dep] = isRateLimitBinding(binding)
      ? createBindingRateLimiter(binding, { periodSeconds: limit.windowSeconds })
      : backend === 'memory'
        ? createRateLimiter({ limit: max, windowSeconds: limit.windowSeconds, clock: platform.clock })
        : createPostgresRateLimiter(platform.db, { name: limit.name, limit: max, windowSeconds: limit.windowSeconds, clock: platform.clock })
  }
  return limiters
}
