import { and, desc, eq, sql } from 'drizzle-orm'
import type { z } from 'zod'
import type { Deps, ServiceContext } from '../lib/context'
import { ApiError, notFound } from '../lib/errors'
import { uniqueViolation } from '../db/types'
import { assertKeyMayActFor, requireScope } from '../identity'
import type { Principal } from '../identity'
import type { TeamRole } from '../identity'
import { teamMembers, teams } from '../identity'
import { loadTeamAs } from '../identity'
import type { CreateAdapterSchema, UpdateAdapterSchema } from './schemas'
import { adapters } from './tables'

type AdapterRow = typeof adapters.$inferSelect

export const toAdapterView = (adapter: AdapterRow, teamSlug: string) => ({
  id: adapter.id,
  team: teamSlug,
  slug: adapter.slug,
  title: adapter.title,
  summary: adapter.summary,
  description: adapter.description,
  tags: { task: adapter.taskTags, domain: adapter.domainTags, language: adapter.languageTags },
  license: {
    spdx: adapter.licenseSpdx,
    text: adapter.licenseText,
    commercialUse: adapter.commercialUse,
    derivatives: adapter.derivativesAllowed,
  },
  visibility: adapter.visibility,
  downloads: adapter.downloads,
  rating: { average: adapter.ratingAverage, count: adapter.ratingCount },
  latestVersion: adapter.latestVersion,
  compatibleBases: adapter.compatKeys.filter((key) => !key.includes('|')),
  publishedAt: adapter.publishedAt?.toISOString() ?? null,
  createdAt: adapter.createdAt.toISOString(),
  updatedAt: adapter.updatedAt.toISOString(),
})

const listingColumns = (input: z.infer<typeof UpdateAdapterSchema>) => ({
  ...(input.title !== undefined && { title: input.title }),
  ...(input.summary !== undefined && { summary: input.summary }),
  ...(input.description !== undefined && { description: input.description }),
  ...(input.tags && { taskTags: input.tags.task, domainTags: input.tags.domain, languageTags: input.tags.language }),
  ...(input.license && {
    licenseSpdx: input.license.spdx ?? null,
    licenseText: input.license.text ?? null,
    commercialUse: input.license.commercialUse,
    derivativesAllowed: input.license.derivatives,
  }),
  ...(input.visibility && { visibility: input.visibility }),
})

export async function createAdapter(ctx: ServiceContext, input: z.infer<typeof CreateAdapterSchema>) {
  const caller = requireScope(ctx.principal, 'publish')
  const { team } = await loadTeamAs(ctx.db, caller, input.team)
  const { license } = input
  try {
    const [adapter] = await ctx.db
      .insert(adapters)
      .values({
        teamId: team.id,
        slug: input.slug,
        title: input.title,
        summary: input.summary,
        description: input.description,
        taskTags: input.tags.task,
        domainTags: input.tags.domain,
        languageTags: input.tags.language,
        licenseSpdx: license.spdx ?? null,
        licenseText: license.text ?? null,
        commercialUse: license.commercialUse,
        derivativesAllowed: license.derivatives,
        visibility: input.visibility,
      })
      .returning()
    if (!adapter) throw new Error('insert returned no adapter')
    return toAdapterView(adapter, team.slug)
  } catch (error) {
    if (uniqueViolation(error) !== undefined) {
      throw new ApiError('adapter_slug_taken', `The team '${team.slug}' already has an adapter '${input.slug}'.`)
    }
    throw error
  }
}

/**
 * Loads `{team}/{slug}` as the caller sees it. Drafts exist only for the seller team's members;
 * to everyone else they are 404, like unknown adapters. `write` also demands the publish scope
 * and membership.
 */
/**
 * The caller's membership of the team a query joins as `teams`: the join to the caller's
 * `team_members` row (none for an anonymous caller), and whether that makes the caller a member
 * here. The holder rule: a key bound to another team is no member of this one.
 */
function membershipOf(caller: Principal | null) {
  return {
    on: and(eq(teamMembers.teamId, teams.id), caller ? eq(teamMembers.userId, caller.userId) : sql`false`),
    isMember: (row: { role: TeamRole | null; team: { id: string } }) => Boolean(row.role) && (!caller?.teamId || caller.teamId === row.team.id),
  }
}

export async function loadAdapter(ctx: ServiceContext, teamSlug: string, slug: string, access: 'read' | 'write') {
  const caller = access === 'write' ? requireScope(ctx.principal, 'publish') : ctx.principal
  const membership = membershipOf(caller)
  const [row] = await ctx.db
    .select({ adapter: adapters, team: teams, role: teamMembers.role })
    .from(adapters)
    .innerJoin(teams, eq(teams.id, adapters.teamId))
    .leftJoin(teamMembers, membership.on)
    .where(and(eq(teams.slug, teamSlug), eq(adapters.slug, slug)))
    .limit(1)
  const isMember = row !== undefined && membership.isMember(row)
  if (!row || (row.adapter.visibility === 'draft' && !isMember)) throw notFound(`The adapter '${teamSlug}/${slug}'`)
  if (access === 'write' && caller) {
    if (!row.role) throw new ApiError('not_team_member', `Only members of '${teamSlug}' may change this adapter.`)
    assertKeyMayActFor(caller, row.team.id)
  }
  return { adapter: row.adapter, team: row.team, isMember }
}

/** A listing `loadAdapter` resolved and access-checked: what verbs that take an already-loaded listing accept. */
export type LoadedAdapter = Awaited<ReturnType<typeof loadAdapter>>

export async function getAdapter(ctx: ServiceContext, teamSlug: string, slug: string) {
  const { adapter, team } = await loadAdapter(ctx, teamSlug, slug, 'read')
  return toAdapterView(adapter, team.slug)
}

export async function updateAdapter(
  ctx: ServiceContext & Pick<Deps, 'searchCache'>,
  teamSlug: string,
  slug: string,
  patch: z.infer<typeof UpdateAdapterSchema>,
) {
  const { adapter, team } = await loadAdapter(ctx, teamSlug, slug, 'write')
  const [updated] = await ctx.db
    .update(adapters)
    .set({ ...listingColumns(patch), updatedAt: ctx.clock() })
    .where(eq(adapters.id, adapter.id))
    .returning()
  if (!updated) throw notFound(`The adapter '${teamSlug}/${slug}'`)
  ctx.searchCache?.clear()
  return toAdapterView(updated, team.slug)
}

/** Listings one team page shows; a team with more is an outlier the page need not page through yet. */
const TEAM_LISTINGS_LIMIT = 200

/**
 * A team's listings, newest first: all of them, with their visibility, for the team's members;
 * only published ones for everyone else (drafts, unlisted and archived listings stay off the
 * public team page). 404 for an unknown team.
 */
export async function listTeamAdapters(ctx: ServiceContext, teamSlug: string) {
  const membership = membershipOf(ctx.principal)
  const [row] = await ctx.db
    .select({ team: teams, role: teamMembers.role })
    .from(teams)
    .leftJoin(teamMembers, membership.on)
    .where(eq(teams.slug, teamSlug))
    .limit(1)
  if (!row) throw notFound(`The team '${teamSlug}'`)
  const isMember = membership.isMember(row)
  const rows = await ctx.db
    .select()
    .from(adapters)
    .where(and(eq(adapters.teamId, row.team.id), isMember ? undefined : eq(adapters.visibility, 'published')))
    .orderBy(desc(adapters.createdAt), desc(adapters.id))
    .limit(TEAM_LISTINGS_LIMIT)
  return { items: rows.map((adapter) => toAdapterView(adapter, row.team.slug)) }
}
