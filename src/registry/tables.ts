import { sql } from 'drizzle-orm'
import { check, index, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { timestamps } from '../db/columns'
import type { BaseModel } from '../compat'
import { teams, users } from '../identity'

export const baseModelStatuses = ['pending', 'verified', 'merged'] as const
export type BaseModelStatus = (typeof baseModelStatuses)[number]

/**
 * Base models registered through the API (from a Hugging Face config.json). The seeded bases
 * live in code (compat/data/base-models.json); the registry is both together. A registration is
 * `pending` (usable only by its team) until a platform operator verifies it, merges it into an
 * existing id (`merged`: an alias of `merged_into`) or rejects it (the row is deleted).
 */
export const registeredBaseModels = pgTable(
  'registered_base_models',
  {
    id: text('id').primaryKey(),
    modelType: text('model_type').notNull(),
    variantOf: text('variant_of'),
    /** The base model derived from the config; read through `storedBaseModel` (registry/registry.ts). */
    facts: jsonb('facts').$type<BaseModel>().notNull(),
    /** The config.json as received (a JSON object). */
    hfConfig: jsonb('hf_config').$type<Record<string, unknown>>().notNull(),
    // Rows from before review existed have no team, hash or signature: they wait for an operator as pending.
    status: text('status', { enum: baseModelStatuses }).notNull().default('pending'),
    teamId: uuid('team_id').references(() => teams.id, { onDelete: 'restrict' }),
    registeredBy: uuid('registered_by').references(() => users.id, { onDelete: 'restrict' }),
    /** sha256 (hex) of the config.json as received, serialised with JSON.stringify. */
    configSha256: text('config_sha256'),
    /** The Hugging Face revision (commit or tag) the config was read from, when the registrant gave one. */
    sourceRevision: text('source_revision'),
    /** Hash of the layer shapes (prefix, depth, every module's [out, in]): equal for shape twins. */
    shapeSignature: text('shape_signature'),
    mergedInto: text('merged_into'),
    reviewedBy: uuid('reviewed_by').references(() => users.id, { onDelete: 'restrict' }),
    reviewedAt: timestamp('reviewed_at', { withTimezone: true }),
    ...timestamps,
  },
  (table) => [
    // Like the Hub: Qwen/Qwen2.5-14B and qwen/qwen2.5-14b are one model.
    uniqueIndex('registered_base_models_id_lower_key').on(sql`lower(${table.id})`),
    index('registered_base_models_signature_idx').on(table.shapeSignature, table.status),
    index('registered_base_models_team_status_idx').on(table.teamId, table.status),
    index('registered_base_models_status_idx').on(table.status, table.createdAt),
    check('registered_base_models_status_check', sql`${table.status} in ('pending', 'verified', 'merged')`),
    check('registered_base_models_merged_check', sql`(${table.status} = 'merged') = (${table.mergedInto} is not null)`),
  ],
)
