import { and, asc, eq, gt, inArray, isNotNull, notExists, sql } from 'drizzle-orm'
import { adapterVersions, versionCompatibility } from './tables'
import { findBaseModel } from '../registry'
import { analyzeAdapter, checkAgainstBase, CompatInputError } from '../compat'
import type { Deps } from '../lib/context'
import { addCompatKeys, compatKeys, storedRuntimes, storedVersionFacts } from './versions'

const BATCH = 100

/**
 * A base was verified (or became a merge target): every validated version gets its row of the
 * matrix for it, and listings of published versions that fit it become findable under it.
 * Idempotent: versions that already have the row are skipped, and search keys are a set.
 */
export async function addBaseToMatrices(deps: Pick<Deps, 'db' | 'clock'>, baseId: string): Promise<{ checked: number; listings: number }> {
  const { db } = deps
  const base = await findBaseModel(db, baseId, 'verified')
  // Rejected, merged away or unknown since the job was queued: nothing to add.
  if (!base || base.id !== baseId) return { checked: 0, listings: 0 }
  let checked = 0
  let after: string | undefined
  for (;;) {
    const batch = await db
      .select({ id: adapterVersions.id, facts: adapterVersions.facts })
      .from(adapterVersions)
      .where(
        and(
          inArray(adapterVersions.status, ['ready', 'published']),
          isNotNull(adapterVersions.facts),
          after ? gt(adapterVersions.id, after) : undefined,
          notExists(
            db
              .select({ one: sql`1` })
              .from(versionCompatibility)
              .where(and(eq(versionCompatibility.versionId, adapterVersions.id), eq(versionCompatibility.baseModel, base.id))),
          ),
        ),
      )
      .orderBy(asc(adapterVersions.id))
      .limit(BATCH)
    if (batch.length === 0) break
    after = batch.at(-1)?.id
    const now = deps.clock()
    const rows = batch.flatMap(({ id, facts }) => {
      if (!facts) return [] // selected where not null
      const { header, config } = storedVersionFacts({ id, facts })
      try {
        const report = checkAgainstBase(analyzeAdapter(header, config), header, base)
        return [{ versionId: id, baseModel: base.id, compatible: report.compatible, runtimes: report.runtimes, findings: report.checks, createdAt: now, updatedAt: now }]
      } catch (error) {
        // Facts that passed validation analyse again; if a rule tightened since, the version keeps its matrix.
        if (error instanceof CompatInputError) return []
        throw error
      }
    })
    if (rows.length > 0) await db.insert(versionCompatibility).values(rows).onConflictDoNothing()
    checked += rows.length
  }

  const fitting = await db
    .select({ versionId: versionCompatibility.versionId, adapterId: adapterVersions.adapterId, runtimes: versionCompatibility.runtimes })
    .from(versionCompatibility)
    .innerJoin(adapterVersions, eq(adapterVersions.id, versionCompatibility.versionId))
    .where(and(eq(versionCompatibility.baseModel, base.id), eq(versionCompatibility.compatible, true), eq(adapterVersions.status, 'published')))
  const byAdapter = new Map<string, Set<string>>()
  for (const { versionId, adapterId, runtimes } of fitting) {
    const keys = byAdapter.get(adapterId) ?? new Set<string>()
    for (const key of compatKeys([{ base: base.id, runtimes: storedRuntimes(runtimes, versionId, base.id) }])) keys.add(key)
    byAdapter.set(adapterId, keys)
  }
  for (const [adapterId, keys] of byAdapter) await addCompatKeys(db, adapterId, [...keys], deps.clock())
  return { checked, listings: byAdapter.size }
}
