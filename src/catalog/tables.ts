import { sql } from 'drizzle-orm'
import { type AnyPgColumn, bigint, boolean, check, customType, index, integer, jsonb, pgTable, primaryKey, real, smallint, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import type { AdapterConfig, Finding, Runtimes, SafetensorsHeader } from '../compat/index'
import { id, timestamps } from '../db/columns'
import { teams, users } from '../identity/tables'
import type { EvalResult } from './schemas'

const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' })

export const visibilities = ['draft', 'published', 'unlisted', 'archived'] as const
export type Visibility = (typeof visibilities)[number]

/** A listing search shows: the predicate of the search indexes, written out the same way by search.ts. */
export const listedRow = (table: { visibility: AnyPgColumn; publishedAt: AnyPgColumn }) => sql`${table.visibility} = 'published' and ${table.publishedAt} is not null`

export const adapters = pgTable(
  'adapters',
  {
    id: id(),
    teamId: uuid('team_id')
      .notNull()
      .references(() => teams.id, { onDelete: 'restrict' }),
    slug: text('slug').notNull(),
    title: text('title').notNull(),
    summary: text('summary').notNull().default(''),
    description: text('description').notNull().default(''),
    taskTags: text('task_tags').array().notNull().default(sql`'{}'`),
    domainTags: text('domain_tags').array().notNull().default(sql`'{}'`),
    languageTags: text('language_tags').array().notNull().default(sql`'{}'`),
    licenseSpdx: text('license_spdx'),
    licenseText: text('license_text'),
    commercialUse: boolean('commercial_use').notNull(),
    derivativesAllowed: boolean('derivatives_allowed').notNull(),
    visibility: text('visibility', { enum: visibilities }).notNull().default('draft'),
    downloads: integer('downloads').notNull().default(0),
    // Denormalised from published versions so search is one indexed table scan:
    // `{base}`, `{base}|{engine}` and `*|{engine}` for every base the tensors fit.
    compatKeys: text('compat_keys').array().notNull().default(sql`'{}'`),
    latestVersion: text('latest_version'),
    ratingCount: integer('rating_count').notNull().default(0),
    ratingAverage: real('rating_average').notNull().default(0),
    publishedAt: timestamp('published_at', { withTimezone: true }),
    // Maintained by Postgres; tags are filtered with array operators instead.
    searchVector: tsvector('search_vector').generatedAlwaysAs(
      sql`setweight(to_tsvector('english', coalesce(title, '')), 'A') || setweight(to_tsvector('english', coalesce(summary, '')), 'B') || setweight(to_tsvector('english', coalesce(description, '')), 'C')`,
    ),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('adapters_team_slug_key').on(table.teamId, table.slug),
    // Search reads listed rows only (search.ts), so its indexes hold nothing else: a popular
    // word's matches are never fetched only to be dropped as drafts.
    index('adapters_search_idx').using('gin', table.searchVector).where(listedRow(table)),
    index('adapters_task_tags_idx').using('gin', table.taskTags).where(listedRow(table)),
    index('adapters_domain_tags_idx').using('gin', table.domainTags).where(listedRow(table)),
    index('adapters_language_tags_idx').using('gin', table.languageTags).where(listedRow(table)),
    index('adapters_compat_keys_idx').using('gin', table.compatKeys).where(listedRow(table)),
    index('adapters_listed_newest_idx').on(table.publishedAt, table.id).where(listedRow(table)),
    index('adapters_listed_rating_idx').on(table.ratingAverage, table.id).where(listedRow(table)),
    index('adapters_listed_downloads_idx').on(table.downloads, table.id).where(listedRow(table)),
    check('adapters_visibility_check', sql`${table.visibility} in ('draft', 'published', 'unlisted', 'archived')`),
    check('adapters_license_check', sql`${table.licenseSpdx} is not null or ${table.licenseText} is not null`),
  ],
)

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

/** What validation learnt from the files; stored on the version and used by compatibility checks. */
export type VersionFacts = {
  weights: string
  header: SafetensorsHeader
  config?: AdapterConfig
  lora: Record<string, unknown>
}

export const versionStatuses = ['uploading', 'validating', 'ready', 'rejected', 'published'] as const
export type VersionStatus = (typeof versionStatuses)[number]

export const adapterVersions = pgTable(
  'adapter_versions',
  {
    id: id(),
    adapterId: uuid('adapter_id')
      .notNull()
      .references(() => adapters.id, { onDelete: 'restrict' }),
    version: text('version').notNull(),
    declaredBase: text('declared_base').notNull(),
    changelog: text('changelog').notNull().default(''),
    evals: jsonb('evals').$type<EvalResult[]>().notNull().default(sql`'[]'::jsonb`),
    status: text('status', { enum: versionStatuses }).notNull().default('uploading'),
    /** Why validation rejected the version, or the warnings against its declared base. */
    findings: jsonb('findings').$type<Finding[]>().notNull().default(sql`'[]'::jsonb`),
    /** Set once validation passes (`ready`); read through `storedVersionFacts`. */
    facts: jsonb('facts').$type<VersionFacts>(),
    validationAttempts: integer('validation_attempts').notNull().default(0),
    /** Granted downloads of this version's files, rolled up from the `downloads` audit rows. */
    downloads: integer('downloads').notNull().default(0),
    publishedAt: timestamp('published_at', { withTimezone: true }),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('adapter_versions_adapter_version_key').on(table.adapterId, table.version),
    check(
      'adapter_versions_status_check',
      sql`${table.status} in ('uploading', 'validating', 'ready', 'rejected', 'published')`,
    ),
  ],
)

export const versionFiles = pgTable(
  'version_files',
  {
    id: id(),
    versionId: uuid('version_id')
      .notNull()
      .references(() => adapterVersions.id, { onDelete: 'restrict' }),
    path: text('path').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    sha256: text('sha256').notNull(),
    storageKey: text('storage_key').notNull(),
    multipartUploadId: text('multipart_upload_id'),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('version_files_version_path_key').on(table.versionId, table.path),
    uniqueIndex('version_files_storage_key_key').on(table.storageKey),
    index('version_files_version_idx').on(table.versionId),
    check('version_files_size_check', sql`${table.size} >= 0`),
    check('version_files_sha256_check', sql`${table.sha256} ~ '^[0-9a-f]{64}$'`),
  ],
)

/** The compatibility matrix of a validated version: one row per registered base model. */
export const versionCompatibility = pgTable(
  'version_compatibility',
  {
    versionId: uuid('version_id')
      .notNull()
      .references(() => adapterVersions.id, { onDelete: 'cascade' }),
    baseModel: text('base_model').notNull(),
    compatible: boolean('compatible').notNull(),
    runtimes: jsonb('runtimes').$type<Runtimes>().notNull(),
    findings: jsonb('findings').$type<Finding[]>().notNull(),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('version_compatibility_key').on(table.versionId, table.baseModel),
    index('version_compatibility_base_idx').on(table.baseModel, table.compatible),
    // A version's fitting bases without reading its whole matrix (one row per registered base).
    index('version_compatibility_fits_idx').on(table.versionId, table.baseModel).where(sql`${table.compatible}`),
  ],
)

/** A verified buyer's review of a version: one per version per user, or per team when written for one. */
export const reviews = pgTable(
  'reviews',
  {
    id: id(),
    adapterId: uuid('adapter_id')
      .notNull()
      .references(() => adapters.id, { onDelete: 'restrict' }),
    versionId: uuid('version_id')
      .notNull()
      .references(() => adapterVersions.id, { onDelete: 'restrict' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'restrict' }),
    teamId: uuid('team_id').references(() => teams.id, { onDelete: 'restrict' }),
    rating: smallint('rating').notNull(),
    text: text('text').notNull().default(''),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('reviews_version_user_key').on(table.versionId, table.userId).where(sql`${table.teamId} is null`),
    uniqueIndex('reviews_version_team_key').on(table.versionId, table.teamId).where(sql`${table.teamId} is not null`),
    index('reviews_adapter_idx').on(table.adapterId, table.createdAt),
    check('reviews_rating_check', sql`${table.rating} between 1 and 5`),
  ],
)
