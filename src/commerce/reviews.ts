import { and, desc, eq, sql } from 'drizzle-orm'
import { z } from 'zod'
import { findCoveringEntitlement } from './entitlements'
import { millis } from '../db/columns'
import { uniqueViolation } from '../db/types'
import { type Principal, requireScope } from '../identity'
import { users } from '../identity'
import { belongsTo, loadHolder } from '../identity'
import type { Deps, ServiceContext } from '../lib/context'
import { CursorTimestamp, CursorUuid, decodeCursor, encodeCursor } from '../lib/cursor'
import { ApiError, notFound } from '../lib/errors'
import { loadVersion } from '../publishing'
import type { CreateReviewSchema, UpdateReviewSchema } from './schemas'
import { type LoadedAdapter, loadAdapter } from '../catalog'
import { adapters } from '../catalog'
import { adapterVersions } from '../publishing'
import { reviews } from './tables'

type ReviewRow = typeof reviews.$inferSelect

const toReviewView = (review: ReviewRow, author: string, version: string, team: string | null) => ({
  id: review.id,
  version,
  rating: review.rating,
  text: review.text,
  author,
  team,
  createdAt: review.createdAt.toISOString(),
})

/**
 * Only verified buyers review: the holder the review is for — the caller personally, the team
 * they name, or a team-bound key's team — must hold a live entitlement to the adapter; the
 * review records that team and the person who wrote it. Members of the seller team cannot
 * review its listing, whichever key they call with.
 */
export async function createReview(
  ctx: ServiceContext & Pick<Deps, 'searchCache'>,
  teamSlug: string,
  slug: string,
  version: string,
  input: z.infer<typeof CreateReviewSchema>,
) {
  const caller = requireScope(ctx.principal, 'purchase')
  const loaded = await loadVersion(ctx, teamSlug, slug, version, 'read')
  if (loaded.version.status !== 'published') throw new ApiError('version_not_published', 'Only published versions can be reviewed.')
  if (loaded.isMember || (await belongsTo(ctx.db, caller.userId, loaded.team.id))) {
    throw new ApiError('own_adapter', 'Sellers cannot review their own adapter.')
  }
  const { holder, team: reviewerTeam } = await loadHolder(ctx.db, caller, input.team)

  const entitlement = await findCoveringEntitlement(ctx.db, holder, loaded.adapter.id)
  if (!entitlement) {
    throw new ApiError('not_entitled', 'Only buyers holding an entitlement to this adapter can review it.')
  }

  try {
    const review = await ctx.db.transaction(async (tx) => {
      const [review] = await tx
        .insert(reviews)
        .values({
          adapterId: loaded.adapter.id,
          versionId: loaded.version.id,
          userId: caller.userId,
          teamId: reviewerTeam?.id ?? null,
          rating: input.rating,
          text: input.text,
        })
        .returning()
      if (!review) throw new Error('insert returned no review')
      await tx
        .update(adapters)
        .set({
          ratingAverage: sql`(${adapters.ratingAverage} * ${adapters.ratingCount} + ${input.rating}) / (${adapters.ratingCount} + 1)`,
          ratingCount: sql`${adapters.ratingCount} + 1`,
        })
        .where(eq(adapters.id, loaded.adapter.id))
      return review
    })
    ctx.searchCache?.clear() // ratings order search results
    const [author] = await ctx.db.select({ name: users.name }).from(users).where(eq(users.id, caller.userId))
    return toReviewView(review, author?.name ?? '', version, reviewerTeam?.slug ?? null)
  } catch (error) {
    if (uniqueViolation(error) !== undefined) {
      throw new ApiError('review_exists', `${reviewerTeam ? `The team '${reviewerTeam.slug}' has` : 'You have'} already reviewed version ${version}.`)
    }
    throw error
  }
}

/**
 * The caller's own review, locked for a change: written by them and, for a team-bound key, for
 * its team (a key acts only as its team). Anyone else's review is not found.
 */
async function loadOwnReview(tx: Parameters<Parameters<ServiceContext['db']['transaction']>[0]>[0], caller: Principal, id: string) {
  const [row] = await tx
    .select({ review: reviews, version: adapterVersions.version, author: users.name, team: sql<string | null>`(select slug from teams where id = ${reviews.teamId})` })
    .from(reviews)
    .innerJoin(users, eq(users.id, reviews.userId))
    .innerJoin(adapterVersions, eq(adapterVersions.id, reviews.versionId))
    .where(and(eq(reviews.id, id), eq(reviews.userId, caller.userId), caller.teamId ? eq(reviews.teamId, caller.teamId) : undefined))
    .for('update', { of: reviews })
  if (!row) throw notFound(`The review ${id}`)
  return row
}

/** The listing's rating from its reviews as they now are, in the same transaction as the change. */
async function recountRating(tx: Parameters<Parameters<ServiceContext['db']['transaction']>[0]>[0], adapterId: string) {
  await tx
    .update(adapters)
    .set({
      ratingAverage: sql`coalesce((select avg(${reviews.rating}) from ${reviews} where ${reviews.adapterId} = ${adapterId}), 0)`,
      ratingCount: sql`(select count(*) from ${reviews} where ${reviews.adapterId} = ${adapterId})`,
    })
    .where(eq(adapters.id, adapterId))
}

/** `updateReview`: its author changes the rating or the text; the listing's rating follows. */
export async function updateReview(ctx: ServiceContext & Pick<Deps, 'searchCache'>, id: string, patch: z.infer<typeof UpdateReviewSchema>) {
  const caller = requireScope(ctx.principal, 'purchase')
  const view = await ctx.db.transaction(async (tx) => {
    const row = await loadOwnReview(tx, caller, id)
    const [updated] = await tx
      .update(reviews)
      .set({ ...patch, updatedAt: sql`now()` })
      .where(eq(reviews.id, id))
      .returning()
    if (patch.rating !== undefined) await recountRating(tx, row.review.adapterId)
    return toReviewView(updated!, row.author, row.version, row.team)
  })
  ctx.searchCache?.clear()
  return view
}

/** `deleteReview`: its author withdraws it; they may write a new one for that version. */
export async function deleteReview(ctx: ServiceContext & Pick<Deps, 'searchCache'>, id: string) {
  const caller = requireScope(ctx.principal, 'purchase')
  const view = await ctx.db.transaction(async (tx) => {
    const row = await loadOwnReview(tx, caller, id)
    await tx.delete(reviews).where(eq(reviews.id, id))
    await recountRating(tx, row.review.adapterId)
    return toReviewView(row.review, row.author, row.version, row.team)
  })
  ctx.searchCache?.clear()
  return view
}

/** A reviews cursor: the last review's creation time and id. */
const ReviewCursorSchema = z.object({ at: CursorTimestamp, id: CursorUuid })

export async function listReviews(ctx: ServiceContext, teamSlug: string, slug: string, query: { cursor?: string | undefined; limit: number }) {
  return reviewsOf(ctx, await loadAdapter(ctx, teamSlug, slug, 'read'), query)
}

/** `listReviews` of a listing already loaded, and access-checked, by `loadAdapter` (as the same caller). */
export async function reviewsOf(ctx: ServiceContext, listing: Pick<LoadedAdapter, 'adapter'>, query: { cursor?: string | undefined; limit: number }) {
  const { adapter } = listing
  const after = query.cursor ? decodeCursor(query.cursor, ReviewCursorSchema) : undefined
  const rows = await ctx.db
    .select({ review: reviews, author: users.name, version: adapterVersions.version, team: sql<string | null>`(select slug from teams where id = ${reviews.teamId})` })
    .from(reviews)
    .innerJoin(users, eq(users.id, reviews.userId))
    .innerJoin(adapterVersions, eq(adapterVersions.id, reviews.versionId))
    .where(
      and(
        eq(reviews.adapterId, adapter.id),
        after ? sql`(${millis(reviews.createdAt)}, ${reviews.id}) < (${after.at}::timestamptz, ${after.id}::uuid)` : undefined,
      ),
    )
    .orderBy(desc(millis(reviews.createdAt)), desc(reviews.id))
    .limit(query.limit + 1)
  const page = rows.slice(0, query.limit)
  const last = page.at(-1)
  return {
    items: page.map((row) => toReviewView(row.review, row.author, row.version, row.team)),
    ratingAverage: adapter.ratingAverage,
    ratingCount: adapter.ratingCount,
    nextCursor:
      rows.length > query.limit && last
        ? encodeCursor({ at: last.review.createdAt.toISOString(), id: last.review.id })
        : null,
  }
}
