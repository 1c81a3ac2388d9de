import { index, pgTable, primaryKey, real, text, uuid } from 'drizzle-orm/pg-core'
import { adapters } from '../catalog'

/**
 * Each listed listing's lexemes with the rank a one-word search gives it there, so the best
 * matches of a popular word are read in order from an index instead of ranking every match.
 * `term` is the one-lexeme tsquery as Postgres prints it (`'legal'`), the form a one-word
 * `websearch_to_tsquery` prints too; `weight` is `ts_rank(search_vector, term::tsquery)`.
 * Kept by the trigger `adapter_search_terms_sync` on adapters (migration 0009, hand-written: drizzle cannot
 * declare triggers), in the transaction of any write to a listing's text or to whether it is listed.
 */
export const adapterSearchTerms = pgTable(
  'adapter_search_terms',
  {
    adapterId: uuid('adapter_id')
      .notNull()
      .references(() => adapters.id, { onDelete: 'cascade' }),
    term: text('term').notNull(),
    weight: real('weight').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.adapterId, table.term] }),
    // Read backwards: a word's matches by rank, then id, both descending (search.ts).
    index('adapter_search_terms_rank_idx').on(table.term, table.weight, table.adapterId),
  ],
)
