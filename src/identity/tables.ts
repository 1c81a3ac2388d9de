import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { id, timestamps } from '../db/columns'

export const teamRoles = ['owner', 'admin', 'member'] as const
export type TeamRole = (typeof teamRoles)[number]

export const apiKeyScopes = ['read', 'publish', 'purchase', 'admin'] as const
export type Scope = (typeof apiKeyScopes)[number]

export const users = pgTable(
  'users',
  {
    id: id(),
    // Stored lower-cased so uniqueness ignores case.
    email: text('email').notNull(),
    name: text('name').notNull(),
    passwordHash: text('password_hash').notNull(),
    // Access tokens carry the version they were signed at; logout bumps it, revoking them all.
    tokenVersion: integer('token_version').notNull().default(0),
    ...timestamps,
  },
  (table) => [uniqueIndex('users_email_key').on(table.email)],
)

export const teams = pgTable(
  'teams',
  {
    id: id(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    ...timestamps,
  },
  (table) => [uniqueIndex('teams_slug_key').on(table.slug)],
)

export const teamMembers = pgTable(
  'team_members',
  {
    teamId: uuid('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: text('role', { enum: teamRoles }).notNull(),
    ...timestamps,
  },
  (table) => [
    primaryKey({ columns: [table.teamId, table.userId] }),
    index('team_members_user_idx').on(table.userId),
    check('team_members_role_check', sql`${table.role} in ('owner', 'admin', 'member')`),
  ],
)

export const apiKeys = pgTable(
  'api_keys',
  {
    id: id(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    // A key bound to a team may act only for that team.
    teamId: uuid('team_id').references(() => teams.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    keyHash: text('key_hash').notNull(),
    scopes: text('scopes', { enum: apiKeyScopes }).array().notNull(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    ...timestamps,
  },
  (table) => [uniqueIndex('api_keys_key_hash_key').on(table.keyHash), index('api_keys_user_idx').on(table.userId)],
)

export const invitationStatuses = ['pending', 'accepted', 'declined', 'revoked'] as const
export type InvitationStatus = (typeof invitationStatuses)[number]

/**
 * An offer of membership, addressed to an email: nobody joins a team without accepting. A pending
 * invitation past `expires_at` is expired (derived, not stored). One pending row per team and
 * email, so inviting again refreshes it.
 */
export const teamInvitations = pgTable(
  'team_invitations',
  {
    id: id(),
    teamId: uuid('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'cascade' }),
    // Lower-cased like users.email.
    email: text('email').notNull(),
    role: text('role', { enum: teamRoles }).notNull(),
    invitedBy: uuid('invited_by').references(() => users.id, { onDelete: 'set null' }),
    status: text('status', { enum: invitationStatuses }).notNull().default('pending'),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('team_invitations_pending_key').on(table.teamId, table.email).where(sql`${table.status} = 'pending'`),
    index('team_invitations_email_idx').on(table.email),
    check('team_invitations_role_check', sql`${table.role} in ('owner', 'admin', 'member')`),
    check('team_invitations_status_check', sql`${table.status} in ('pending', 'accepted', 'declined', 'revoked')`),
  ],
)
