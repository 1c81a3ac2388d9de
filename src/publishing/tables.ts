import { sql } from 'drizzle-orm'
import { bigint, boolean, check, customType, index, integer, jsonb, pgTable, primaryKey, real, smallint, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { adapters } from '../catalog'
import type { AdapterConfig, Finding, Runtimes, SafetensorsHeader } from '../compat'
import type { EvalResult } from './schemas'
import { id, timestamps } from '../db/columns'
import { users } from '../identity'

/** Raw bytes: both drivers (postgres.js, PGlite) send a Uint8Array as bytea; they read back a Buffer or a Uint8Array. */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array | string }>({
  dataType: () => 'bytea',
  toDriver: (value) => value,
  fromDriver: (value) => {
    if (typeof value !== 'string') return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    const hex = value.startsWith('\\x') ? value.slice(2) : value
    const out = new Uint8Array(hex.length / 2)
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
    return out
  },
})

export const fingerprintVerdicts = ['unique', 'flagged', 'duplicate', 'overruled'] as const
export type FingerprintVerdict = (typeof fingerprintVerdicts)[number]

/**
 * The function a validated version computes (docs/fingerprints.md): per LoRA module a quantised
 * sketch (`modules[i]` ↔ bytes i·64…), an LSH key per module and the data hashes of its tensors.
 * The module keys are also rows of `fingerprint_keys`, the index the duplicate lookup probes; the
 * arrays here are the version's record (the key table can be rebuilt from them, as migration 0009 does).
 */
export const versionFingerprints = pgTable(
  'version_fingerprints',
  {
    versionId: uuid('version_id')
      .primaryKey()
      .references(() => adapterVersions.id, { onDelete: 'cascade' }),
    fingerprintVersion: smallint('fingerprint_version').notNull(),
    modules: text('modules').array().notNull(),
    sketches: bytea('sketches').notNull(),
    moduleKeys: bigint('module_keys', { mode: 'number' }).array().notNull(),
    exactKeys: bigint('exact_keys', { mode: 'number' }).array().notNull(),
    verdict: text('verdict', { enum: fingerprintVerdicts }).notNull(),
    /** The published version this one copies (verdict `duplicate`, or `overruled` afterwards). */
    duplicateOfVersionId: uuid('duplicate_of_version_id').references(() => adapterVersions.id, { onDelete: 'set null' }),
    reviewedBy: uuid('reviewed_by').references(() => users.id, { onDelete: 'set null' }),
    reviewedAt: timestamp('reviewed_at', { withTimezone: true }),
    ...timestamps,
  },
  (table) => [
    index('version_fingerprints_review_idx').on(table.verdict, table.createdAt).where(sql`${table.verdict} in ('flagged', 'duplicate')`),
    check('version_fingerprints_verdict_check', sql`${table.verdict} in ('unique', 'flagged', 'duplicate', 'overruled')`),
  ],
)

/**
 * A version that matched another team's version at validation: what the original's seller sees
 * (`listFingerprintMatches`) and what operators review.
 */
export const fingerprintMatches = pgTable(
  'fingerprint_matches',
  {
    id: id(),
    versionId: uuid('version_id')
      .notNull()
      .references(() => adapterVersions.id, { onDelete: 'cascade' }),
    matchedVersionId: uuid('matched_version_id')
      .notNull()
      .references(() => adapterVersions.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: ['exact', 'function'] }).notNull(),
    matchedModules: integer('matched_modules').notNull(),
    totalModules: integer('total_modules').notNull(),
    /** Matched modules over the larger of the two module sets. */
    share: real('share').notNull(),
    /** The lowest sketch similarity among the matched modules. */
    similarity: real('similarity').notNull(),
    verdict: text('verdict', { enum: ['duplicate', 'flagged'] }).notNull(),
    ...timestamps,
  },
  (table) => [
    uniqueIndex('fingerprint_matches_pair_key').on(table.versionId, table.matchedVersionId),
    index('fingerprint_matches_matched_idx').on(table.matchedVersionId, table.createdAt),
  ],
)

/**
 * One row per (module key, version): the duplicate lookup's index. A btree on `key` answers
 * `key in (…64 keys…)` with per-key estimates, where `&&` on a GIN-indexed array was misestimated
 * and scanned (BENCHMARKS.md). Written with the fingerprint, in the validation transaction.
 */
export const fingerprintKeys = pgTable(
  'fingerprint_keys',
  {
    key: bigint('key', { mode: 'number' }).notNull(),
    versionId: uuid('version_id')
      .notNull()
      .references(() => versionFingerprints.versionId, { onDelete: 'cascade' }),
  },
  (table) => [primaryKey({ columns: [table.key, table.versionId] }), index('fingerprint_keys_version_idx').on(table.versionId)],
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
