import { existsSync } from 'node:fs'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import { postgresClientOptions } from '../db/connection'
import type { Database } from '../db/types'
import { findSnapshot, SNAPSHOT_FOLDER, unpackSnapshot } from './pglite-snapshot'

// PGlite lives in this process's memory: a small buffer pool keeps the server lean (the OS
// page cache still holds the data files).
const pgliteOptions = { postgresqlconf: ['shared_buffers=16MB'] }

/**
 * PGlite's Postgres is 9 MB of WebAssembly: V8 compiles each function with Liftoff when first
 * called, then recompiles the hot ones with TurboFan on background threads (Node's pool has four),
 * and each of those compilations of a large Postgres function holds ~25 MiB while it runs. One
 * at a time takes ~50 MiB off the start-up peak (issue 24: 245–250 → 195–200 MiB) for the same
 * code once tiered up; only the wait for it is longer. V8 reads the flag when it schedules that
 * work, so setting it before the module is compiled is enough, and it touches nothing but wasm.
 */
function compileWasmOneFunctionAtATime(): void {
  setFlagsFromString('--wasm-num-compilation-tasks=1')
}

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
  compileWasmOneFunctionAtATime()
  let client: PGlite | undefined
  let origin: DatabaseHandle['origin'] = 'initdb'
  if (options.dataDir) {
    const dataPath = join(options.dataDir, 'pglite')
    const loading = `${dataPath}.loading`
    // A first start that stopped while loading the snapshot left a partial data dir: load again.
    if (existsSync(loading)) await rm(dataPath, { recursive: true, force: true })
    await mkdir(dataPath, { recursive: true })
    const entries = await readdir(dataPath)
    const snapshotFolder = options.snapshotFolder === undefined ? SNAPSHOT_FOLDER : options.snapshotFolder
    const snapshot = entries.length === 0 && snapshotFolder ? await findSnapshot(snapshotFolder, migrationsFolder) : undefined
    if (entries.includes('PG_VERSION')) origin = 'existing'
    else if (snapshot) {
      await writeFile(loading, '')
      ;(globalThis as any).__mark?.('before unpack')
      unpackSnapshot(snapshot, dataPath)
      ;(globalThis as any).__mark?.('unpacked')
      client = await PGlite.create(dataPath, pgliteOptions)
      ;(globalThis as any).__mark?.('created')
      await rm(loading)
      origin = 'snapshot'
    }
    client ??= await PGlite.create(dataPath, pgliteOptions)
  } else {
    client = await PGlite.create(pgliteOptions)
  }
  const db = drizzlePglite(client)
  return {
    db,
    kind: 'pglite',
    origin,
    migrate: () => migratePglite(db, { migrationsFolder }),
    close: () => client.close(),
  }
}

