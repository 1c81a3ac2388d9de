import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import { z } from 'zod'
import { adapters } from '../catalog'
import { adapterVersions } from './tables'
import { MAX_API_HEADER_BYTES } from '../compat'
import { compatProblem } from '../registry'
import { CompatInputError } from '../compat'
import { readSafetensorsHeader, type SafetensorsHeader } from '../compat'
import { type AdapterFingerprint, COMPARED_KINDS, createFingerprinter, type EntryKind, entryKind, FINGERPRINT_VERSION, fnv1a, moduleKey, quantiseSketches, SKETCH_SIZE, sketchSimilarity, storedSketches } from '../compat'
import { millis } from '../db/columns'
import type { Database } from '../db/types'
import { requireOperator, type OperatorContext } from '../identity'
import { actingOf, actingTeams, requireScope } from '../identity'
import { teams } from '../identity'
import { loadTeamAs } from '../identity'
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
/**
 * Two DoRA magnitude vectors, or two saved matrices, are the same when their normalised sketches are
 * at most this far apart (Euclidean; cosine ≥ 1 − d²/2). Both are dominated by the base model's own
 * weights, so their cosine is near 1 for unrelated adapters too: only a small distance tells a re-save
 * (BF16 rounding: ≤ 2⁻⁸ per number, measured ≤ 0.0026 on the sketch) from another adapter of the same
 * base. docs/fingerprints.md has the maths and the measured margin.
 */
export const EXTRA_MATCH_DISTANCE = 0.005
/**
 * The weight of all magnitude entries together, and of all saved-module entries together, as a
 * fraction of the LoRA entries' weight (each LoRA entry weighs 1). With both at 1/8, extras are at
 * most 1/4 of the LoRA weight: a copy of every LoRA module with the extras changed keeps a share of
 * ≥ 1/(1 + 1/4) = 0.8 ≥ DUPLICATE_SHARE, and extras alone reach at most (1/4)/(1 + 1/4) = 0.2.
 * docs/fingerprints.md, "Weights".
 */
export const EXTRA_WEIGHT = 1 / 8
/** Weighted matched share (see `compareEntries`): from this share on a version is a duplicate. */
export const DUPLICATE_SHARE = 0.75
/** Candidates compared exactly per lookup; the index returns far fewer for a real adapter. */
export const MAX_CANDIDATES = 64

/** One non-zero entry of a fingerprint, fresh or stored. */
export type Entry = { module: string; kind: EntryKind; sketch: ArrayLike<number> }

/** Whether two sketches of the same entry (name, kind and shape) compute the same thing, and their cosine. */
export function entriesMatch(kind: EntryKind, a: ArrayLike<number>, b: ArrayLike<number>): { match: boolean; similarity: number } {
  const similarity = sketchSimilarity(a, b)
  if (kind === 'lora') return { match: similarity >= MODULE_MATCH_SIMILARITY, similarity }
  return { match: Math.sqrt(Math.max(0, 2 - 2 * similarity)) <= EXTRA_MATCH_DISTANCE, similarity }
}

/**
 * Each entry's weight in its fingerprint: 1 per LoRA entry; the magnitude entries share
 * EXTRA_WEIGHT × (LoRA entries), and so do the saved entries. Without LoRA entries (only magnitudes
 * or saved matrices are non-zero) every entry weighs 1; such a match is never conclusive (`decide`).
 */
function entryWeights(entries: readonly Entry[]): Map<string, number> {
  const count = (kind: EntryKind) => entries.filter((entry) => entry.kind === kind).length
  const lora = count('lora')
  const per = { lora: 1, magnitude: lora > 0 ? (lora * EXTRA_WEIGHT) / count('magnitude') : 1, saved: lora > 0 ? (lora * EXTRA_WEIGHT) / count('saved') : 1 }
  return new Map(entries.map((entry) => [entry.module, per[entry.kind]]))
}

export type Comparison = {
  /** Entries of both kinds matched / compared (the larger side). */
  matchedModules: number
  totalModules: number
  /** Matched LoRA entries: the conclusive evidence (`decide`). */
  loraMatched: number
  /** min over both sides of (weight of its matched entries ÷ its total weight). */
  share: number
  /** The lowest cosine among matched entries. */
  similarity: number
}

/**
 * Compares two fingerprints' non-zero entries, entry by entry (same name, kind and shape), restricted
 * to `kinds` (what both fingerprints' versions computed). The share is the smaller of the two sides'
 * weighted matched fractions: for LoRA entries alone it is matched ÷ the larger entry count, as in
 * version 1.
 */
export function compareEntries(ours: readonly Entry[], theirs: readonly Entry[], kinds: readonly EntryKind[]): Comparison {
  const mine = ours.filter((entry) => kinds.includes(entry.kind))
  const other = theirs.filter((entry) => kinds.includes(entry.kind))
  const byName = new Map(other.map((entry) => [entry.module, entry]))
  const myWeights = entryWeights(mine)
  const otherWeights = entryWeights(other)
  let matched = 0
  let loraMatched = 0
  let mineMatched = 0
  let otherMatched = 0
  let lowest = 1
  for (const entry of mine) {
    const partner = byName.get(entry.module)
    if (!partner) continue
    const { match, similarity } = entriesMatch(entry.kind, entry.sketch, partner.sketch)
    if (!match) continue
    matched++
    if (entry.kind === 'lora') loraMatched++
    mineMatched += myWeights.get(entry.module) ?? 0
    otherMatched += otherWeights.get(entry.module) ?? 0
    lowest = Math.min(lowest, similarity)
  }
  const total = (weights: Map<string, number>) => [...weights.values()].reduce((sum, weight) => sum + weight, 0)
  const myTotal = total(myWeights)
  const otherTotal = total(otherWeights)
  // Rounded to 12 digits: weights such as 1/8 must not turn a share of exactly 0.8 into 0.7999….
  const fraction = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((part / whole) * 1e12) / 1e12)
  return {
    matchedModules: matched,
    totalModules: Math.max(mine.length, other.length),
    loraMatched,
    share: Math.min(fraction(mineMatched, myTotal), fraction(otherMatched, otherTotal)),
    similarity: lowest,
  }
}

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
  /** Matched LoRA entries: without one, a match is never a duplicate (magnitudes and saved matrices alone are not conclusive). */
  loraMatched: number
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
        // Every stored version whose LoRA sketch is today's (1 and 2); entries a version did not compute are left out of the comparison.
        inArray(versionFingerprints.fingerprintVersion, Object.keys(COMPARED_KINDS).map(Number)),
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
      fingerprintVersion: versionFingerprints.fingerprintVersion,
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

  const ours: Entry[] = fingerprint.modules.filter((module) => !module.zero)
  const exact = new Set(fingerprint.exactKeys)
  const matches: FingerprintMatch[] = []
  for (const candidate of candidates) {
    const theirs = storedSketches(candidate.sketches, candidate.modules)
    const entries: Entry[] = []
    candidate.modules.forEach((module, i) => {
      const sketch = theirs[i]
      if (sketch && sketch.some((value) => value !== 0)) entries.push({ module, kind: entryKind(module), sketch })
    })
    const comparison = compareEntries(ours, entries, COMPARED_KINDS[candidate.fingerprintVersion] ?? ['lora'])
    if (comparison.matchedModules === 0) continue
    const sharedExact = candidate.exactKeys.filter((key) => exact.has(key)).length
    matches.push({
      versionId: candidate.versionId,
      ref: `${candidate.team}/${candidate.slug}@${candidate.version}`,
      teamId: candidate.teamId,
      status: candidate.status,
      nameable: candidate.status === 'published' && candidate.visibility !== 'draft',
      kind: exact.size > 0 && sharedExact >= DUPLICATE_SHARE * exact.size ? 'exact' : 'function',
      ...comparison,
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
 * The rule: a weighted share ≥ DUPLICATE_SHARE, LoRA entries among the matched, against a published
 * version of another team → duplicate; matching only an unpublished version, only some modules, or
 * only magnitudes and saved matrices → flagged for operators.
 */
export function decide(matches: FingerprintMatch[]): FingerprintDecision {
  const duplicateOf = matches.find((match) => match.share >= DUPLICATE_SHARE && match.loraMatched > 0 && match.status === 'published')
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
