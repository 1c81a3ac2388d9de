import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import swaggerCss from 'swagger-ui-dist/swagger-ui.css'
import swaggerJs from 'swagger-ui-dist/swagger-ui-bundle.js'
import { createApp } from '../src/app'
import { createSearchCache, type SearchCache } from '../src/catalog/search-cache'
import { createPayments } from '../src/commerce/stripe'
import { createDownloadLog, rollupDownloads } from '../src/downloads'
import { parseConfig, paymentsConfigOf, publicUrlOf, s3ConfigOf, uploadLimitsOf } from '../src/config'
import { postgresClientOptions } from '../src/db/connection'
import * as schema from '../src/db/schema'
import { createPasswordHasher, createTokenSigner } from '../src/identity'
import { createSignInLimiters } from '../src/identity/limits'
import type { PasswordHasher } from '../src/identity/password'
import type { Deps } from '../src/lib/context'
import { createRateLimiter, type RateLimiter } from '../src/lib/rate-limit'
import { type Job, markValidationStalled, runJob, runMaintenance } from '../src/publishing'
import { createS3Store } from '../src/storage/s3'
import type { WorkerEnv } from './env'

// One search cache, the limiters (downloads, sign-in, base-model registrations) and the password hasher (its concurrency bound) per isolate: they outlive the request that filled them.
let searchCache: SearchCache | undefined
let rateLimiter: RateLimiter | undefined
let signInLimiters: ReturnType<typeof createSignInLimiters> | undefined
let passwords: PasswordHasher | undefined
let baseModelLimiter: RateLimiter | undefined
let fingerprintCheckLimiter: RateLimiter | undefined

/** The first delivery plus `max_retries` (wrangler.toml [[queues.consumers]]). */
const QUEUE_DELIVERIES = 1 + 5

type ExecutionContext = { waitUntil(promise: Promise<unknown>): void }
type MessageBatch<T> = { messages: { id: string; body: T; attempts: number; ack(): void; retry(options?: { delaySeconds?: number }): void }[] }

const stringVars = (env: WorkerEnv) =>
  Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'))

/**
 * What every entry point needs: config, a small per-invocation Postgres client (Workers cannot
 * share I/O between requests; close it when done) and the S3 store (the Worker has no disk).
 */
function open(env: WorkerEnv, poolSize: number) {
  const config = parseConfig(stringVars(env))
  const connectionString = env.HYPERDRIVE?.connectionString ?? config.DATABASE_URL
  if (!connectionString) throw new Error('Bind HYPERDRIVE or set DATABASE_URL for the Worker')
  const s3 = s3ConfigOf(config)
  if (!s3) throw new Error('Set S3_BUCKET, S3_REGION, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (R2 or any S3 API) for the Worker')
  const client = postgres(connectionString, { ...postgresClientOptions({ max: poolSize }), fetch_types: false })
  return { config, client, db: drizzle(client, { schema }), store: createS3Store(s3), clock: () => new Date() }
}

// The Workers entry; wrangler needs the default export.
export default {
  async fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Promise<Response> {
    const { config, client, db, store, clock } = open(env, 5)
    if (!config.JWT_SECRET) throw new Error('Set the JWT_SECRET secret for the Worker (wrangler secret put JWT_SECRET)')
    const payments = paymentsConfigOf(config)
    const background: Promise<void>[] = []
    // Written after the response (below), within this request's lifetime.
    const downloadLog = createDownloadLog(db, { flushMs: 0, logger: console })
    const deps: Deps = {
      db,
      clock,
      store,
      // Validation goes to the queue consumer below; without a queue binding, after the response.
      jobs: { enqueue: async (job) => (env.VALIDATION_QUEUE ? env.VALIDATION_QUEUE.send(job) : void background.push(runJob(deps, job))) },
      tokens: createTokenSigner(config.JWT_SECRET, clock),
      passwords: (passwords ??= createPasswordHasher(config.PASSWORD_ITERATIONS, {
        concurrency: config.PASSWORD_HASH_CONCURRENCY,
        maxWaiting: config.PASSWORD_HASH_QUEUE,
      })),
      // Cloudflare sets it on every request from outside; X-Forwarded-For is the client's to write.
      clientAddress: (c) => c.req.header('CF-Connecting-IP'),
      publicUrl: publicUrlOf(config),
      maxJsonBodyBytes: config.MAX_JSON_BODY_BYTES,
      ...(payments && { payments: createPayments({ ...payments, fetch: true }) }),
      downloadUrlTtlSeconds: config.DOWNLOAD_URL_TTL_SECONDS,
    uploadLimits: uploadLimitsOf(config),
      invitationTtlDays: config.INVITATION_TTL_DAYS,
      downloadLog,
      ...(config.DOWNLOAD_RATE_PER_MINUTE > 0 && {
        rateLimiter: (rateLimiter ??= createRateLimiter({ limit: config.DOWNLOAD_RATE_PER_MINUTE, windowSeconds: 60 })),
      }),
      ...(signInLimiters ??= createSignInLimiters(config)),
      operators: config.OPERATOR_EMAILS,
      ...(config.BASE_MODEL_REGISTRATIONS_PER_HOUR > 0 && {
        baseModelLimiter: (baseModelLimiter ??= createRateLimiter({ limit: config.BASE_MODEL_REGISTRATIONS_PER_HOUR, windowSeconds: 3600 })),
      }),
      maxPendingBaseModels: config.MAX_PENDING_BASE_MODELS,
      ...(config.FINGERPRINT_CHECKS_PER_HOUR > 0 && {
        fingerprintCheckLimiter: (fingerprintCheckLimiter ??= createRateLimiter({ limit: config.FINGERPRINT_CHECKS_PER_HOUR, windowSeconds: 3600 })),
      }),
      ...(config.SEARCH_CACHE_SECONDS > 0 && { searchCache: (searchCache ??= createSearchCache({ ttlSeconds: config.SEARCH_CACHE_SECONDS })) }),
      docsAssets: { js: swaggerJs, css: swaggerCss },
    }
    const app = createApp(deps)
    try {
      return await app.fetch(request)
    } finally {
      // No timers between requests here: a download's counters are rolled up after its response (issue 7 moves this to a cron).
      if (new URL(request.url).pathname.includes('/files/')) {
        background.push(downloadLog.flush().then(() => rollupDownloads(db).then(() => undefined)))
      }
      ctx.waitUntil(Promise.allSettled(background).then(() => client.end({ timeout: 5 })))
    }
  },

  /**
   * The validation consumer: each message is one job; validation is idempotent, so a retried or
   * duplicated message does no harm. A failure retries with backoff; after `max_retries`
   * (wrangler.toml) the message goes to the dead-letter queue and the version stays
   * `validating` with the attempts counted on it.
   */
  async queue(batch: MessageBatch<Job>, env: WorkerEnv): Promise<void> {
    const { client, ...deps } = open(env, 2)
    try {
      for (const message of batch.messages) {
        try {
          await runJob(deps, message.body)
          message.ack()
        } catch (error) {
          console.error(`validation job ${message.id} failed (attempt ${message.attempts})`, error)
          // The last delivery before the dead-letter queue: say so on the version.
          if (message.attempts >= QUEUE_DELIVERIES && message.body.kind === 'validate_version') await markValidationStalled(deps, message.body.versionId, message.attempts, error).catch(() => {})
          message.retry({ delaySeconds: Math.min(300, 5 * 2 ** (message.attempts - 1)) })
        }
      }
    } finally {
      await client.end({ timeout: 5 })
    }
  },

  /** Cron (wrangler.toml `[triggers]`): expire abandoned uploads, requeue stuck validations, roll up download counts. */
  async scheduled(_controller: unknown, env: WorkerEnv, ctx: ExecutionContext): Promise<void> {
    const { client, db, store, clock } = open(env, 2)
    const queue = env.VALIDATION_QUEUE
    const jobs = { enqueue: async (job: Job) => (queue ? queue.send(job) : runJob({ db, store, clock }, job)) }
    const work = Promise.all([runMaintenance({ db, store, clock, jobs }), rollupDownloads(db)]).finally(() => client.end({ timeout: 5 }))
    ctx.waitUntil(work)
    await work
  },
}
