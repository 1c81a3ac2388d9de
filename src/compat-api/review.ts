import { and, asc, eq, gt, sql } from 'drizzle-orm'
import { z } from 'zod'
import { adapterVersions, versionCompatibility } from '../publishing'
import { type OperatorContext, requireOperator } from '../identity'
import { teams } from '../identity'
import type { Deps } from '../lib/context'
import { decodeCursor, encodeCursor } from '../lib/cursor'
import { ApiError, notFound } from '../lib/errors'
import { registeredBaseModels } from '../registry'
import { findBaseModel, shapeSignature, storedBaseModel } from '../registry'

type ReviewContext = OperatorContext & Pick<Deps, 'jobs' | 'registry'>

const PendingCursor = z.object({ id: z.string().min(1).max(200) })

/** Registrations waiting for an operator, oldest first (operators only). */
export async function listPendingBaseModels(ctx: OperatorContext, query: { cursor?: string | undefined; limit: number }) {
  await requireOperator(ctx)
  const after = query.cursor ? decodeCursor(query.cursor, PendingCursor) : undefined
  const rows = await ctx.db
    .select({ row: registeredBaseModels, team: teams.slug })
    .from(registeredBaseModels)
    .leftJoin(teams, eq(teams.id, registeredBaseModels.teamId))
    .where(and(eq(registeredBaseModels.status, 'pending'), after ? gt(registeredBaseModels.id, after.id) : undefined))
    .orderBy(asc(registeredBaseModels.id))
    .limit(query.limit + 1)
  const page = rows.slice(0, query.limit)
  const last = page.at(-1)
  return {
    items: page.map(({ row, team }) => {
      const facts = storedBaseModel(row)
      return {
        id: row.id,
        team,
        modelType: row.modelType,
        architecture: facts.architecture,
        numHiddenLayers: facts.numHiddenLayers,
        hiddenSize: facts.hiddenSize,
        variantOf: row.variantOf,
        configSha256: row.configSha256,
        sourceRevision: row.sourceRevision,
        config: row.hfConfig,
        registeredAt: row.createdAt.toISOString(),
      }
    }),
    nextCursor: rows.length > query.limit && last ? encodeCursor({ id: last.row.id }) : null,
  }
}

export type ReviewDecision = { decision: 'verify' | 'reject' | 'merge'; into?: string | undefined }

/**
 * An operator's decision on a pending registration. Verify: everyone may use it, and a job adds
 * it to every validated version's matrix. Reject: the row and its matrix rows go, freeing the
 * id. Merge: the id becomes an alias of a verified base with the same layer shapes; versions that
 * declared it now declare the target.
 */
export async function reviewBaseModel(ctx: ReviewContext, id: string, input: ReviewDecision) {
  const operator = await requireOperator(ctx)
  const [row] = await ctx.db.select().from(registeredBaseModels).where(sql`lower(${registeredBaseModels.id}) = lower(${id})`).limit(1)
  if (!row) {
    // Seeded bases are verified from the start; anything else unknown is simply not there.
    if (await findBaseModel(ctx.db, id)) throw notPending(id)
    throw notFound(`The base model registration '${id}'`)
  }
  if (row.status !== 'pending') throw notPending(row.id)
  const facts = storedBaseModel(row)
  const now = ctx.clock()
  const reviewed = { reviewedBy: operator.userId, reviewedAt: now, updatedAt: now }
  const pendingRow = and(eq(registeredBaseModels.id, row.id), eq(registeredBaseModels.status, 'pending'))

  if (input.decision === 'verify') {
    const [updated] = await ctx.db
      .update(registeredBaseModels)
      .set({ status: 'verified', shapeSignature: shapeSignature(facts), ...reviewed })
      .where(pendingRow)
      .returning({ id: registeredBaseModels.id })
    if (!updated) throw notPending(row.id)
    ctx.registry?.invalidate()
    await ctx.jobs.enqueue({ kind: 'base_model_compatibility', baseId: row.id })
    return { id: row.id, status: 'verified' as const, mergedInto: null }
  }

  if (input.decision === 'reject') {
    const deleted = await ctx.db.transaction(async (tx) => {
      const [gone] = await tx.delete(registeredBaseModels).where(pendingRow).returning({ id: registeredBaseModels.id })
      if (gone) await tx.delete(versionCompatibility).where(eq(versionCompatibility.baseModel, row.id))
      return gone
    })
    if (!deleted) throw notPending(row.id)
    ctx.registry?.invalidate()
    return { id: row.id, status: 'rejected' as const, mergedInto: null }
  }

  if (!input.into) throw new ApiError('merge_target_required', 'Say which verified base this one merges into (`into`).')
  const target = await findBaseModel(ctx.db, input.into, 'verified')
  if (!target || target.id === row.id) {
    throw new ApiError('unknown_merge_target', `'${input.into}' is not a verified base model this one could merge into.`)
  }
  // Versions that declared the pending id keep fitting what they now declare.
  if (target.shapeSignature !== shapeSignature(facts)) {
    throw new ApiError('merge_shape_mismatch', `${row.id} and ${target.id} do not have the same layer shapes; reject it instead.`, {
      extra: { target: target.id },
    })
  }
  const merged = await ctx.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(registeredBaseModels)
      .set({ status: 'merged', mergedInto: target.id, ...reviewed })
      .where(pendingRow)
      .returning({ id: registeredBaseModels.id })
    if (!updated) return undefined
    await tx.update(adapterVersions).set({ declaredBase: target.id, updatedAt: now }).where(eq(adapterVersions.declaredBase, row.id))
    await tx.delete(versionCompatibility).where(eq(versionCompatibility.baseModel, row.id))
    return updated
  })
  if (!merged) throw notPending(row.id)
  ctx.registry?.invalidate()
  // Versions validated before the target was known get their row for it (idempotent).
  await ctx.jobs.enqueue({ kind: 'base_model_compatibility', baseId: target.id })
  return { id: row.id, status: 'merged' as const, mergedInto: target.id }
}

const notPending = (id: string) => new ApiError('base_model_not_pending', `'${id}' is not waiting for review.`)
