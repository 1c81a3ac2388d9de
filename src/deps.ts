import { createSearchCache } from './search/search-cache'
import { createRegistryCache } from './registry/registry-cache'
import { publicUrlOf, uploadLimitsOf, type Config } from './config'
import { createPasswordHasher, createTokenSigner } from './identity'
import type { Deps } from './lib/context'
import { createLimiters, type LimitPlatform } from './limits'

/**
 * What only the platform can provide: its database and object store, how background work runs,
 * how it learns the caller's address, the signing secret and its optional parts. Everything else
 * in `Deps` follows from the configuration, the same way on Node, on Workers and in the tests.
 */
export type PlatformParts = Pick<Deps, 'store' | 'clock'> &
  Partial<Pick<Deps, 'clientAddress' | 'payments' | 'docsAssets' | 'logger'>> & {
    /** Where the rate limits count; absent: per invocation (Workers, `createLimiters` per request). */
    limits?: LimitPlatform
    /** Signs access tokens (JWT_SECRET, or the data dir's generated secret on Node). */
    signingSecret: string
  }

/**
 * What lives as long as the process or isolate; the rest is I/O bound to where it runs: the
 * database clients, the download log and the job queue (per request on Workers).
 */
export type SharedDeps = Omit<Deps, 'db' | 'publicDb' | 'jobs' | 'downloadLog'>

/** The dependencies of one process or isolate, built once: caches and limiters outlive requests. */
export function buildDeps(config: Config, platform: PlatformParts): SharedDeps {
  const { signingSecret, limits: _limits, ...parts } = platform
  return {
    ...parts,
    tokens: createTokenSigner(signingSecret, platform.clock),
    passwords: createPasswordHasher(config.PASSWORD_ITERATIONS, { concurrency: config.PASSWORD_HASH_CONCURRENCY, maxWaiting: config.PASSWORD_HASH_QUEUE }),
    publicUrl: publicUrlOf(config),
    maxJsonBodyBytes: config.MAX_JSON_BODY_BYTES,
    downloadUrlTtlSeconds: config.DOWNLOAD_URL_TTL_SECONDS,
    uploadLimits: uploadLimitsOf(config),
    invitationTtlDays: config.INVITATION_TTL_DAYS,
    operators: config.OPERATOR_EMAILS,
    maxPendingBaseModels: config.MAX_PENDING_BASE_MODELS,
    ...(platform.limits && createLimiters(config, platform.limits)),
    // Writes through this process invalidate it; REGISTRY_CACHE_SECONDS bounds what it misses from others.
    ...(config.REGISTRY_CACHE_SECONDS > 0 && { registry: createRegistryCache({ revalidateSeconds: config.REGISTRY_CACHE_SECONDS }) }),
    ...(config.SEARCH_CACHE_SECONDS > 0 && { searchCache: createSearchCache({ ttlSeconds: config.SEARCH_CACHE_SECONDS }) }),
  }
}
