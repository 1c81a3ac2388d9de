import { sql } from 'drizzle-orm'
import { check, index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { adapters } from '../catalog/tables'
import { id, timestamps } from '../db/columns'
import { teams, users } from '../identity/tables'

export const licenseTiers = ['research', 'commercial'] as const
export type LicenseTier = (typeof licenseTiers)[number]

export const entitlementSources = ['free', 'order', 'access_request'] as const

/**
 * The right to download every version of an adapter, held by a user or a whole team.
 * `source`/`source_id` name what granted it (a claimed free offer, a paid order, an approved
 * request) and are unique, so granting the same thing twice cannot create a second row.
 */
export const entitlements = pgTable(
  'entitlements',
  {
    id: id(),
    adapterId: uuid('adapter_id')
      .notNull()
      .references(() => adapters.id, { onDelete: 'restrict' }),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'restrict' }),
    teamId: uuid('team_id').references(() => teams.id, { onDelete: 'restrict' }),
    license: text('license', { enum: licenseTiers }).notNull(),
    source: text('source', { enum: entitlementSources }).notNull(),
    sourceId: text('source_id').notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    revokeReason: text('revoke_reason'),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('entitlements_source_key').on(table.source, table.sourceId),
    index('entitlements_user_idx').on(table.userId, table.adapterId),
    index('entitlements_team_idx').on(table.teamId, table.adapterId),
    check('entitlements_holder_check', sql`(${table.userId} is null) <> (${table.teamId} is null)`),
    check('entitlements_license_check', sql`${table.license} in ('research', 'commercial')`),
    check('entitlements_source_check', sql`${table.source} in ('free', 'order', 'access_request')`),
  ],
)
