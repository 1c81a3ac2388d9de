import { type SQL, sql } from 'drizzle-orm'
import { adapters } from '../catalog'
import { adapterSearchTerms } from './tables'

/**
 * A lexeme quoted as tsquery input (backslash and quote escaped): printed back (`::text`), it is
 * exactly what `websearch_to_tsquery(…)::text` prints for that one word, the `term` key.
 */
const termOf = (lexeme: SQL) => sql`('''' || replace(replace(${lexeme}, '\\', '\\\\'), '''', '''''') || '''')::tsquery`

/**
 * Writes `adapter_search_terms` for the listings `which` selects in one statement: one row per
 * lexeme of each listed listing, with the rank a search for that word alone gives it there.
 * The rows of a single listing are kept by the trigger `adapter_search_terms_sync` (migration
 * 0009), which computes the same; this bulk form backfills and seeds (bench/search.ts), and
 * tests/catalog/search-terms.test.ts checks that both agree.
 */
export const searchTermsInsert = (which: SQL) => sql`
  insert into ${adapterSearchTerms} (adapter_id, term, weight)
  select a.id, q.query::text, ts_rank(a.search_vector, q.query)
  from ${adapters} a
  cross join lateral unnest(a.search_vector) as l(lexeme, positions, weights)
  cross join lateral (select ${termOf(sql`l.lexeme`)} as query) q
  where a.visibility = 'published' and a.published_at is not null and ${which}`

/** At most this many of a several-word query's words bring candidates (the first, alphabetically). */
export const candidateWords = 8
/** Each of those words brings the listings it alone ranks best, this many of them. */
export const candidatesPerWord = 250
/** And the first this many matches (in the table's order, filters applied) are candidates too. */
export const candidateMatches = 1000

/**
 * The best `candidatesPerWord` listings of each of a query's lexemes (at most `candidateWords`),
 * by the rank that word alone gives them: ids read from the `(term, weight, adapter_id)` index,
 * never more than `candidateWords × candidatesPerWord` rows however large the catalogue.
 * search.ts ranks these (with `candidateMatches` more) instead of every match.
 */
export const bestPerWord = (text: string) => sql`
  select c.adapter_id from (
    select ${termOf(sql`l.lexeme`)}::text as term
    from unnest(tsvector_to_array(to_tsvector('english', ${text}))) as l(lexeme)
    order by l.lexeme
    limit ${sql.raw(String(candidateWords))}
  ) w
  cross join lateral (
    select t.adapter_id from ${adapterSearchTerms} t
    where t.term = w.term
    order by t.weight desc, t.adapter_id desc
    limit ${sql.raw(String(candidatesPerWord))}
  ) c`
