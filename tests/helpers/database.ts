import postgres from 'postgres'
import { openDatabase } from '../../src/node/database'
import type { DatabaseHandle } from '../../src/node/database'
import { randomBytes, toHex } from '../../src/lib/crypto'

/**
 * A migrated database that no other test run sees: a fresh Postgres database on
 * DATABASE_URL's server when it is set, otherwise an in-memory PGlite.
 */
export async function openTestDatabase(): Promise<DatabaseHandle> {
  const serverUrl = process.env.DATABASE_URL
  if (!serverUrl) {
    const handle = await openDatabase({})
    await handle.migrate()
    return handle
  }
  const fresh = await createPostgresDatabase(serverUrl)
  const handle = await openDatabase({ url: fresh.url, poolSize: 5 })
  await handle.migrate()
  return {
    ...handle,
    async close() {
      await handle.close()
      await fresh.drop()
    },
  }
}

/** An empty database of its own on the Postgres server at `serverUrl`; `drop` removes it. */
export async function createPostgresDatabase(serverUrl: string) {
  const name = `refinery_test_${toHex(randomBytes(6))}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database "${name}"`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists "${name}" with (force)`)
      await admin.end({ timeout: 5 })
    },
  }
}
