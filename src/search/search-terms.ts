import { type SQL, sql } from 'drizzle-orm'
import { adapters } from '../catalog'
import { adapterSearchTerms } from './tables'

/**
 * Writes `adapter_search_terms` for the listings `which` selects in one statement: one row per
 * lexeme of each listed listing, with the rank a search for that word alone gives it there. A
 * lexeme is quoted as tsquery input (backslash and quote escaped) and printed back, so `term` is
 * exactly what `websearch_to_tsquery(…)::text` prints for that one word. The rows of a single
 * listing are kept by the trigger `adapter_search_terms_sync` (migration 0009), which computes
 * the same; this bulk form backfills and seeds (bench/search.ts), and
 * tests/catalog/search-terms.test.ts checks that both agree.
 */
export const searchTermsInsert = (which: SQL) => sql`
  insert into ${adapterSearchTerms} (adapter_id, term, weight)
  select a.id, q.query::text, ts_rank(a.search_vector, q.query)
  from ${adapters} a
  cross join lateral unnest(a.search_vector) as l(lexeme, positions, weights)
  cross join lateral (select ('''' || replace(replace(l.lexeme, '\\', '\\\\'), '''', '''''') || '''')::tsquery as query) q
  where a.visibility = 'published' and a.published_at is not null and ${which}`
