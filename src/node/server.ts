import { createHmac } from 'node:crypto'
import { join, resolve } from 'node:path'
import { serve } from '@hono/node-server'
import type { ServerType } from '@hono/node-server'
import { createApp } from '../app'
import { resumeStripeEvents } from '../commerce'
import { createDownloadLog, rollupDownloads } from '../downloads'
import type { Config } from '../config'
import { paymentsConfigOf, publicUrlOf, s3ConfigOf } from '../config'
import { buildDeps } from '../deps'
import type { Deps } from '../lib/context'
import { createInProcessQueue } from '../lib/jobs'
import { resumeValidations } from '../publishing'
import { runJob } from '../jobs'
import { runMaintenance } from '../maintenance'
import { UPLOAD_URL_TTL_SECONDS } from '../publishing/versions'
import { createLocalStore } from './local-store'
import { nodeClientAddress } from './client-address'
import { openDatabase } from './database'
import { loadDocsAssets } from './docs-assets'
import { loadSigningSecret } from './secrets'

const DOWNLOAD_ROLLUP_MS = 5_000
const MAINTENANCE_MS = 5 * 60 * 1000
/** Audit rows of granted downloads are written at most this long after the grant. */
const DOWNLOAD_LOG_FLUSH_MS = 200

/**
 * Timeouts of the Node HTTP server. Node's default `requestTimeout` (300 s) cut local-store
 * uploads on slow links although their URLs last hours: a request may now take an upload URL's
 * whole life, and a connection is cut when it sends nothing for `HTTP_IDLE_TIMEOUT_SECONDS`
 * instead; headers keep their own short bound (a client trickling header bytes is cut).
 * Node checks the request and header bounds every `connectionsCheckingInterval`.
 */
export function httpTimeoutsOf(config: Pick<Config, 'HTTP_IDLE_TIMEOUT_SECONDS' | 'HTTP_HEADERS_TIMEOUT_SECONDS'>) {
  const headersTimeout = config.HTTP_HEADERS_TIMEOUT_SECONDS * 1000
  return {
    serverOptions: {
      requestTimeout: UPLOAD_URL_TTL_SECONDS * 1000,
      headersTimeout,
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, headersTimeout / 4)),
    },
    idleTimeout: config.HTTP_IDLE_TIMEOUT_SECONDS * 1000,
  }
}

export type RunningServer = { url: string; port: number; deps: Deps; close(): Promise<void> }

/** Builds the Node deps from config, applies migrations and listens. */
export async function startServer(config: Config): Promise<RunningServer> {
  const dataDir = resolve(config.REFINERY_DATA_DIR)
  const database = await openDatabase({ url: config.DATABASE_URL, dataDir, poolSize: config.DATABASE_POOL_SIZE })
  await database.migrate()
  const clock = () => new Date()
  const signingSecret = await loadSigningSecret(dataDir, config.JWT_SECRET)
  const publicUrl = publicUrlOf(config)
  const s3 = s3ConfigOf(config)
  const payments = paymentsConfigOf(config)
  // Upload/download URLs of the local store get their own key, derived from the signing secret.
  const storeSecret = createHmac('sha256', signingSecret).update('refinery local store').digest()
  // The AWS SDK is loaded only when S3 is configured: the embedded default stays lean.
  const store = s3
    ? (await import('../storage/s3')).createS3Store(s3)
    : createLocalStore({ root: join(dataDir, 'objects'), publicUrl, secret: storeSecret })
  const downloadLog = createDownloadLog(database.db, { flushMs: DOWNLOAD_LOG_FLUSH_MS, logger: console })
  const jobs = createInProcessQueue((job) => runJob(deps, job), { logger: console })
  const deps: Deps = {
    ...buildDeps(config, {
    clock,
    store,
    signingSecret,
    limits: { kind: 'node', db: () => database.db, clock },
    clientAddress: nodeClientAddress(config.TRUST_PROXY),
    // So is Stripe's SDK, only when payments are.
    ...(payments && { payments: (await import('../commerce/stripe')).createPayments(payments) }),
    docsAssets: await loadDocsAssets(),
    }),
    db: database.db,
    jobs,
    downloadLog,
  }
  const app = createApp(deps)
  await resumeValidations(deps)
  await resumeStripeEvents(deps)
  // Download counters (search sorting, the sales report) follow the audit rows every few seconds.
  const rollup = setInterval(() => void rollupDownloads(deps.db).catch((error) => console.error('download rollup failed', error)), DOWNLOAD_ROLLUP_MS)
  rollup.unref()
  // Expired upload sessions and stuck validations, every few minutes.
  const upkeep = setInterval(() => void runMaintenance(deps).catch((error) => console.error('maintenance failed', error)), MAINTENANCE_MS)
  upkeep.unref()
  const timeouts = httpTimeoutsOf(config)
  const server = await new Promise<ServerType>((resolveListening) => {
    const listening: ServerType = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST, serverOptions: timeouts.serverOptions }, () =>
      resolveListening(listening),
    )
    // Idle sockets are destroyed: the server has no 'timeout' listener.
    listening.setTimeout(timeouts.idleTimeout)
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : config.PORT
  return {
    url: `http://${config.HOST === '0.0.0.0' ? 'localhost' : config.HOST}:${port}`,
    port,
    deps,
    async close() {
      await new Promise<void>((done) => server.close(() => done()))
      clearInterval(rollup)
      clearInterval(upkeep)
      await jobs.idle()
      await downloadLog.close()
      await rollupDownloads(deps.db)
      await database.close()
    },
  }
}
