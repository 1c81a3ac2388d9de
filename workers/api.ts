import type { ExecutionContext, ExportedHandler } from '@cloudflare/workers-types/latest'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import swaggerCss from 'swagger-ui-dist/swagger-ui.css'
import swaggerJs from 'swagger-ui-dist/swagger-ui-bundle.js'
import { createApp } from '../src/app'
import { createPayments } from '../src/commerce/stripe'
import { type Config, parseConfig, paymentsConfigOf } from '../src/config'
import { postgresClientOptions } from '../src/db/connection'
import { buildDeps, type SharedDeps } from '../src/deps'
import { rollupDownloads } from '../src/downloads'
import type { Database } from '../src/db/types'
import type { Deps } from '../src/lib/context'
import { createLimiters } from '../src/limits'
import { type Job } from '../src/lib/jobs'
import { markValidationStalled, runMaintenance } from '../src/maintenance'
import { runJob } from '../src/jobs'
import type { WorkerEnv } from './env'
import { storeFor } from './storage'

/** The first delivery plus `max_retries` (wrangler.toml [[queues.consumers]]). */
const QUEUE_DELIVERIES = 1 + 5
/** Connections one request may open through each Hyperdrive binding. */
const REQUEST_POOL_SIZE = 5

const stringVars = (env: WorkerEnv) =>
  Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'))

/**
 * What lives as long as the isolate: the configuration, the dependencies that keep state between
 * requests (verified tokens and the imported signing key, the search cache, the password
 * hasher's bound, the registry) and the app itself. The bindings are the same for every request
 * an isolate serves, so the first one builds it.
 */
type Isolate = { config: Config; shared: SharedDeps; app: ReturnType<typeof createApp> }
let isolate: Isolate | undefined

function isolateOf(env: WorkerEnv): Isolate {
  if (isolate) return isolate
  const config = parseConfig(stringVars(env))
  if (!config.JWT_SECRET) throw new Error('Set the JWT_SECRET secret for the Worker (wrangler secret put JWT_SECRET)')
  const payments = paymentsConfigOf(config)
  const shared = buildDeps(config, {
    clock: () => new Date(),
    store: storeFor(env, config),
    signingSecret: config.JWT_SECRET,
    // Cloudflare sets it on every request from outside; X-Forwarded-For is the client's to write.
    clientAddress: (c) => c.req.header('CF-Connecting-IP'),
    ...(payments && { payments: createPayments({ ...payments, fetch: true }) }),
    docsAssets: { js: swaggerJs, css: swaggerCss },
  })
  const app = createApp(shared, (c) => (c.env as Invocation).deps)
  return (isolate = { config, shared, app })
}

/**
 * The I/O of one invocation (a request, a queue batch, a cron run): Workers cannot share sockets
 * between requests, so each opens its own Postgres clients and closes them when its work is done.
 * `db` goes through HYPERDRIVE, created with caching disabled: authentication, entitlements,
 * money, publishing and every read of one's own writes. `publicDb` goes through HYPERDRIVE_CACHED
 * (when bound), whose answers may be a minute old: only anonymous public reads use it.
 */
type Invocation = { deps: Deps; finish(): Promise<void> }

function openInvocation(env: WorkerEnv, { config, shared }: Isolate, poolSize: number): Invocation {
  const connectionString = env.HYPERDRIVE?.connectionString ?? config.DATABASE_URL
  if (!connectionString) throw new Error('Bind HYPERDRIVE or set DATABASE_URL for the Worker')
  const clients: ReturnType<typeof postgres>[] = []
  // A Postgres client costs ~0.3 ms to build: only a request that reads or writes pays for one.
  const lazily = (url: string) =>
    lazyDatabase(() => {
      const client = postgres(url, { ...postgresClientOptions({ max: poolSize }), fetch_types: false })
      clients.push(client)
      return drizzle(client)
    })
  const db = lazily(connectionString)
  const cached = env.HYPERDRIVE_CACHED?.connectionString
  const publicDb = cached ? lazily(cached) : undefined
  const background: Promise<unknown>[] = []
  const deps: Deps = {
    ...shared,
    // Stateless here (bindings, or counts in Postgres through this invocation's client).
    ...createLimiters(config, { kind: 'workers', env, db: () => db, clock: shared.clock }),
    db,
    ...(publicDb && { publicDb }),
    // No download log: without one, the access query of a granted download records it in the same
    // statement, before the answer (one round trip; none lost after the response). The cron rolls
    // the counters up.
    // Jobs go to the queue consumer; without a queue binding they run after the response.
    jobs: {
      async enqueue(job) {
        if (env.VALIDATION_QUEUE) await env.VALIDATION_QUEUE.send(job)
        else background.push(runJob(deps, job))
      },
    },
  }
  return {
    deps,
    async finish() {
      await Promise.allSettled(background)
      await Promise.allSettled(clients.map((client) => client.end({ timeout: 5 })))
    },
  }
}

/** A database that opens its client on first use (the object itself can be passed around freely). */
function lazyDatabase(open: () => Database): Database {
  let database: Database | undefined
  return new Proxy({} as Database, {
    get(_target, property) {
      database ??= open()
      const value = Reflect.get(database, property, database)
      return typeof value === 'function' ? value.bind(database) : value
    },
  })
}

// The Workers entry; wrangler needs the default export.
export default {
  async fetch(request, env, ctx) {
    const current = isolateOf(env)
    const invocation = openInvocation(env, current, REQUEST_POOL_SIZE)
    try {
      return (await current.app.fetch(request as unknown as Request, invocation, ctx)) as unknown as ReturnType<NonNullable<ExportedHandler['fetch']>>
    } finally {
      ctx.waitUntil(invocation.finish())
    }
  },

  /**
   * The job consumer (validation, matrices, Stripe events): each message is one job; every job is
   * idempotent (a Stripe event is applied exactly once), so a retried or duplicated message does no harm. A failure retries with backoff; after `max_retries`
   * (wrangler.toml) the message goes to the dead-letter queue and the version stays
   * `validating` with the attempts counted on it.
   */
  async queue(batch, env) {
    const invocation = openInvocation(env, isolateOf(env), 2)
    const { deps } = invocation
    try {
      for (const message of batch.messages) {
        try {
          await runJob(deps, message.body)
          message.ack()
        } catch (error) {
          console.error(`job ${message.id} failed (attempt ${message.attempts})`, error)
          // The last delivery before the dead-letter queue: say so on the version.
          if (message.attempts >= QUEUE_DELIVERIES && message.body.kind === 'validate_version') await markValidationStalled(deps, message.body.versionId, message.attempts, error).catch(() => {})
          message.retry({ delaySeconds: Math.min(300, 5 * 2 ** (message.attempts - 1)) })
        }
      }
    } finally {
      await invocation.finish()
    }
  },

  /** Cron (wrangler.toml `[triggers]`): expire abandoned uploads, requeue stuck validations, roll up download counts. */
  async scheduled(_controller, env, ctx: ExecutionContext) {
    const invocation = openInvocation(env, isolateOf(env), 2)
    const work = Promise.all([runMaintenance(invocation.deps), rollupDownloads(invocation.deps.db)]).finally(() => invocation.finish())
    ctx.waitUntil(work)
    await work
  },
} satisfies ExportedHandler<WorkerEnv, Job>
