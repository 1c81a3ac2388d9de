import { sql } from 'drizzle-orm'
import { type AnyPgColumn, timestamp, uuid } from 'drizzle-orm/pg-core'

export const id = () => uuid('id').primaryKey().defaultRandom()

export const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
}

/**
 * A timestamp to the millisecond, as a keyset cursor carries it: Postgres keeps microseconds, so a
 * list paged on the raw column would skip the rows between a cursor's millisecond and the row's
 * true time. Order and compare on this instead.
 */
export const millis = (column: AnyPgColumn) => sql<Date>`date_trunc('milliseconds', ${column})`
