import { index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

/**
 * The shared backend's counters (`src/lib/rate-limit-postgres.ts`): one row per limiter and key,
 * holding the current fixed window. `key` is the SHA-256 (hex) of the limiter's name and the
 * caller's key, so a flood of long or distinct keys costs one 64-character row each, and upkeep
 * deletes rows whose window has ended (`ends_at`).
 */
export const rateLimitWindows = pgTable(
  'rate_limit_windows',
  {
    key: text('key').primaryKey(),
    endsAt: timestamp('ends_at', { withTimezone: true }).notNull(),
    count: integer('count').notNull(),
  },
  (table) => [index('rate_limit_windows_ends_at_idx').on(table.endsAt)],
)
