import { sql } from 'drizzle-orm'
import { bigserial, boolean, index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'

/**
 * One row per granted download (the audit trail): who, which file, when, from where, under
 * which entitlement (none for the seller team's own members). Rows are only ever added; the
 * per-version and per-adapter counters are rolled up from the rows not yet `counted`, and count
 * each (version, holder) pair once (`counted_downloads`). A member of the selling team
 * downloads `by_seller`: audited, never counted (the row is born `counted`, nothing to roll up).
 *
 * The ids carry no foreign keys: each row records a grant as it happened, with ids the access
 * check read a moment before, and must not pin what it names: upkeep still removes an abandoned
 * upload a seller member fetched a file of (with keys, that delete failed on every run).
 * The key checks also made the batched insert four times dearer (5 lookups and locks per row).
 */
export const downloads = pgTable(
  'downloads',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    adapterId: uuid('adapter_id').notNull(),
    versionId: uuid('version_id').notNull(),
    fileId: uuid('file_id').notNull(),
    userId: uuid('user_id').notNull(),
    entitlementId: uuid('entitlement_id'),
    apiKeyId: uuid('api_key_id'),
    clientAddress: text('client_address'),
    userAgent: text('user_agent'),
    bySeller: boolean('by_seller').notNull().default(false),
    counted: boolean('counted').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('downloads_version_idx').on(table.versionId, table.createdAt),
    index('downloads_user_idx').on(table.userId, table.createdAt),
    index('downloads_uncounted_idx').on(table.id).where(sql`not ${table.counted}`),
  ],
)

/**
 * The public download counters' ground truth: one row per (version, holder of the entitlement
 * the download went through) the first time that holder got a file of that version. Whoever
 * asks for 50 links, or the 20 members of a buying team, count once. `holder_id` is the
 * entitlement's user or team id (random uuids: the two never collide).
 */
export const countedDownloads = pgTable(
  'counted_downloads',
  {
    versionId: uuid('version_id').notNull(),
    holderId: uuid('holder_id').notNull(),
    adapterId: uuid('adapter_id').notNull(),
    firstAt: timestamp('first_at', { withTimezone: true }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.versionId, table.holderId] })],
)
