import { and, arrayContains, desc, eq, exists, lte, or, type SQL, sql } from 'drizzle-orm'
import { type AnyPgColumn, unionAll } from 'drizzle-orm/pg-core'
import { offers } from '../commerce'
import { z } from 'zod'
import { findBaseModel } from '../registry'
import { teams } from '../identity'
import type { Deps, ServiceContext } from '../lib/context'
import { CursorInteger, CursorReal, CursorTimestamp, CursorUuid, decodeCursor, encodeCursor } from '../lib/cursor'
import { ApiError, notFound } from '../lib/errors'
import { serialiseJson, type SerialisedJson } from '../lib/openapi'
import type { SearchQuerySchema } from './schemas'
import { adapters, listedRow } from '../catalog'
import { adapterSearchTerms } from './tables'
import { bestPerWord, candidateMatches } from './search-terms'

type SearchQuery = z.infer<typeof SearchQuerySchema>

/** A search cursor names its sort and carries the last row's key, as that sort's column holds it. */
const cursorSchema = <K extends z.ZodType<number | string>>(sort: string, key: K) => z.object({ s: z.literal(sort), k: key, id: CursorUuid })
const cursorSchemas = {
  relevance: cursorSchema('relevance', CursorReal),
  newest: cursorSchema('newest', CursorTimestamp),
  downloads: cursorSchema('downloads', CursorInteger),
  // An average of 1–5 stars, or 0 before the first review.
  rating: cursorSchema('rating', CursorReal.min(0).max(5)),
}

// Literal, not parameters, so the planner matches the partial indexes on listed rows under any plan.
const listed = listedRow(adapters)

type SearchResult = Awaited<ReturnType<typeof runSearch>>

/**
 * Published listings with at least one published version, filtered by what their tensors fit
 * (not what the seller declared), keyset-paginated so deep pages cost the same as the first.
 */
export async function searchAdapters(ctx: ServiceContext & Pick<Deps, 'searchCache'>, query: SearchQuery): Promise<SearchResult> {
  return JSON.parse(await searchAdaptersJson(ctx, query)) as SearchResult
}

/**
 * The same answer as `searchAdapters`, serialised: what the API sends. Answers are kept (as
 * this text) for a few seconds in the search cache when there is one.
 */
export async function searchAdaptersJson(ctx: ServiceContext & Pick<Deps, 'searchCache'>, query: SearchQuery): Promise<SerialisedJson<SearchResult>> {
  const cache = ctx.searchCache
  const load = async () => serialiseJson(await runSearch(ctx, query))
  return cache ? cache.remember(JSON.stringify(query), load) : load()
}

async function runSearch(ctx: ServiceContext, query: SearchQuery) {
  const limit = query.limit
  const sort = query.sort ?? (query.q ? 'relevance' : 'newest')
  if (sort === 'relevance' && !query.q) throw new ApiError('validation_failed', 'Sorting by relevance needs a query `q`.')

  const conditions: (SQL | undefined)[] = [listed]
  const tsQuery = query.q ? sql`websearch_to_tsquery('english', ${query.q})` : undefined
  if (query.base || query.runtime) {
    const base = query.base ? await canonicalBase(ctx, query.base) : '*'
    const key = query.runtime ? `${base}|${query.runtime}` : base
    conditions.push(arrayContains(adapters.compatKeys, [key]))
  }
  if (query.tag) {
    const tag = [query.tag]
    conditions.push(or(arrayContains(adapters.taskTags, tag), arrayContains(adapters.domainTags, tag), arrayContains(adapters.languageTags, tag)))
  }
  if (query.license) conditions.push(sql`lower(${adapters.licenseSpdx}) = lower(${query.license})`)
  if (query.commercial !== undefined) conditions.push(eq(adapters.commercialUse, query.commercial))
  if (query.maxPrice !== undefined) {
    const priced = and(eq(offers.kind, 'one_time'), lte(offers.amount, query.maxPrice), query.currency ? eq(offers.currency, query.currency) : undefined)
    conditions.push(
      exists(ctx.db.select({ one: sql`1` }).from(offers).where(and(eq(offers.adapterId, adapters.id), eq(offers.active, true), or(eq(offers.kind, 'free'), priced)))),
    )
  }

  const rank = tsQuery ? sql<number>`ts_rank(${adapters.searchVector}, ${tsQuery})` : sql<number>`0`
  const sortKey = { relevance: rank, newest: sql`${adapters.publishedAt}`, downloads: sql`${adapters.downloads}`, rating: sql`${adapters.ratingAverage}` }[sort]
  const cursor = query.cursor ? decodeCursor(query.cursor, cursorSchemas[sort]) : undefined
  const cursorValue = !cursor
    ? undefined
    : sort === 'newest'
      ? sql`${cursor.k}::timestamptz`
      : sort === 'downloads'
        ? sql`${cursor.k}::integer`
        : sql`${cursor.k}::real`
  const after = (key: SQL | AnyPgColumn, id: SQL | AnyPgColumn) => (cursor ? sql`(${key}, ${id}) < (${cursorValue}, ${cursor.id}::uuid)` : undefined)

  // One statement, planned for these values every time: drizzle sends a query built without
  // `.prepare(name)` as an unnamed statement, which Postgres plans with the actual parameters
  // (a generic plan once estimated `compat_keys @> $1` for a rare key when it matched a tenth
  // of the catalog: 142 ms instead of 2 ms). tests/catalog/search-plans.test.ts keeps it so.
  // The page is chosen on ids and sort keys alone (for `newest`, `downloads` and `rating`
  // without filters an index-only scan), and only its rows are read whole.
  const matches = (only?: SQL) =>
    ctx.db
      .select({ id: sql<string>`${adapters.id}`.as('hit_id'), rank: sql<number>`${rank}`.as('hit_rank') })
      .from(adapters)
      .where(and(only, ...conditions, tsQuery ? sql`${adapters.searchVector} @@ ${tsQuery}` : undefined, after(sortKey, adapters.id)))
      .orderBy(desc(sortKey), desc(adapters.id))
      .limit(limit + 1)
  let hits
  if (tsQuery && query.q && sort === 'relevance') {
    // A one-word query reads its best matches in rank order from adapter_search_terms (the same
    // `ts_rank`, computed when the listing changed) and stops at the page: a popular word costs
    // what a rare one does, however large the catalogue. A several-word query ranks exactly, but
    // only a bounded set of candidates: each word's best listings by that word alone, and the
    // first `candidateMatches` matches the GIN index finds (all of them when there are no more).
    // BENCHMARKS.md ("several-word queries") says what that can miss. Only one branch runs:
    // Postgres folds `numnode(…)` and `querytree(…)` of the call's value before planning; a query
    // of negations alone (`querytree` 'T', no index can find it) ranks only the words' best.
    // The first matches are ranked as the index finds them; the words' best one at a time, one
    // primary-key probe each (a lateral subquery with a limit, which the planner cannot merge
    // into a join that would read every match instead). `union` drops a listing found twice.
    const firstMatches = ctx.db
      .select({ id: adapters.id, rank: sql<number>`${rank}`.as('candidate_rank') })
      .from(adapters)
      .where(and(sql`querytree(${tsQuery}) <> 'T'`, ...conditions, sql`${adapters.searchVector} @@ ${tsQuery}`))
      .limit(candidateMatches)
    const ranked = ctx.db
      .select({ id: adapters.id, rank: sql<number>`${rank}`.as('candidate_rank') })
      .from(adapters)
      .where(and(sql`${adapters.id} = best.id`, ...conditions, sql`${adapters.searchVector} @@ ${tsQuery}`))
      .limit(1)
    const wordsBest = sql`(select ranked.id, ranked.candidate_rank from (${bestPerWord(query.q)}) as best(id) cross join lateral ${ranked} as ranked)`
    const severalWords = ctx.db
      .select({ id: sql<string>`candidate.id`.as('hit_id'), rank: sql<number>`candidate.candidate_rank`.as('hit_rank') })
      .from(sql`(${wordsBest} union ${firstMatches}) as candidate`)
      .where(and(sql`numnode(${tsQuery}) <> 1`, after(sql`candidate.candidate_rank`, sql`candidate.id`)))
      .orderBy(sql`candidate.candidate_rank desc`, sql`candidate.id desc`)
      .limit(limit + 1)
    const oneWord = ctx.db
      .select({ id: sql<string>`${adapterSearchTerms.adapterId}`.as('hit_id'), rank: sql<number>`${adapterSearchTerms.weight}`.as('hit_rank') })
      .from(adapterSearchTerms)
      .innerJoin(adapters, eq(adapters.id, adapterSearchTerms.adapterId))
      .where(
        and(
          sql`numnode(${tsQuery}) = 1`,
          sql`${adapterSearchTerms.term} = ${tsQuery}::text`,
          ...conditions,
          after(adapterSearchTerms.weight, adapterSearchTerms.adapterId),
        ),
      )
      .orderBy(desc(adapterSearchTerms.weight), desc(adapterSearchTerms.adapterId))
      .limit(limit + 1)
    hits = unionAll(oneWord, severalWords)
      .orderBy(desc(sql`hit_rank`), desc(sql`hit_id`))
      .limit(limit + 1)
      .as('hits')
  } else {
    hits = matches().as('hits')
  }
  const outerKey = { relevance: hits.rank, newest: adapters.publishedAt, downloads: adapters.downloads, rating: adapters.ratingAverage }[sort]
  const rows = await ctx.db
    .select({ ...searchColumns, team: teams.slug, rank: hits.rank })
    .from(hits)
    .innerJoin(adapters, eq(adapters.id, hits.id))
    .innerJoin(teams, eq(teams.id, adapters.teamId))
    .orderBy(desc(outerKey), desc(hits.id))

  const page = rows.slice(0, limit)
  const last = page.at(-1)
  const nextCursor =
    rows.length > limit && last
      ? encodeCursor({
          s: sort,
          k: {
            relevance: last.rank,
            newest: last.publishedAt?.toISOString() ?? '',
            downloads: last.downloads,
            rating: last.ratingAverage,
          }[sort],
          id: last.id,
        })
      : null
  return { items: page.map(toSearchItem), nextCursor }
}

export async function listCompatibleAdaptersJson(ctx: ServiceContext & Pick<Deps, 'searchCache'>, baseId: string, query: Omit<SearchQuery, 'base' | 'q'>) {
  const base = await findBaseModel(ctx.db, baseId)
  if (!base) throw notFound(`The base model '${baseId}'`)
  return searchAdaptersJson(ctx, { ...query, base: base.id, sort: query.sort === 'relevance' ? 'downloads' : query.sort ?? 'downloads' })
}

async function canonicalBase(ctx: ServiceContext, id: string) {
  const base = await findBaseModel(ctx.db, id)
  if (!base) throw new ApiError('unknown_base_model', `'${id}' is not a registered base model.`)
  return base.id
}

const searchColumns = {
  id: adapters.id,
  slug: adapters.slug,
  title: adapters.title,
  summary: adapters.summary,
  taskTags: adapters.taskTags,
  domainTags: adapters.domainTags,
  languageTags: adapters.languageTags,
  licenseSpdx: adapters.licenseSpdx,
  commercialUse: adapters.commercialUse,
  derivativesAllowed: adapters.derivativesAllowed,
  downloads: adapters.downloads,
  ratingAverage: adapters.ratingAverage,
  ratingCount: adapters.ratingCount,
  latestVersion: adapters.latestVersion,
  compatKeys: adapters.compatKeys,
  publishedAt: adapters.publishedAt,
}

type SearchRow = { [K in keyof typeof searchColumns]: (typeof adapters.$inferSelect)[K] } & { team: string }

const toSearchItem = (adapter: SearchRow) => ({
  id: adapter.id,
  team: adapter.team,
  slug: adapter.slug,
  title: adapter.title,
  summary: adapter.summary,
  tags: { task: adapter.taskTags, domain: adapter.domainTags, language: adapter.languageTags },
  license: { spdx: adapter.licenseSpdx, commercialUse: adapter.commercialUse, derivatives: adapter.derivativesAllowed },
  downloads: adapter.downloads,
  rating: { average: adapter.ratingAverage, count: adapter.ratingCount },
  latestVersion: adapter.latestVersion,
  compatibleBases: adapter.compatKeys.filter((key) => !key.includes('|')),
  publishedAt: adapter.publishedAt?.toISOString() ?? null,
})
