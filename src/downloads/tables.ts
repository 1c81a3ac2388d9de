import { sql } from 'drizzle-orm'
import { bigserial, boolean, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { adapters, adapterVersions, versionFiles } from '../catalog/tables'
import { entitlements } from '../commerce/tables'
import { users } from '../identity/tables'

/**
 * One row per granted download (the audit trail): who, which file, when, from where, under
 * which entitlement (none for the seller team's own members). Rows are only ever added; the
 * per-version and per-adapter counters are rolled up from the rows not yet `counted`.
 */
export const downloads = pgTable(
  'downloads',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    adapterId: uuid('adapter_id')
      .notNull()
      .references(() => adapters.id, { onDelete: 'restrict' }),
    versionId: uuid('version_id')
      .notNull()
      .references(() => adapterVersions.id, { onDelete: 'restrict' }),
    fileId: uuid('file_id')
      .notNull()
      .references(() => versionFiles.id, { onDelete: 'restrict' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    entitlementId: uuid('entitlement_id').references(() => entitlements.id, { onDelete: 'restrict' }),
    apiKeyId: uuid('api_key_id'),
    clientAddress: text('client_address'),
    userAgent: text('user_agent'),
    counted: boolean('counted').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    index('downloads_version_idx').on(table.versionId, table.createdAt),
    index('downloads_user_idx').on(table.userId, table.createdAt),
    index('downloads_uncounted_idx').on(table.id).where(sql`not ${table.counted}`),
  ],
)
