import type { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import type { Sql } from 'postgres'
import type { Database } from '../../src/db/types'

/**
 * The same database connection (PGlite or the postgres.js pool) behind a second drizzle instance
 * whose logger records every statement sent to the driver: what a test counts to show a code path
 * does or does not reach the database.
 */
export function queryCounter(db: Database, kind: 'pglite' | 'postgres') {
  const queries: string[] = []
  const logger = { logQuery: (query: string) => void queries.push(query) }
  const client = (db as unknown as { $client: unknown }).$client
  const counted: Database = kind === 'pglite' ? drizzlePglite(client as PGlite, { logger }) : drizzlePostgres(client as Sql, { logger })
  return {
    db: counted,
    /** Statements sent since the last reset, in order. */
    queries,
    reset() {
      queries.length = 0
    },
  }
}
