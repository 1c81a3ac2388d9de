import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import { postgresClientOptions } from '../db/connection'
import type { Database } from '../db/types'

const PGLITE_SHARED_BUFFERS = '16MB'

// Two levels up from src/node/ and, as `npm run build` writes every file flat into dist/node/, from there too.
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url))

export type DatabaseHandle = {
  db: Database
  kind: 'postgres' | 'pglite'
  /** Applies every pending migration from migrations/. */
  migrate(): Promise<void>
  close(): Promise<void>
}

/**
 * postgres.js when a URL is given; otherwise PGlite, persisted under `dataDir`
 * (or in memory when no data dir is given, for tests).
 */
export async function openDatabase(options: {
  url?: string
  dataDir?: string
  poolSize?: number
  /** How long a new Postgres connection may take before its query fails (default CONNECT_TIMEOUT_SECONDS). */
  connectTimeoutSeconds?: number
}): Promise<DatabaseHandle> {
  if (options.url) {
    const client = postgres(options.url, postgresClientOptions({ max: options.poolSize ?? 10, connectTimeoutSeconds: options.connectTimeoutSeconds }))
    const db = drizzlePostgres(client)
    return {
      db,
      kind: 'postgres',
      migrate: () => migratePostgres(db, { migrationsFolder: MIGRATIONS_FOLDER }),
      close: () => client.end({ timeout: 5 }),
    }
  }
  let dataPath: string | undefined
  if (options.dataDir) {
    dataPath = join(options.dataDir, 'pglite')
    await mkdir(dataPath, { recursive: true })
  }
  // PGlite lives in this process's memory: a small buffer pool keeps the server lean (the OS
  // page cache still holds the data files).
  const client = await PGlite.create(dataPath, { postgresqlconf: [`shared_buffers=${PGLITE_SHARED_BUFFERS}`] })
  const db = drizzlePglite(client)
  return {
    db,
    kind: 'pglite',
    migrate: () => migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER }),
    close: () => client.close(),
  }
}
