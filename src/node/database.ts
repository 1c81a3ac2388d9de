import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises'
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
import { readSnapshot, SNAPSHOT_FOLDER } from './pglite-snapshot'

// PGlite lives in this process's memory: a small buffer pool keeps the server lean (the OS
// page cache still holds the data files).
const pgliteOptions = { postgresqlconf: ['shared_buffers=16MB'] }

// Two levels up from src/node/ and, as `npm run build` writes every file flat into dist/node/, from there too.
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url))

export type DatabaseHandle = {
  db: Database
  kind: 'postgres' | 'pglite'
  /**
   * How PGlite found its data dir: `snapshot` (a first start, loaded from the build's migrated
   * snapshot), `initdb` (a first start without one, or in memory), `existing` (a restart).
   * Postgres: `server`.
   */
  origin: 'server' | 'snapshot' | 'initdb' | 'existing'
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
  /** Default: migrations/. */
  migrationsFolder?: string
  /** Where the build's PGlite snapshots are (default dist/pglite-snapshot); `null`: never load one. */
  snapshotFolder?: string | null
}): Promise<DatabaseHandle> {
  const migrationsFolder = options.migrationsFolder ?? MIGRATIONS_FOLDER
  if (options.url) {
    const client = postgres(options.url, postgresClientOptions({ max: options.poolSize ?? 10, connectTimeoutSeconds: options.connectTimeoutSeconds }))
    const db = drizzlePostgres(client)
    return {
      db,
      kind: 'postgres',
      origin: 'server',
      migrate: () => migratePostgres(db, { migrationsFolder }),
      close: () => client.end({ timeout: 5 }),
    }
  }
  let dataPath: string | undefined
  let origin: DatabaseHandle['origin'] = 'initdb'
  if (options.dataDir) {
    dataPath = join(options.dataDir, 'pglite')
    await mkdir(dataPath, { recursive: true })
    const snapshotFolder = options.snapshotFolder === undefined ? SNAPSHOT_FOLDER : options.snapshotFolder
    const entries = await readdir(dataPath)
    if (entries.includes('PG_VERSION')) origin = 'existing'
    else if (entries.length === 0 && snapshotFolder && (await loadSnapshot(dataPath, snapshotFolder, migrationsFolder))) origin = 'snapshot'
  }
  const client = await PGlite.create(dataPath, pgliteOptions)
  const db = drizzlePglite(client)
  return {
    db,
    kind: 'pglite',
    origin,
    migrate: () => migratePglite(db, { migrationsFolder }),
    close: () => client.close(),
  }
}

/**
 * Fills the empty `dataPath` from the snapshot of `migrationsFolder`, if there is one. PGlite
 * unpacks it into a sibling folder renamed into place once whole, so a start interrupted
 * while loading leaves `dataPath` empty and the next start loads again.
 */
async function loadSnapshot(dataPath: string, snapshotFolder: string, migrationsFolder: string): Promise<boolean> {
  const snapshot = await readSnapshot(snapshotFolder, migrationsFolder)
  if (!snapshot) return false
  const loading = `${dataPath}.loading`
  await rm(loading, { recursive: true, force: true })
  await mkdir(loading)
  const client = await PGlite.create(loading, { ...pgliteOptions, loadDataDir: snapshot })
  await client.close()
  await rmdir(dataPath)
  await rename(loading, dataPath)
  return true
}
