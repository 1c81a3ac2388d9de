import { jsonb, pgTable, text } from 'drizzle-orm/pg-core'
import { timestamps } from '../db/columns'

/**
 * Base models registered through the API (from a Hugging Face config.json). The seeded bases
 * live in code (compat/data/base-models.json); the registry is both together.
 */
export const registeredBaseModels = pgTable('registered_base_models', {
  id: text('id').primaryKey(),
  modelType: text('model_type').notNull(),
  variantOf: text('variant_of'),
  facts: jsonb('facts').notNull(),
  hfConfig: jsonb('hf_config').notNull(),
  ...timestamps,
})
