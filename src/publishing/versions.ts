import semverGt from 'semver/functions/gt.js'
import semverInc from 'semver/functions/inc.js'
import semverRcompare from 'semver/functions/rcompare.js'
import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import { z } from 'zod'
import { type LoadedAdapter, loadAdapter } from '../catalog'
import { type CompleteVersionSchema, type CreateVersionSchema, EvalSchema, type UpdateVersionSchema } from './schemas'
import { commitIdOf } from './commit'
import { adapters } from '../catalog'
import { adapterVersions, type VersionFacts, versionCompatibility, versionFiles } from './tables'
import { findBaseModel, type RegistryEntry, shapeSignature, verifiedAmong, verifiedIn } from '../registry'
import { FindingSchema, RuntimesSchema } from '../registry'
import { registeredBaseModels } from '../registry'
import { seededBaseModels } from '../compat'
import type { Database } from '../db/types'
import { type AdapterConfig, DTYPES, normalizeBaseId, type Runtimes, type SafetensorsHeader } from '../compat'
import { checkStored } from '../db/stored'
import { uniqueViolation } from '../db/types'
import type { Deps, ServiceContext } from '../lib/context'
import { ApiError, notFound } from '../lib/errors'
import type { UploadPlan } from '../storage'
import { fingerprintStatusOf } from './fingerprints'
import { assertDeclaredFilesWithin, assertStorageWithin, DEFAULT_UPLOAD_LIMITS } from './quotas'

/** Upload URLs stay valid this long: long enough for a 10 GB file on a slow link. */
export const UPLOAD_URL_TTL_SECONDS = 6 * 60 * 60

type VersionRow = typeof adapterVersions.$inferSelect
type FileRow = typeof versionFiles.$inferSelect

export type { VersionFacts } from './tables'

const LoraFactsSchema = z.record(z.string(), z.unknown())

const StoredHeaderSchema = z.object({
  headerBytes: z.number(),
  metadata: z.record(z.string(), z.string()),
  tensors: z.array(z.object({ name: z.string(), dtype: z.enum(DTYPES), shape: z.array(z.number()), dataOffsets: z.tuple([z.number(), z.number()]) })),
}) satisfies z.ZodType<SafetensorsHeader>

const StoredAdapterConfigSchema = z.object({
  peftType: z.string().optional(),
  r: z.number(),
  loraAlpha: z.number(),
  targetModules: z.union([z.array(z.string()), z.string()]),
  targetParameters: z.array(z.string()).optional(),
  rankPattern: z.record(z.string(), z.number()),
  alphaPattern: z.record(z.string(), z.number()),
  layersToTransform: z.array(z.number()).optional(),
  layersPattern: z.array(z.string()).optional(),
  modulesToSave: z.array(z.string()),
  useDora: z.boolean(),
  useRslora: z.boolean(),
  fanInFanOut: z.boolean(),
  bias: z.enum(['none', 'all', 'lora_only']),
  loraBias: z.boolean(),
  baseModelNameOrPath: z.string().optional(),
  revision: z.string().optional(),
  taskType: z.string().optional(),
  peftVersion: z.string().optional(),
}) satisfies z.ZodType<AdapterConfig>

/** `adapter_versions.facts` as validation wrote it: what the compatibility engine analyses again. */
const VersionFactsSchema = z.object({
  weights: z.string(),
  header: StoredHeaderSchema,
  config: StoredAdapterConfigSchema.optional(),
  lora: LoraFactsSchema,
}) satisfies z.ZodType<VersionFacts>

/** A validated version's facts, checked before the compatibility engine reads them: a damaged row is a `StoredShapeError` naming it. */
export const storedVersionFacts = (row: { id: string; facts: VersionFacts }): VersionFacts =>
  checkStored(row.facts, VersionFactsSchema, 'adapter_versions.facts', `version ${row.id}`)

/** What a version view shows of a row: evals and findings as stored, and the LoRA facts (the rest of the facts is not read here). */
const VersionViewSchema = z.object({
  evals: z.array(EvalSchema),
  findings: z.array(FindingSchema),
  facts: z.object({ lora: LoraFactsSchema }).nullable(),
})

/** One row of a compatibility matrix as validation wrote it. */
const MatrixRowSchema = z.object({ runtimes: RuntimesSchema, findings: z.array(FindingSchema) })

const matrixRowKey = (versionId: string, base: string) => `version ${versionId} against '${base}'`

/** A matrix row's engine verdicts, checked before they become search keys. */
export const storedRuntimes = (runtimes: Runtimes, versionId: string, base: string): Runtimes =>
  checkStored(runtimes, RuntimesSchema, 'version_compatibility.runtimes', matrixRowKey(versionId, base))

export const storageKeyFor = (adapterId: string, versionId: string, path: string) =>
  `adapters/${adapterId}/${versionId}/${path}`

export function toVersionView(
  version: VersionRow,
  files: FileRow[],
  compatibleBases: string[] | undefined = undefined,
) {
  checkStored({ evals: version.evals, findings: version.findings, facts: version.facts }, VersionViewSchema, 'adapter_versions', `version ${version.id}`)
  return {
    id: version.id,
    version: version.version,
    commit: commitIdOf(version.id),
    status: version.status,
    baseModel: version.declaredBase,
    changelog: version.changelog,
    evals: version.evals,
    files: files.map((file) => ({ path: file.path, size: file.size, sha256: file.sha256 })),
    findings: version.findings,
    lora: version.facts?.lora ?? null,
    compatibleBases: compatibleBases ?? [],
    downloads: version.downloads,
    createdAt: version.createdAt.toISOString(),
    publishedAt: version.publishedAt?.toISOString() ?? null,
  }
}

/**
 * A declared base must name a base model the team may use (verified, or its own pending
 * registration), directly or after normalising (mirrors, local paths).
 */
async function resolveDeclaredBase(ctx: ServiceContext, declared: string, teamId: string): Promise<string> {
  const direct = await findBaseModel(ctx.db, declared, { teamId })
  if (direct) return direct.id
  const { normalized } = normalizeBaseId(declared)
  const base = normalized ? await findBaseModel(ctx.db, normalized, { teamId }) : undefined
  if (!base) {
    throw new ApiError('unknown_base_model', `'${declared}' is not a registered base model; register it from its config.json first.`)
  }
  return base.id
}

export async function createVersion(
  ctx: ServiceContext & Pick<Deps, 'store' | 'uploadLimits'>,
  teamSlug: string,
  slug: string,
  input: z.infer<typeof CreateVersionSchema>,
) {
  const { adapter } = await loadAdapter(ctx, teamSlug, slug, 'write')
  const limits = ctx.uploadLimits ?? DEFAULT_UPLOAD_LIMITS
  assertDeclaredFilesWithin(input.files, limits)
  const declaredBase = await resolveDeclaredBase(ctx, input.baseModel, adapter.teamId)
  const [existing] = await ctx.db
    .select({ id: adapterVersions.id })
    .from(adapterVersions)
    .where(and(eq(adapterVersions.adapterId, adapter.id), eq(adapterVersions.version, input.version)))
  if (existing) throw await versionExists(ctx.db, adapter.id, input.version)
  const requestedBytes = input.files.reduce((total, file) => total + file.size, 0)
  // Before any upload is planned (a multipart upload is a write to the store); checked again, locked, below.
  await assertStorageWithin(ctx.db, adapter.teamId, requestedBytes, limits)

  // Plan uploads before writing anything, so a store failure leaves no half-made version.
  const versionId = crypto.randomUUID()
  const planned = await Promise.all(
    input.files.map(async (file) => {
      const key = storageKeyFor(adapter.id, versionId, file.path)
      const plan = await ctx.store.planUpload({ key, size: file.size, sha256: file.sha256, expiresInSeconds: UPLOAD_URL_TTL_SECONDS })
      return { file, key, plan }
    }),
  )
  try {
    const { version, files } = await ctx.db.transaction(async (tx) => {
      await assertStorageWithin(tx, adapter.teamId, requestedBytes, limits, { lock: true })
      const [version] = await tx
        .insert(adapterVersions)
        .values({
          id: versionId,
          adapterId: adapter.id,
          version: input.version,
          declaredBase,
          changelog: input.changelog,
          evals: input.evals,
        })
        .returning()
      if (!version) throw new Error('insert returned no version')
      const files = await tx
        .insert(versionFiles)
        .values(
          planned.map(({ file, key, plan }) => ({
            versionId,
            path: file.path,
            size: file.size,
            sha256: file.sha256,
            storageKey: key,
            multipartUploadId: plan.kind === 'multipart' ? plan.uploadId : null,
          })),
        )
        .returning()
      return { version, files }
    })
    return { version: toVersionView(version, files), uploads: planned.map(({ file, plan }) => uploadInstructions(file.path, plan)) }
  } catch (error) {
    await Promise.allSettled(
      planned.flatMap(({ key, plan }) => (plan.kind === 'multipart' ? [ctx.store.abortMultipart({ key, uploadId: plan.uploadId })] : [])),
    )
    if (uniqueViolation(error) !== undefined) throw await versionExists(ctx.db, adapter.id, input.version)
    throw error
  }
}

function uploadInstructions(path: string, plan: UploadPlan) {
  if (plan.kind === 'single') {
    return { path, kind: plan.kind, method: plan.method, url: plan.url, headers: plan.headers, expiresAt: plan.expiresAt }
  }
  return {
    path,
    kind: plan.kind,
    partSize: plan.partSize,
    parts: plan.parts,
    expiresAt: plan.expiresAt,
    complete: 'PUT each part, then call completeVersion with {parts: {[path]: [{partNumber, etag}]}} using each response’s ETag.',
  }
}

/**
 * The version number is taken (numbers are never reused: a buyer's `@1.0.0` always means the
 * same bytes): the answer says what became of it and the next free patch number.
 */
async function versionExists(db: Database, adapterId: string, version: string) {
  const rows = await db.select({ version: adapterVersions.version, status: adapterVersions.status }).from(adapterVersions).where(eq(adapterVersions.adapterId, adapterId))
  const taken = new Set(rows.map((row) => row.version))
  let nextFree = semverInc(version, 'patch')
  while (nextFree && taken.has(nextFree)) nextFree = semverInc(nextFree, 'patch')
  const status = rows.find((row) => row.version === version)?.status
  const what = status === 'rejected' ? 'was rejected' : status === 'uploading' ? 'is still uploading (or was abandoned)' : `is ${status ?? 'taken'}`
  return new ApiError('version_exists', `Version ${version} already exists and ${what}; version numbers are never reused${nextFree ? `: publish ${nextFree}, the next free one` : ''}.`, {
    extra: { versionStatus: status ?? null, nextFree },
  })
}

/** A version of an adapter the caller may see: published ones for everyone, all of them for the seller team. */
export async function loadVersion(ctx: ServiceContext, teamSlug: string, slug: string, version: string, access: 'read' | 'write') {
  const { adapter, team, isMember } = await loadAdapter(ctx, teamSlug, slug, access)
  const [row] = await ctx.db
    .select()
    .from(adapterVersions)
    .where(and(eq(adapterVersions.adapterId, adapter.id), eq(adapterVersions.version, version)))
  if (!row || (row.status !== 'published' && !isMember)) throw notFound(`Version ${version} of '${teamSlug}/${slug}'`)
  return { adapter, team, version: row, isMember }
}

async function filesOf(ctx: ServiceContext, versionId: string) {
  return ctx.db.select().from(versionFiles).where(eq(versionFiles.versionId, versionId)).orderBy(asc(versionFiles.path))
}

/** The bases a version fits, as the caller may see them: the seller team also sees its pending registrations. */
async function compatibleBasesOf(ctx: ServiceContext, versionId: string, isMember: boolean) {
  const rows = await ctx.db
    .select({ base: versionCompatibility.baseModel })
    .from(versionCompatibility)
    .where(and(eq(versionCompatibility.versionId, versionId), eq(versionCompatibility.compatible, true)))
    .orderBy(asc(versionCompatibility.baseModel))
  const bases = rows.map((row) => row.base)
  if (isMember) return bases
  const verified = await verifiedAmong(ctx.db, bases)
  return bases.filter((base) => verified.has(base))
}

export async function getVersion(ctx: ServiceContext, teamSlug: string, slug: string, version: string) {
  const loaded = await loadVersion(ctx, teamSlug, slug, version, 'read')
  const [files, bases, fingerprint] = await Promise.all([
    filesOf(ctx, loaded.version.id),
    compatibleBasesOf(ctx, loaded.version.id, loaded.isMember),
    loaded.isMember ? fingerprintStatusOf(ctx.db, loaded.version.id) : null,
  ])
  // The fingerprint verdict (flags are for operators) is the seller team's to see.
  return { ...toVersionView(loaded.version, files, bases), ...(loaded.isMember && { fingerprint }) }
}

/** The versions of a listing the caller may see (all of them for the seller team), highest first. */
export async function listVersions(ctx: ServiceContext, teamSlug: string, slug: string) {
  return versionsOf(ctx, await loadAdapter(ctx, teamSlug, slug, 'read'))
}

/**
 * The verified registry (`listRegistry`) a page has read or is reading anyway: verbs given it
 * answer "which of these bases are verified" from it instead of asking the database again.
 */
type KnownRegistry = readonly RegistryEntry[] | Promise<readonly RegistryEntry[]>

/**
 * `listVersions` of a listing already loaded, and access-checked, by `loadAdapter` (as the same
 * caller): what a page showing several things of one listing calls, so it is resolved once.
 */
export async function versionsOf(ctx: ServiceContext, listing: Pick<LoadedAdapter, 'adapter' | 'isMember'>, registry?: KnownRegistry) {
  const { adapter, isMember } = listing
  const rows = await ctx.db
    .select()
    .from(adapterVersions)
    .where(and(eq(adapterVersions.adapterId, adapter.id), isMember ? undefined : eq(adapterVersions.status, 'published')))
  if (rows.length === 0) return { items: [] }
  const ids = rows.map((row) => row.id)
  const [files, bases] = await Promise.all([
    ctx.db.select().from(versionFiles).where(inArray(versionFiles.versionId, ids)).orderBy(asc(versionFiles.path)),
    ctx.db
      .select({ versionId: versionCompatibility.versionId, base: versionCompatibility.baseModel })
      .from(versionCompatibility)
      .where(and(inArray(versionCompatibility.versionId, ids), eq(versionCompatibility.compatible, true)))
      .orderBy(asc(versionCompatibility.baseModel)),
  ])
  const fitting = [...new Set(bases.map((base) => base.base))]
  const verified = isMember ? undefined : registry ? verifiedIn(await registry, fitting) : await verifiedAmong(ctx.db, fitting)
  const shown = verified ? bases.filter((base) => verified.has(base.base)) : bases
  return {
    items: rows
      .sort((a, b) => semverRcompare(a.version, b.version))
      .map((row) =>
        toVersionView(
          row,
          files.filter((file) => file.versionId === row.id),
          shown.filter((base) => base.versionId === row.id).map((base) => base.base),
        ),
      ),
  }
}

/**
 * The compatibility matrix validation stored: every verified base (and, for the seller team, its
 * pending registrations), its verdict, engines and findings. Twins are grouped by shape signature.
 */
export async function getVersionCompatibility(ctx: ServiceContext, teamSlug: string, slug: string, version: string) {
  const loaded = await loadVersion(ctx, teamSlug, slug, version, 'read')
  return versionCompatibilityOf(ctx, loaded.version, loaded.isMember)
}

/**
 * `getVersionCompatibility` of a version the caller may see, already loaded: one `versionsOf`
 * listed for the same caller (the seller team's `isMember` shows its pending bases too).
 */
export async function versionCompatibilityOf(ctx: ServiceContext, version: { id: string; version: string }, isMember: boolean, registry?: KnownRegistry) {
  const stored = await ctx.db
    .select()
    .from(versionCompatibility)
    .where(eq(versionCompatibility.versionId, version.id))
    .orderBy(sql`${versionCompatibility.compatible} desc`, asc(versionCompatibility.baseModel))
  const signatures = await signaturesOf(ctx.db, stored.map((row) => row.baseModel), isMember, registry && (await registry))
  const rows = stored
    .filter((row) => signatures.has(row.baseModel))
    .map((row) => checkStored(row, MatrixRowSchema, 'version_compatibility', matrixRowKey(version.id, row.baseModel)))
  // Bases with the same layer shapes and the same verdict, grouped once: linear in the matrix.
  const groups = new Map<string, string[]>()
  for (const row of rows) {
    const key = `${signatures.get(row.baseModel)}|${row.compatible}`
    groups.set(key, [...(groups.get(key) ?? []), row.baseModel])
  }
  return {
    version: version.version,
    items: rows.map((row) => {
      const group = groups.get(`${signatures.get(row.baseModel)}|${row.compatible}`) ?? []
      return {
        base: row.baseModel,
        compatible: row.compatible,
        twins: group.filter((id) => id !== row.baseModel),
        runtimes: row.runtimes,
        findings: row.findings.filter((finding) => finding.severity !== 'info'),
      }
    }),
  }
}

const seededSignatures = new Map(seededBaseModels.map((base) => [base.id, shapeSignature(base)]))

/**
 * The shape signature of each of these bases the caller may see in a matrix: seeded and verified
 * ones, and with `withPending` (the seller team, whose matrices hold its own pending bases) the rest.
 * Given the verified registry already read, only the seller team's other bases are looked up.
 */
async function signaturesOf(db: Database, ids: string[], withPending: boolean, registry?: readonly RegistryEntry[]): Promise<Map<string, string>> {
  const signatures = new Map<string, string>()
  const verified = registry && new Map(registry.filter((base) => base.status === 'verified').map((base) => [base.id, base.shapeSignature]))
  const registered: string[] = []
  for (const id of ids) {
    const known = seededSignatures.get(id) ?? verified?.get(id)
    if (known) signatures.set(id, known)
    else registered.push(id)
  }
  if (registered.length > 0 && (!verified || withPending)) {
    const rows = await db
      .select({ id: registeredBaseModels.id, status: registeredBaseModels.status, signature: registeredBaseModels.shapeSignature })
      .from(registeredBaseModels)
      .where(inArray(registeredBaseModels.id, registered))
    for (const row of rows) if (row.status === 'verified' || (withPending && row.status === 'pending')) signatures.set(row.id, row.signature ?? row.id)
  }
  return signatures
}

/** Metadata may change until the version is published; afterwards it never does. */
export async function updateVersion(
  ctx: ServiceContext,
  teamSlug: string,
  slug: string,
  version: string,
  patch: z.infer<typeof UpdateVersionSchema>,
) {
  const loaded = await loadVersion(ctx, teamSlug, slug, version, 'write')
  assertMutable(loaded.version)
  const [updated] = await ctx.db
    .update(adapterVersions)
    .set({
      ...(patch.changelog !== undefined && { changelog: patch.changelog }),
      ...(patch.evals !== undefined && { evals: patch.evals }),
      updatedAt: ctx.clock(),
    })
    .where(and(eq(adapterVersions.id, loaded.version.id), inArray(adapterVersions.status, ['uploading', 'validating', 'ready', 'rejected'])))
    .returning()
  if (!updated) throw immutable(version)
  return toVersionView(updated, await filesOf(ctx, updated.id), await compatibleBasesOf(ctx, updated.id, true))
}

function assertMutable(version: VersionRow) {
  if (version.status === 'published') throw immutable(version.version)
}

const immutable = (version: string) =>
  new ApiError('version_immutable', `Version ${version} is published; its files and metadata never change. Publish a new version.`)

/**
 * Finishes the uploads and queues validation. Files that are not all in the store leave the
 * version in `uploading` with the missing paths named, so the seller can upload and call again.
 */
export async function completeVersion(
  ctx: ServiceContext & Pick<Deps, 'store' | 'jobs'>,
  teamSlug: string,
  slug: string,
  version: string,
  input: z.infer<typeof CompleteVersionSchema>,
) {
  const loaded = await loadVersion(ctx, teamSlug, slug, version, 'write')
  assertMutable(loaded.version)
  const files = await filesOf(ctx, loaded.version.id)
  if (loaded.version.status !== 'uploading') {
    // Completing twice is harmless: answer with where the version stands.
    return toVersionView(loaded.version, files, await compatibleBasesOf(ctx, loaded.version.id, true))
  }
  const unknown = Object.keys(input.parts).filter((path) => !files.some((file) => file.path === path))
  if (unknown.length > 0) {
    throw new ApiError('unknown_file', `These paths are not declared in this version: ${unknown.join(', ')}.`, { extra: { paths: unknown } })
  }

  for (const file of files) {
    if (!file.multipartUploadId) continue
    const parts = input.parts[file.path]
    if (!parts) continue
    await ctx.store.completeMultipart({ key: file.storageKey, uploadId: file.multipartUploadId, parts })
    await ctx.db.update(versionFiles).set({ multipartUploadId: null, updatedAt: ctx.clock() }).where(eq(versionFiles.id, file.id))
    file.multipartUploadId = null
  }

  const problems: { path: string; reason: string }[] = []
  for (const file of files) {
    if (file.multipartUploadId) {
      problems.push({ path: file.path, reason: 'multipart upload not completed: send its parts' })
      continue
    }
    const head = await ctx.store.head(file.storageKey)
    if (!head) problems.push({ path: file.path, reason: 'not uploaded' })
    else if (head.size !== file.size) problems.push({ path: file.path, reason: `has ${head.size} bytes, declared ${file.size}` })
  }
  if (problems.length > 0) {
    throw new ApiError('upload_incomplete', `Some files are not uploaded as declared: ${problems.map((p) => `${p.path} (${p.reason})`).join('; ')}.`, {
      extra: { files: problems },
    })
  }

  const [updated] = await ctx.db
    .update(adapterVersions)
    .set({ status: 'validating', updatedAt: ctx.clock() })
    .where(and(eq(adapterVersions.id, loaded.version.id), eq(adapterVersions.status, 'uploading')))
    .returning()
  const current = updated ?? loaded.version
  await ctx.jobs.enqueue({ kind: 'validate_version', versionId: current.id })
  return toVersionView(current, files)
}

export async function publishVersion(ctx: ServiceContext & Pick<Deps, 'searchCache'>, teamSlug: string, slug: string, version: string) {
  const loaded = await loadVersion(ctx, teamSlug, slug, version, 'write')
  const status = loaded.version.status
  if (status === 'uploading' || status === 'validating') {
    throw new ApiError('version_not_ready', `Version ${version} is ${status}; publish it once validation has passed.`)
  }
  if (status === 'rejected') {
    throw new ApiError('version_rejected', `Version ${version} failed validation; see its findings and upload a new version.`)
  }
  let row = loaded.version
  if (status === 'ready') {
    const now = ctx.clock()
    const published = await ctx.db.transaction(async (tx) => {
      const [updated] = await tx
        .update(adapterVersions)
        .set({ status: 'published', publishedAt: now, updatedAt: now })
        .where(and(eq(adapterVersions.id, row.id), eq(adapterVersions.status, 'ready')))
        .returning()
      if (!updated) return undefined
      const matrix = await tx
        .select({ base: versionCompatibility.baseModel, runtimes: versionCompatibility.runtimes })
        .from(versionCompatibility)
        .where(and(eq(versionCompatibility.versionId, row.id), eq(versionCompatibility.compatible, true)))
      // Search finds a listing only under verified bases: a pending registration stays its team's.
      const verified = await verifiedAmong(tx, matrix.map((row) => row.base))
      const keys = compatKeys(matrix.filter((row) => verified.has(row.base)).map((row) => ({ base: row.base, runtimes: storedRuntimes(row.runtimes, updated.id, row.base) })))
      await tx
        .update(adapters)
        .set({
          compatKeys: sql`array(select distinct unnest(${adapters.compatKeys} || ${textArray(keys)}) order by 1)`,
          // A patch to an older line does not become the latest version.
          latestVersion: !loaded.adapter.latestVersion || semverGt(updated.version, loaded.adapter.latestVersion) ? updated.version : loaded.adapter.latestVersion,
          publishedAt: now,
          updatedAt: now,
        })
        .where(eq(adapters.id, loaded.adapter.id))
      return updated
    })
    if (published) {
      row = published
      ctx.searchCache?.clear()
    }
  }
  return toVersionView(row, await filesOf(ctx, row.id), await compatibleBasesOf(ctx, row.id, true))
}

/** Adds search keys to a listing (a set: adding twice changes nothing). */
export async function addCompatKeys(db: Database, adapterId: string, keys: string[], now: Date) {
  if (keys.length === 0) return
  await db
    .update(adapters)
    .set({ compatKeys: sql`array(select distinct unnest(${adapters.compatKeys} || ${textArray(keys)}) order by 1)`, updatedAt: now })
    .where(eq(adapters.id, adapterId))
}

const textArray = (values: string[]) =>
  values.length === 0 ? sql`'{}'::text[]` : sql`array[${sql.join(values.map((value) => sql`${value}`), sql`, `)}]::text[]`

/** Search keys for a version's compatible bases: `base`, `base|engine` and `*|engine`. */
export function compatKeys(matrix: { base: string; runtimes: Record<string, { compatible: boolean }> }[]): string[] {
  const keys = new Set<string>()
  for (const { base, runtimes } of matrix) {
    keys.add(base)
    for (const [engine, verdict] of Object.entries(runtimes)) {
      if (!verdict.compatible) continue
      keys.add(`${base}|${engine}`)
      keys.add(`*|${engine}`)
    }
  }
  return [...keys].sort()
}

/** The validated tensors of `team/slug@version`, for compatibility checks by reference. */
export async function loadVersionFacts(ctx: ServiceContext, ref: string): Promise<VersionFacts> {
  const match = /^([^/]+)\/([^@]+)@(.+)$/.exec(ref)
  if (!match) throw new ApiError('invalid_version_ref', `'${ref}' is not team/slug@version.`)
  const [, teamSlug = '', slug = '', version = ''] = match
  const loaded = await loadVersion(ctx, teamSlug, slug, version, 'read')
  const { facts, id } = loaded.version
  if (!facts || (loaded.version.status !== 'ready' && loaded.version.status !== 'published')) {
    throw new ApiError('version_not_ready', `Version ${ref} has not passed validation.`)
  }
  return storedVersionFacts({ id, facts })
}
