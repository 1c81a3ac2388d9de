import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'

/**
 * PGlite and postgres.js databases (and their transactions) share this type. Built without the
 * schema: nothing uses drizzle's relational `db.query` API, and deriving it costs ~250 µs per
 * database object, which the Worker builds on every request.
 */
export type Database = PgDatabase<PgQueryResultHKT>

/** Postgres SQLSTATE of the first error in a (possibly wrapped) driver error. */
export function pgErrorCode(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
    current = current.cause
  }
  return undefined
}

/** The constraint a unique violation names, if the error is one. */
export function uniqueViolation(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const fields = current as { code?: unknown; constraint?: unknown; constraint_name?: unknown }
    if (fields.code === '23505') {
      const name = fields.constraint_name ?? fields.constraint
      return typeof name === 'string' ? name : ''
    }
    current = current.cause
  }
  return undefined
}
