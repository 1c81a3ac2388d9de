import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../../src/config'
import { startServer } from '../../src/node/server'
import { createPostgresDatabase } from './database'
import { s3Env, startS3Server } from './s3'

/** A loopback port nothing listens on right now. */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })

/**
 * The real Node server (`npm start`) on a loopback port: PGlite in a temp data dir, or a fresh
 * database on DATABASE_URL's Postgres; the local store or the S3 test server.
 */
export async function startTestServer(options: {
  storage: 'local' | 's3'
  /** Postgres server for the fresh database (default DATABASE_URL). */
  databaseServerUrl?: string
  /** More configuration (e.g. HTTP_IDLE_TIMEOUT_SECONDS). */
  env?: Record<string, string>
}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'refinery-e2e-'))
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dataDir, { recursive: true, force: true })]
  const env: Record<string, string> = { REFINERY_DATA_DIR: dataDir, PASSWORD_ITERATIONS: '100000', DATABASE_URL: '', ...options.env }
  const databaseServerUrl = options.databaseServerUrl ?? process.env.DATABASE_URL
  if (databaseServerUrl) {
    const database = await createPostgresDatabase(databaseServerUrl)
    cleanups.push(() => database.drop())
    env.DATABASE_URL = database.url
  }
  if (options.storage === 's3') {
    const s3 = await startS3Server()
    cleanups.push(() => s3.close())
    Object.assign(env, s3Env(s3))
  }
  // The local store signs URLs with the public URL, so the port is chosen before the server starts.
  const port = await freePort()
  const server = await startServer(parseConfig({ ...env, ...options.env, PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` }))
  return {
    url: server.url,
    deps: server.deps,
    /** The server's own Postgres database; none on PGlite. */
    databaseUrl: env.DATABASE_URL || undefined,
    async close() {
      await server.close()
      for (const cleanup of cleanups.reverse()) await cleanup()
    },
  }
}
