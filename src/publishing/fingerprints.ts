import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import { z } from 'zod'
import { adapters, adapterVersions } from '../catalog/tables'
import { MAX_API_HEADER_BYTES } from '../compat/api/check'
import { compatProblem } from '../compat/api/registry'
import { CompatInputError } from '../compat/errors'
import { readSafetensorsHeader, type SafetensorsHeader } from '../compat/safetensors'
import {
  type AdapterFingerprint,
  createFingerprinter,
  FINGERPRINT_VERSION,
  fnv1a,
  moduleKey,
  quantiseSketches,
  SKETCH_SIZE,
  sketchSimilarity,
  storedSketches,
} from '../compat/fingerprint'
import { millis } from '../db/columns'
import type { Database } from '../db/types'
import { requireOperator, type OperatorContext } from '../identity/operators'
import { actingOf, actingTeams, requireScope } from '../identity/principal'
import { teams } from '../identity/tables'
import { loadTeamAs } from '../identity/teams'
import type { Deps, ServiceContext } from '../lib/context'
import { CursorTimestamp, CursorUuid, decodeCursor, encodeCursor } from '../lib/cursor'
import { ApiError, notFound } from '../lib/errors'
import { enforceRateLimit } from '../lib/rate-limit'
import { fingerprintKeys, fingerprintMatches, type FingerprintVerdict, versionFingerprints } from './tables'

/**
 * Two modules compute the same function when their sketches' cosine is at least this. True copies
 * (any re-parametrisation, BF16/F16 re-saves) measure ≥ 0.999; unrelated modules stay below 0.7
 * (tests/publishing/fingerprints.test.ts measures both; docs/fingerprints.md explains the margin).
 */
export const MODULE_MATCH_SIMILARITY = 0.95
/** Matched modules over the larger module set: from this share on a version is a duplicate. */
export const DUPLICATE_SHARE = 0.75
/** Candidates compared exactly per lookup; the index returns far fewer for a real adapter. */
const MAX_CANDIDATES = 64

export type FingerprintMatch = {
  versionId: string
  ref: string
  teamId: string
  status: string
  /** The listing is public (published or unlisted) and this version is published: it may be named. */
  nameable: boolean
  kind: 'exact' | 'function'
  matchedModules: number
  totalModules: number
  share: number
  similarity: number
}

/** What a fingerprint stores, in columns. */
export function fingerprintColumns(fingerprint: AdapterFingerprint) {
  const keys = fingerprint.modules.map(moduleKey).filter((key): key is number => key !== undefined)
  return {
    fingerprintVersion: fingerprint.version,
    modules: fingerprint.modules.map((module) => module.module),
    sketches: quantiseSketches(fingerprint.modules),
    moduleKeys: [...new Set(keys)],
    exactKeys: fingerprint.exactKeys,
  }
}

/**
 * Other teams' validated versions computing (some of) the same function: candidates from the
 * `fingerprint_keys` btree (the versions sharing the most module keys with this fingerprint, after
 * the filters, so nobody's versions can crowd others out), then an exact comparison of each
 * candidate's sketches. `publicOnly` keeps published versions of public listings only (the check
 * endpoint). Exact data hashes propose no candidates of their own: a byte-identical copy has the
 * same sketches, hence the same module keys; they only tell an `exact` copy from a `function` one.
 */
export async function findMatches(
  db: Database,
  fingerprint: AdapterFingerprint,
  options: { excludeTeams: 'none' | { teamId: string } | { acting: ReturnType<typeof actingOf> }; excludeVersionId?: string; publicOnly?: boolean },
): Promise<FingerprintMatch[]> {
  const columns = fingerprintColumns(fingerprint)
  if (columns.moduleKeys.length === 0) return []
  const excluded =
    options.excludeTeams === 'none'
      ? undefined
      : 'teamId' in options.excludeTeams
        ? sql`${adapters.teamId} <> ${options.excludeTeams.teamId}`
        : sql`${adapters.teamId} not in ${actingTeams(options.excludeTeams.acting)}`
  const hits = sql<number>`count(*)::int`
  // One statement: the candidates, then their stored fingerprints and listings.
  const picked = db
    .select({ versionId: fingerprintKeys.versionId, hits: hits.as('hits') })
    .from(fingerprintKeys)
    .innerJoin(versionFingerprints, eq(versionFingerprints.versionId, fingerprintKeys.versionId))
    .innerJoin(adapterVersions, eq(adapterVersions.id, fingerprintKeys.versionId))
    .innerJoin(adapters, eq(adapters.id, adapterVersions.adapterId))
    .where(
      and(
        inArray(fingerprintKeys.key, columns.moduleKeys),
        eq(versionFingerprints.fingerprintVersion, FINGERPRINT_VERSION),
        // A version flagged as a (partial) copy is under review, not an original others copy from.
        inArray(versionFingerprints.verdict, ['unique', 'overruled']),
        options.publicOnly
          ? and(eq(adapterVersions.status, 'published'), eq(adapters.visibility, 'published'))
          : inArray(adapterVersions.status, ['ready', 'published']),
        options.excludeVersionId ? sql`${fingerprintKeys.versionId} <> ${options.excludeVersionId}` : undefined,
        excluded,
      ),
    )
    .groupBy(fingerprintKeys.versionId, adapterVersions.status, adapterVersions.publishedAt)
    .orderBy(desc(hits), sql`${adapterVersions.status} = 'published' desc`, adapterVersions.publishedAt)
    .limit(MAX_CANDIDATES)
    .as('picked')
  const candidates = await db
    .select({
      versionId: versionFingerprints.versionId,
      modules: versionFingerprints.modules,
      sketches: versionFingerprints.sketches,
      exactKeys: versionFingerprints.exactKeys,
      status: adapterVersions.status,
      version: adapterVersions.version,
      teamId: adapters.teamId,
      slug: adapters.slug,
      visibility: adapters.visibility,
      team: teams.slug,
      hits: picked.hits,
      publishedAt: adapterVersions.publishedAt,
    })
    .from(picked)
    .innerJoin(versionFingerprints, eq(versionFingerprints.versionId, picked.versionId))
    .innerJoin(adapterVersions, eq(adapterVersions.id, versionFingerprints.versionId))
    .innerJoin(adapters, eq(adapters.id, adapterVersions.adapterId))
    .innerJoin(teams, eq(teams.id, adapters.teamId))

  const ours = fingerprint.modules.filter((module) => !module.zero)
  const exact = new Set(fingerprint.exactKeys)
  const matches: FingerprintMatch[] = []
  for (const candidate of candidates) {
    const theirs = storedSketches(candidate.sketches, candidate.modules.length)
    const byName = new Map<string, Int8Array>()
    candidate.modules.forEach((module, i) => {
      const sketch = theirs[i]
      if (sketch && sketch.some((value) => value !== 0)) byName.set(module, sketch)
    })
    let matched = 0
    let lowest = 1
    for (const module of ours) {
      const other = byName.get(module.module)
      if (!other) continue
      const similarity = sketchSimilarity(module.sketch, other)
      if (similarity >= MODULE_MATCH_SIMILARITY) {
        matched++
        lowest = Math.min(lowest, similarity)
      }
    }
    if (matched === 0) continue
    const sharedExact = candidate.exactKeys.filter((key) => exact.has(key)).length
    const total = Math.max(ours.length, byName.size)
    matches.push({
      versionId: candidate.versionId,
      ref: `${candidate.team}/${candidate.slug}@${candidate.version}`,
      teamId: candidate.teamId,
      status: candidate.status,
      nameable: candidate.status === 'published' && candidate.visibility !== 'draft',
      kind: exact.size > 0 && sharedExact >= DUPLICATE_SHARE * exact.size ? 'exact' : 'function',
      matchedModules: matched,
      totalModules: total,
      share: matched / total,
      similarity: lowest,
    })
  }
  // Ties keep the lookup's order: most keys shared, then the published, earliest-published original first.
  const lookupOrder = candidates.sort(
    (a, b) =>
      b.hits - a.hits ||
      Number(b.status === 'published') - Number(a.status === 'published') ||
      (a.publishedAt?.getTime() ?? Number.POSITIVE_INFINITY) - (b.publishedAt?.getTime() ?? Number.POSITIVE_INFINITY),
  )
  const rank = new Map(lookupOrder.map((row, i) => [row.versionId, i]))
  return matches.sort((a, b) => b.share - a.share || b.similarity - a.similarity || (rank.get(a.versionId) ?? 0) - (rank.get(b.versionId) ?? 0))
}

/** The first half of the advisory-lock keys taken by `lockModuleKinds` (the second is a module kind's hash). */
const MODULE_KIND_LOCKS = 0x46505231 // 'FPR1'

/**
 * Serialises duplicate checks that could match each other: inside the validation transaction, a
 * transaction-scoped advisory lock per module kind of the fingerprint (its path without layer
 * numbers, and its shape: `model.layers.#.self_attn.q_proj|4096|4096`). Two versions that share a
 * module share its kind, so the second to take the lock waits for the first to commit and its
 * lookup then sees the first's fingerprint. Taken in ascending order in one statement: no deadlock.
 */
export async function lockModuleKinds(db: Database, fingerprint: AdapterFingerprint) {
  const kinds = [...new Set(fingerprint.modules.filter((module) => !module.zero).map((module) => fnv1a(module.module.replace(/\.\d+\./g, '.#.')) | 0))]
  if (kinds.length === 0) return
  kinds.sort((a, b) => a - b)
  const rows = sql.join(
    kinds.map((kind) => sql`(${kind}::int)`),
    sql`, `,
  )
  await db.execute(sql`select pg_advisory_xact_lock(${MODULE_KIND_LOCKS}::int, kind) from (select kind from (values ${rows}) as kinds(kind) order by kind) as ordered`)
}

export type FingerprintDecision = {
  verdict: FingerprintVerdict
  /** The published version this one copies (verdict `duplicate`). */
  duplicateOf?: FingerprintMatch
  matches: FingerprintMatch[]
}

/**
 * The rule: most modules (≥ DUPLICATE_SHARE) matching a published version of another team →
 * duplicate; matching only an unpublished version, or only some modules → flagged for operators.
 */
export function decide(matches: FingerprintMatch[]): FingerprintDecision {
  const duplicateOf = matches.find((match) => match.share >= DUPLICATE_SHARE && match.status === 'published')
  if (duplicateOf) return { verdict: 'duplicate', duplicateOf, matches }
  return { verdict: matches.length > 0 ? 'flagged' : 'unique', matches }
}

/** The finding a duplicate is rejected with: names the listing only when it is public. */
export function duplicateFinding(match: FingerprintMatch) {
  const named = match.nameable
  return {
    code: 'duplicate_of',
    severity: 'error' as const,
    ...(named && { expected: match.ref }),
    actual: { matchedModules: match.matchedModules, totalModules: match.totalModules, similarity: Number(match.similarity.toFixed(4)) },
    message: named
      ? `The weights compute the same function as ${match.ref} (${match.matchedModules} of ${match.totalModules} modules), which another team publishes. Re-listing a bought adapter is not allowed; an operator can overrule this if it is yours.`
      : `The weights compute the same function as a version another team publishes (${match.matchedModules} of ${match.totalModules} modules).`,
  }
}

/** Writes the fingerprint, its verdict and its match rows (inside the validation transaction). */
export async function storeFingerprint(db: Database, versionId: string, fingerprint: AdapterFingerprint, decision: FingerprintDecision, now: Date) {
  const columns = fingerprintColumns(fingerprint)
  const values = { ...columns, verdict: decision.verdict, duplicateOfVersionId: decision.duplicateOf?.versionId ?? null, updatedAt: now }
  await db
    .insert(versionFingerprints)
    .values({ versionId, ...values })
    .onConflictDoUpdate({ target: versionFingerprints.versionId, set: values })
  await db.delete(fingerprintKeys).where(eq(fingerprintKeys.versionId, versionId))
  if (columns.moduleKeys.length > 0) await db.insert(fingerprintKeys).values(columns.moduleKeys.map((key) => ({ key, versionId })))
  await db.delete(fingerprintMatches).where(eq(fingerprintMatches.versionId, versionId))
  const rows = decision.matches.slice(0, 20).map((match) => ({
    versionId,
    matchedVersionId: match.versionId,
    kind: match.kind,
    matchedModules: match.matchedModules,
    totalModules: match.totalModules,
    share: match.share,
    similarity: match.similarity,
    verdict: match === decision.duplicateOf ? ('duplicate' as const) : ('flagged' as const),
  }))
  if (rows.length > 0) await db.insert(fingerprintMatches).values(rows)
}

/** A version's fingerprint as its own team sees it. */
export async function fingerprintStatusOf(db: Database, versionId: string) {
  const [row] = await db
    .select({ verdict: versionFingerprints.verdict, modules: versionFingerprints.modules, reviewedAt: versionFingerprints.reviewedAt })
    .from(versionFingerprints)
    .where(eq(versionFingerprints.versionId, versionId))
  if (!row) return null
  return { status: row.verdict, modules: row.modules.length, reviewedAt: row.reviewedAt?.toISOString() ?? null }
}

type Page = { cursor?: string | undefined; limit: number }

/** Both lists' cursor: the last row's time and id. */
const ListCursorSchema = z.object({ at: CursorTimestamp, id: CursorUuid })


/** What a match row says of the copy, as both lists show it. */
const MATCH_FIGURES = {
  verdict: fingerprintMatches.verdict,
  kind: fingerprintMatches.kind,
  matchedModules: fingerprintMatches.matchedModules,
  totalModules: fingerprintMatches.totalModules,
  share: fingerprintMatches.share,
  similarity: fingerprintMatches.similarity,
}

/**
 * Attempts to list copies of a team's versions: every other team's version that matched one of
 * them at validation (rejected as a duplicate, or flagged), newest first.
 */
export async function listFingerprintMatches(ctx: ServiceContext, teamSlug: string, query: Page = { limit: 50 }) {
  const caller = requireScope(ctx.principal, 'read')
  const { team } = await loadTeamAs(ctx.db, caller, teamSlug)
  const after = query.cursor ? decodeCursor(query.cursor, ListCursorSchema) : undefined
  const at = millis(fingerprintMatches.createdAt)
  const copy = alias(adapterVersions, 'copy_version')
  const copyAdapter = alias(adapters, 'copy_adapter')
  const copyTeam = alias(teams, 'copy_team')
  const rows = await ctx.db
    .select({
      id: fingerprintMatches.id,
      at: fingerprintMatches.createdAt,
      figures: MATCH_FIGURES,
      version: adapterVersions.version,
      slug: adapters.slug,
      copyTeam: copyTeam.slug,
      copyStatus: copy.status,
    })
    .from(fingerprintMatches)
    .innerJoin(adapterVersions, eq(adapterVersions.id, fingerprintMatches.matchedVersionId))
    .innerJoin(adapters, eq(adapters.id, adapterVersions.adapterId))
    .innerJoin(copy, eq(copy.id, fingerprintMatches.versionId))
    .innerJoin(copyAdapter, eq(copyAdapter.id, copy.adapterId))
    .innerJoin(copyTeam, eq(copyTeam.id, copyAdapter.teamId))
    .where(
      and(
        eq(adapters.teamId, team.id),
        sql`${copyAdapter.teamId} <> ${team.id}`,
        after ? sql`(${at}, ${fingerprintMatches.id}) < (${after.at}::timestamptz, ${after.id}::uuid)` : undefined,
      ),
    )
    .orderBy(desc(at), desc(fingerprintMatches.id))
    .limit(query.limit + 1)
  const page = rows.slice(0, query.limit)
  const last = page.at(-1)
  return {
    items: page.map((row) => ({
      id: row.id,
      original: `${team.slug}/${row.slug}@${row.version}`,
      attemptedBy: row.copyTeam,
      outcome: row.copyStatus === 'rejected' ? ('rejected' as const) : ('not_rejected' as const),
      ...row.figures,
      at: row.at.toISOString(),
    })),
    nextCursor: rows.length > query.limit && last ? encodeCursor({ at: last.at.toISOString(), id: last.id }) : null,
  }
}

/** Versions operators should look at: rejected duplicates and flagged partial copies, newest first. */
export async function listFingerprintReviews(ctx: OperatorContext, query: Page = { limit: 50 }) {
  await requireOperator(ctx)
  const after = query.cursor ? decodeCursor(query.cursor, ListCursorSchema) : undefined
  const at = millis(versionFingerprints.updatedAt)
  const rows = await ctx.db
    .select({
      versionId: versionFingerprints.versionId,
      verdict: versionFingerprints.verdict,
      at: versionFingerprints.updatedAt,
      version: adapterVersions.version,
      status: adapterVersions.status,
      slug: adapters.slug,
      team: teams.slug,
    })
    .from(versionFingerprints)
    .innerJoin(adapterVersions, eq(adapterVersions.id, versionFingerprints.versionId))
    .innerJoin(adapters, eq(adapters.id, adapterVersions.adapterId))
    .innerJoin(teams, eq(teams.id, adapters.teamId))
    .where(
      and(
        inArray(versionFingerprints.verdict, ['flagged', 'duplicate']),
        after ? sql`(${at}, ${versionFingerprints.versionId}) < (${after.at}::timestamptz, ${after.id}::uuid)` : undefined,
      ),
    )
    .orderBy(desc(at), desc(versionFingerprints.versionId))
    .limit(query.limit + 1)
  const page = rows.slice(0, query.limit)
  const last = page.at(-1)
  const ids = page.map((row) => row.versionId)
  const matches =
    ids.length === 0
      ? []
      : await ctx.db
          .select({
            versionId: fingerprintMatches.versionId,
            figures: MATCH_FIGURES,
            version: adapterVersions.version,
            status: adapterVersions.status,
            slug: adapters.slug,
            team: teams.slug,
          })
          .from(fingerprintMatches)
          .innerJoin(adapterVersions, eq(adapterVersions.id, fingerprintMatches.matchedVersionId))
          .innerJoin(adapters, eq(adapters.id, adapterVersions.adapterId))
          .innerJoin(teams, eq(teams.id, adapters.teamId))
          .where(inArray(fingerprintMatches.versionId, ids))
  return {
    items: page.map((row) => ({
      version: `${row.team}/${row.slug}@${row.version}`,
      status: row.status,
      verdict: row.verdict,
      at: row.at.toISOString(),
      matches: matches
        .filter((match) => match.versionId === row.versionId)
        .map((match) => ({
          version: `${match.team}/${match.slug}@${match.version}`,
          status: match.status,
          ...match.figures,
        })),
    })),
    nextCursor: rows.length > query.limit && last ? encodeCursor({ at: last.at.toISOString(), id: last.versionId }) : null,
  }
}

/**
 * An operator overrules a duplicate rejection: the fingerprint becomes `overruled` and the version
 * goes back to `validating`, so validation (which then skips the duplicate rule) writes its facts
 * and compatibility matrix as for any version.
 */
export async function overruleFingerprint(ctx: OperatorContext & Pick<Deps, 'jobs'>, teamSlug: string, slug: string, version: string) {
  const operator = await requireOperator(ctx)
  const [row] = await ctx.db
    .select({ versionId: adapterVersions.id, status: adapterVersions.status, verdict: versionFingerprints.verdict })
    .from(adapterVersions)
    .innerJoin(adapters, eq(adapters.id, adapterVersions.adapterId))
    .innerJoin(teams, eq(teams.id, adapters.teamId))
    .leftJoin(versionFingerprints, eq(versionFingerprints.versionId, adapterVersions.id))
    .where(and(eq(teams.slug, teamSlug), eq(adapters.slug, slug), eq(adapterVersions.version, version)))
  if (!row) throw notFound(`Version ${version} of '${teamSlug}/${slug}'`)
  if (row.verdict !== 'duplicate' && row.verdict !== 'flagged') {
    throw new ApiError('not_flagged', `Version ${version} of '${teamSlug}/${slug}' was not rejected or flagged as a copy.`)
  }
  const now = ctx.clock()
  await ctx.db.transaction(async (tx) => {
    await tx
      .update(versionFingerprints)
      .set({ verdict: 'overruled', reviewedBy: operator.userId, reviewedAt: now, updatedAt: now })
      .where(eq(versionFingerprints.versionId, row.versionId))
    if (row.status === 'rejected') {
      await tx
        .update(adapterVersions)
        .set({ status: 'validating', updatedAt: now })
        .where(and(eq(adapterVersions.id, row.versionId), eq(adapterVersions.status, 'rejected')))
    }
  })
  if (row.status === 'rejected') await ctx.jobs.enqueue({ kind: 'validate_version', versionId: row.versionId })
  return { version: `${teamSlug}/${slug}@${version}`, verdict: 'overruled' as const, status: row.status === 'rejected' ? 'validating' : row.status }
}

/** Sketch bytes per module, for sizing (BENCHMARKS.md, docs). */
export const STORED_BYTES_PER_MODULE = SKETCH_SIZE

/** The largest file `checkFingerprint` reads (a check costs CPU per byte; uploads may be larger). */
export const MAX_CHECK_BYTES = 4 * 1024 ** 3

/**
 * Lets a seller check a file before uploading: its fingerprint compared with published versions of
 * public listings (never unpublished ones, so the check reveals nothing validation's rejection
 * would not), the caller's own teams left out. Streams the body once; bounded per user by
 * `fingerprintCheckLimiter` and in size by MAX_CHECK_BYTES.
 */
export async function checkFingerprint(
  ctx: ServiceContext & Pick<Deps, 'fingerprintCheckLimiter'>,
  body: ReadableStream<Uint8Array> | null,
  fileSize: number | undefined,
) {
  const caller = requireScope(ctx.principal, 'publish')
  if (fileSize === undefined) throw new ApiError('file_size_required', 'Send the whole file with its size in X-File-Size.')
  if (fileSize > MAX_CHECK_BYTES) throw new ApiError('payload_too_large', `Fingerprint checks read files up to ${MAX_CHECK_BYTES} bytes.`)
  await enforceRateLimit(ctx.fingerprintCheckLimiter, `fingerprint:${caller.userId}`, 'fingerprint checks')
  if (!body) throw new ApiError('invalid_safetensors', 'Send the whole safetensors file as the body.')
  const reader = body.getReader()
  let fingerprint: AdapterFingerprint
  try {
    const head: Uint8Array[] = []
    let kept = 0
    let needed = 8
    let header: SafetensorsHeader | undefined
    while (!header) {
      const chunk = await reader.read()
      if (chunk.done) break
      head.push(chunk.value)
      kept += chunk.value.length
      if (kept < needed) continue
      const prefix = concat(head, kept)
      if (needed === 8) {
        const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true)
        if (length > BigInt(MAX_API_HEADER_BYTES)) throw new ApiError('header_too_large', `This API reads safetensors headers up to ${MAX_API_HEADER_BYTES} bytes.`)
        needed = 8 + Number(length)
        if (kept < needed) continue
      }
      header = readSafetensorsHeader(prefix, fileSize)
    }
    if (!header) header = readSafetensorsHeader(concat(head, kept), fileSize)
    const fingerprinter = createFingerprinter(header)
    let received = 0
    for (const chunk of head) fingerprinter.update(chunk)
    received = kept
    for (;;) {
      const chunk = await reader.read()
      if (chunk.done) break
      received += chunk.value.length
      if (received > fileSize) throw new ApiError('invalid_file_size', `X-File-Size says ${fileSize} bytes but the body has more.`)
      fingerprinter.update(chunk.value)
    }
    if (received !== fileSize) throw new ApiError('invalid_file_size', `X-File-Size says ${fileSize} bytes but the body has ${received}.`)
    fingerprint = fingerprinter.finish()
  } catch (error) {
    await reader.cancel().catch(() => {})
    if (error instanceof CompatInputError) throw compatProblem(error)
    throw error
  }
  const matches = await findMatches(ctx.db, fingerprint, { excludeTeams: { acting: actingOf(caller) }, publicOnly: true })
  const decision = decide(matches)
  return {
    fingerprintVersion: fingerprint.version,
    modules: fingerprint.modules.length,
    verdict: decision.verdict === 'duplicate' ? ('duplicate' as const) : decision.verdict === 'flagged' ? ('partial' as const) : ('unique' as const),
    matches: matches.slice(0, 10).map((match) => ({
      version: match.ref,
      kind: match.kind,
      matchedModules: match.matchedModules,
      totalModules: match.totalModules,
      share: match.share,
      similarity: match.similarity,
    })),
  }
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]) return chunks[0]
  const out = new Uint8Array(length)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}
