import postgres from 'postgres'
import { openDatabase } from '../../src/node/database'
import type { DatabaseHandle } from '../../src/node/database'
import { randomBytes, toHex } from '../../src/lib/crypto'

/**
 * A migrated database that no other test run sees: a fresh Postgres database on
 * `serverUrl` (default DATABASE_URL) when there is one, otherwise an in-memory PGlite.
 */
export async function openTestDatabase(
  options: { serverUrl?: string; connectTimeoutSeconds?: number } = {},
): Promise<DatabaseHandle & { /** The Postgres database's URL; none for PGlite. */ url?: string }> {
  const serverUrl = options.serverUrl ?? process.env.DATABASE_URL
  if (!serverUrl) {
    const handle = await openDatabase({})
    await handle.migrate()
    return handle
  }
  const fresh = await createPostgresDatabase(serverUrl)
  const handle = await openDatabase({ url: fresh.url, poolSize: 5, connectTimeoutSeconds: options.connectTimeoutSeconds })
  await handle.migrate()
  return {
    ...handle,
    url: fresh.url,
    async close() {
      await handle.close()
      await fresh.drop()
    },
  }
}

/**
 * A database of its own on the Postgres server at `serverUrl`, empty or (`migrated`) with the
 * app's schema; `drop` removes it.
 */
export async function createPostgresDatabase(serverUrl: string, options: { migrated?: boolean } = {}) {
  const name = `refinery_test_${toHex(randomBytes(6))}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database "${name}"`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  if (options.migrated) {
    const database = await openDatabase({ url: url.toString(), poolSize: 1 })
    await database.migrate()
    await database.close()
  }
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists "${name}" with (force)`)
      await admin.end({ timeout: 5 })
    },
  }
}
