import { sql } from 'drizzle-orm'
import { type AnyPgColumn, boolean, check, customType, index, integer, pgTable, real, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { id, timestamps } from '../db/columns'
import { teams } from '../identity'

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
