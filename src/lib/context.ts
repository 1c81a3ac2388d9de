import type { Context } from 'hono'
import type { SearchCache } from '../search/search-cache'
import type { RegistryCache } from '../registry/registry-cache'
import type { Payments } from '../commerce/payments'
import type { Database } from '../db/types'
import type { DownloadLog } from '../downloads/audit'
import type { RateLimiter } from './rate-limit'
import type { PasswordHasher } from '../identity/password'
import type { Principal } from '../identity/principal'
import type { TokenSigner } from '../identity/tokens'
import type { JobQueue } from './jobs'
import type { UploadLimits } from '../publishing/quotas'
import type { ObjectStore } from '../storage/types'

/** Everything a request may touch from outside the process; built by each entry, never global. */
export type Deps = {
  /** Postgres as it is now: every read that decides access or money, and every write. */
  db: Database
  /**
   * Where anonymous public reads may go (search, listing pages, base models): on Workers a
   * Hyperdrive binding that caches answers for up to a minute. Absent: `db`. Never for a
   * request with a caller (see `publicReadDb`).
   */
  publicDb?: Database
  tokens: TokenSigner
  passwords: PasswordHasher
  clock: () => Date
  /** Adapter files: S3 (presigned URLs) or the local folder served by the app. */
  store: ObjectStore
  /** Search answers kept for a few seconds; none in tests that need fresh results. */
  searchCache?: SearchCache
  /**
   * The verified base-model registry in memory, one per process/isolate (REGISTRY_CACHE_SECONDS);
   * without it, registry reads query Postgres each time.
   */
  registry?: RegistryCache
  /** Stripe, when STRIPE_SECRET_KEY is set; free and on-request offers work without it. */
  payments?: Payments
  /** How long a download URL works, in seconds (default 15 minutes). */
  downloadUrlTtlSeconds?: number
  /** Batches download audit rows; without it each download writes its row before answering. */
  downloadLog?: DownloadLog
  /** Per-user limit on downloads; none in tests that do not test it. */
  rateLimiter?: RateLimiter
  /** Per-email limit on login attempts; none in tests that do not test it. */
  loginLimiter?: RateLimiter
  /** Per-team storage quota, files per version, bytes per file (DEFAULT_UPLOAD_LIMITS when absent). */
  uploadLimits?: UploadLimits
  /** Login attempts per client address (`clientAddress`), and from everyone together (key `login`). */
  loginAddressLimiter?: RateLimiter
  loginGlobalLimiter?: RateLimiter
  /** Sign-ups per client address, and from everyone together (key `signup`). */
  signupAddressLimiter?: RateLimiter
  signupGlobalLimiter?: RateLimiter
  /**
   * The caller's network address, per platform: the socket's on Node (X-Forwarded-For only from
   * configured proxies), CF-Connecting-IP on Workers. Undefined: the address is unknown.
   */
  clientAddress?: (c: Context<AppEnv>) => string | undefined
  /** How long a team invitation stays open, in days (default 7). */
  invitationTtlDays?: number
  /** Platform operators' emails, lower-cased (OPERATOR_EMAILS); none: nobody is an operator. */
  operators?: readonly string[]
  /** Per-team limit on base-model registrations; none in tests that do not test it. */
  baseModelLimiter?: RateLimiter
  /** Per-user limit on fingerprint checks (`checkFingerprint` reads whole files); none in tests that do not test it. */
  fingerprintCheckLimiter?: RateLimiter
  /** How many registrations a team may have waiting for review (default 10). */
  maxPendingBaseModels?: number
  /** Background work: validation of uploaded versions. */
  jobs: JobQueue
  /** Where the API is reachable from outside, for links it hands out. */
  publicUrl: string
  /** Largest JSON body accepted, in bytes. */
  maxJsonBodyBytes?: number
  /** Self-hosted Swagger UI assets; without them /docs loads the UI from its CDN. */
  docsAssets?: { js: string; css: string }
  logger?: Pick<Console, 'error' | 'warn' | 'info'>
}

export type AppEnv = {
  Variables: {
    deps: Deps
    principal: Principal | null
    requestId: string
  }
}

/** What a service verb needs: the caller and the parts it may use. */
export type ServiceContext = {
  db: Database
  clock: () => Date
  principal: Principal | null
}

/**
 * The database for a read that may be a little stale: the cached one for anonymous callers, the
 * fresh one as soon as there is a caller (who may just have written what they now read).
 */
export function publicReadDb(c: Context<AppEnv>): Database {
  const deps = c.get('deps')
  return c.get('principal') === null ? (deps.publicDb ?? deps.db) : deps.db
}

/** `serviceContext` for the anonymous public reads that may use `publicDb`. */
export function publicReadContext(c: Context<AppEnv>): ServiceContext & Deps {
  return { ...serviceContext(c), db: publicReadDb(c) }
}

/** The caller's address as its platform reports it (see `Deps.clientAddress`). */
export const clientAddressOf = (c: Context<AppEnv>) => c.get('deps').clientAddress?.(c)

/** The request's caller together with every dependency; verbs declare the parts they use. */
export function serviceContext(c: Context<AppEnv>): ServiceContext & Deps {
  return { ...c.get('deps'), principal: c.get('principal') }
}
