import { and, eq, or, type Placeholder, sql } from 'drizzle-orm'
import { commitIdSql } from '../catalog/commit'
import { adapters, adapterVersions, versionFiles } from '../catalog/tables'
import { heldBy } from '../commerce/entitlements'
import { entitlements } from '../commerce/tables'
import type { Database } from '../db/types'
import { actingOf, actingTeams, requireScope } from '../identity/principal'
import { teams } from '../identity/tables'
import type { Deps, ServiceContext } from '../lib/context'
import { ApiError, notFound } from '../lib/errors'
import { enforceRateLimit } from '../lib/rate-limit'
import { countedDownloads, downloads } from './tables'

export const DEFAULT_DOWNLOAD_URL_TTL_SECONDS = 15 * 60

type DownloadDeps = ServiceContext & Pick<Deps, 'store' | 'downloadUrlTtlSeconds' | 'rateLimiter' | 'downloadLog'>

/**
 * Authorises one file download and hands out a short-lived URL for it. Every request is checked
 * against the database — the version must be published (or the caller on the seller team) and
 * the caller must hold a live entitlement — in one query; then one audit row is written.
 * `version` is a version, or (for the Hugging Face protocol) `main`/`HEAD` for the newest
 * published one or a version's 40-hex commit id; the answer names the version and commit served.
 */
export async function downloadFile(ctx: DownloadDeps, ref: { team: string; slug: string; version: string; path: string }, client: { address?: string; userAgent?: string }) {
  const caller = requireScope(ctx.principal, 'read')
  await enforceRateLimit(ctx.rateLimiter, `download:${caller.userId}`, 'downloads')
  const access = await loadFileAccess(ctx.db, actingOf(caller), ref)
  const name = `${ref.team}/${ref.slug}@${ref.version}/${ref.path}`
  if (!access || (!access.isMember && (access.status !== 'published' || access.visibility === 'draft'))) {
    throw notFound(`The file ${name}`)
  }
  // Seller rights and entitlements are the principal's: a team-bound key has only its team's.
  if (!access.isMember) {
    if (access.visibility === 'archived') throw new ApiError(410, 'unavailable', `${ref.team}/${ref.slug} was withdrawn; its files are no longer served.`)
    if (!access.entitlementId) {
      if (access.revoked) throw new ApiError(403, 'revoked', 'Your entitlement to this adapter was revoked (refund or chargeback).')
      throw new ApiError(403, 'not_entitled', `Get ${ref.team}/${ref.slug} through one of its offers first (listOffers, checkout).`)
    }
  }

  const ttl = ctx.downloadUrlTtlSeconds ?? DEFAULT_DOWNLOAD_URL_TTL_SECONDS
  // The name engines load (adapter_model.safetensors); the version belongs to the folder, not the file.
  const filename = ref.path.split('/').at(-1) ?? ref.path
  // What the file's own response carries where the store can add headers (the local store): Hub
  // clients that follow a redirect to the API's own host read the commit and checksum there.
  const headers = { 'X-Repo-Commit': access.commit, ETag: `"${access.sha256}"` }
  const url = await ctx.store.presignGet(access.storageKey, { expiresInSeconds: ttl, filename, subject: caller.userId, headers })
  const audit = {
    adapterId: access.adapterId,
    versionId: access.versionId,
    fileId: access.fileId,
    userId: caller.userId,
    entitlementId: access.entitlementId,
    // A member of the selling team (whatever key they use) never adds to the public counters.
    bySeller: access.isMember,
    apiKeyId: caller.apiKeyId ?? null,
    clientAddress: client.address ?? null,
    userAgent: client.userAgent?.slice(0, 300) ?? null,
  }
  if (ctx.downloadLog) ctx.downloadLog.record(audit)
  else await ctx.db.insert(downloads).values({ ...audit, counted: audit.bySeller })
  return {
    url,
    expiresAt: new Date(ctx.clock().getTime() + ttl * 1000).toISOString(),
    sha256: access.sha256,
    size: access.size,
    version: access.version,
    commit: access.commit,
  }
}

/**
 * Everything the check needs, in one round trip, as a prepared statement: the hot path of every
 * download neither rebuilds the SQL nor (after a few runs) re-plans it.
 */
function fileAccessQuery(db: Database) {
  const caller = { userId: sql.placeholder('userId'), teamId: sql.placeholder('teamId') }
  const heldByCaller = heldBy(caller)
  return db
    .select({
      adapterId: adapters.id,
      visibility: adapters.visibility,
      versionId: adapterVersions.id,
      version: adapterVersions.version,
      commit: commitIdSql(adapterVersions.id),
      status: adapterVersions.status,
      fileId: versionFiles.id,
      size: versionFiles.size,
      sha256: versionFiles.sha256,
      storageKey: versionFiles.storageKey,
      isMember: sql<boolean>`${teams.id} in ${actingTeams(caller)}`,
      entitlementId: sql<string | null>`(select ${entitlements.id} from ${entitlements} where ${entitlements.adapterId} = ${adapters.id} and ${entitlements.revokedAt} is null and ${heldByCaller} limit 1)`,
      revoked: sql<boolean>`exists (select 1 from ${entitlements} where ${entitlements.adapterId} = ${adapters.id} and ${entitlements.revokedAt} is not null and ${heldByCaller})`,
    })
    .from(adapters)
    .innerJoin(teams, eq(teams.id, adapters.teamId))
    .innerJoin(adapterVersions, and(eq(adapterVersions.adapterId, adapters.id), revisionIs(sql.placeholder('version'))))
    .innerJoin(versionFiles, and(eq(versionFiles.versionId, adapterVersions.id), eq(versionFiles.path, sql.placeholder('path'))))
    .where(and(eq(teams.slug, sql.placeholder('team')), eq(adapters.slug, sql.placeholder('slug'))))
    .prepare('download_file_access')
}

/**
 * The version a revision names: itself, `main`/`HEAD` for the listing's newest published version,
 * or a commit id (40 hex digits, which no semver is).
 */
function revisionIs(revision: Placeholder) {
  return or(
    eq(adapterVersions.version, sql`case when ${revision} in ('main', 'HEAD') then ${adapters.latestVersion} else ${revision} end`),
    and(sql`${revision} ~ '^[0-9a-f]{40}$'`, eq(commitIdSql(adapterVersions.id), revision)),
  )
}

const preparedFor = new WeakMap<Database, ReturnType<typeof fileAccessQuery>>()

async function loadFileAccess(db: Database, caller: { userId: string; teamId: string | null }, ref: { team: string; slug: string; version: string; path: string }) {
  let query = preparedFor.get(db)
  if (!query) preparedFor.set(db, (query = fileAccessQuery(db)))
  const [row] = await query.execute({ ...caller, ...ref })
  return row
}

/**
 * Rolls the downloads not counted yet into their version's and adapter's counters (search sorts
 * by them; the sales report shows them) and marks them counted, in one statement. A counter
 * grows by one per (version, entitlement holder) the first time that holder downloads from that
 * version (`counted_downloads` keeps the pairs; the insert's conflict skips repeats); rows by
 * the selling team's members add nothing. Per claimed row that is one primary-key lookup of its
 * entitlement and one of its pair. Safe to run from several places at once: rows are claimed
 * with SKIP LOCKED, and two runs inserting the same new pair count it once.
 */
export async function rollupDownloads(db: Database): Promise<number> {
  const result = await db.execute(sql`
    with claimed as (
      update ${downloads} set counted = true
      where id in (select id from ${downloads} where not counted order by id limit 10000 for update skip locked)
      returning version_id, adapter_id, entitlement_id, by_seller, created_at
    ), fresh as (
      insert into ${countedDownloads} (version_id, holder_id, adapter_id, first_at)
      select c.version_id, coalesce(e.team_id, e.user_id), c.adapter_id, min(c.created_at)
      from claimed c join ${entitlements} e on e.id = c.entitlement_id
      where not c.by_seller
      group by c.version_id, coalesce(e.team_id, e.user_id), c.adapter_id
      on conflict do nothing
      returning version_id, adapter_id
    ), per_version as (
      update ${adapterVersions} v set downloads = v.downloads + f.n
      from (select version_id, count(*)::int n from fresh group by version_id) f where v.id = f.version_id
      returning v.id
    ), per_adapter as (
      update ${adapters} a set downloads = a.downloads + f.n
      from (select adapter_id, count(*)::int n from fresh group by adapter_id) f where a.id = f.adapter_id
      returning a.id
    )
    select count(*)::int as counted from claimed`)
  const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { counted: number }[]
  return rows[0]?.counted ?? 0
}
