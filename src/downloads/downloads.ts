import { and, eq, or, type Placeholder, sql } from 'drizzle-orm'
import { commitIdSql } from '../publishing'
import { adapters } from '../catalog'
import { adapterVersions, versionFiles } from '../publishing'
import { heldBy } from '../commerce'
import { entitlements } from '../commerce'
import type { Database } from '../db/types'
import { actingOf, actingTeams, type Principal, requireScope } from '../identity'
import { assertTokenCurrent, tokenRevoked } from '../identity'
import { teams, users } from '../identity'
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
  const caller = requireScope(ctx.principal, 'read', { tokenVersionCheckedBy: 'caller' })
  await enforceRateLimit(ctx.rateLimiter, `download:${caller.userId}`, 'downloads')
  const audit = {
    userId: caller.userId,
    apiKeyId: caller.apiKeyId ?? null,
    clientAddress: client.address ?? null,
    userAgent: client.userAgent?.slice(0, 300) ?? null,
  }
  // With a batching log (Node) the grant is recorded below; without one, by the access query
  // itself, in the same statement (a Worker then makes one round trip per download). A store
  // that cannot serve files answers 503 below: nothing is recorded for it.
  const recordsItself = !ctx.downloadLog && ctx.store.kind !== 'none'
  const access = recordsItself ? await grantFileAccess(ctx.db, caller, ref, audit) : await loadFileAccess(ctx.db, caller, ref)
  // The token's version is checked here, in the same query, not by `authenticate` (one round trip less).
  if (caller.uncheckedTokenVersion !== undefined) {
    if (!access) await assertTokenCurrent(ctx, caller.userId, caller.uncheckedTokenVersion)
    else if (!access.tokenCurrent) throw tokenRevoked()
  }
  const name = `${ref.team}/${ref.slug}@${ref.version}/${ref.path}`
  if (!access || (!access.isMember && (access.status !== 'published' || access.visibility === 'draft'))) {
    throw notFound(`The file ${name}`)
  }
  // Seller rights and entitlements are the principal's: a team-bound key has only its team's.
  if (!access.isMember) {
    if (access.visibility === 'archived') throw new ApiError('unavailable', `${ref.team}/${ref.slug} was withdrawn; its files are no longer served.`)
    if (!access.entitlementId) {
      if (access.revoked) throw new ApiError('revoked', 'Your entitlement to this adapter was revoked (refund or chargeback).')
      throw new ApiError('not_entitled', `Get ${ref.team}/${ref.slug} through one of its offers first (listOffers, checkout).`)
    }
  }

  const ttl = ctx.downloadUrlTtlSeconds ?? DEFAULT_DOWNLOAD_URL_TTL_SECONDS
  // The name engines load (adapter_model.safetensors); the version belongs to the folder, not the file.
  const filename = ref.path.split('/').at(-1) ?? ref.path
  // What the file's own response carries where the store can add headers (the local store): Hub
  // clients that follow a redirect to the API's own host read the commit and checksum there.
  const headers = { 'X-Repo-Commit': access.commit, ETag: `"${access.sha256}"` }
  const url = await ctx.store.presignGet(access.storageKey, { expiresInSeconds: ttl, filename, subject: caller.userId, headers })
  if (!recordsItself) {
    const row = {
      ...audit,
      adapterId: access.adapterId,
      versionId: access.versionId,
      fileId: access.fileId,
      entitlementId: access.entitlementId,
      // A member of the selling team (whatever key they use) never adds to the public counters.
      bySeller: access.isMember,
    }
    if (ctx.downloadLog) ctx.downloadLog.record(row)
    else await ctx.db.insert(downloads).values({ ...row, counted: row.bySeller })
  }
  return {
    url,
    expiresAt: new Date(ctx.clock().getTime() + ttl * 1000).toISOString(),
    sha256: access.sha256,
    size: access.size,
    version: access.version,
    commit: access.commit,
  }
}

type Caller = { userId: string | Placeholder; teamId: string | null | Placeholder; uncheckedTokenVersion?: number | Placeholder | undefined }

/**
 * What the check reads about one file for one caller: the version, the file, membership, the
 * live entitlement, a revoked one, and whether the caller's access token is still current.
 */
function accessFields(caller: Caller) {
  const heldByCaller = heldBy(caller)
  const version = caller.uncheckedTokenVersion
  return {
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
    // As `assertTokenCurrent`: current unless the user signed out since (or is gone).
    tokenCurrent:
      version === undefined
        ? sql<boolean>`true`
        : sql<boolean>`coalesce((select ${users.tokenVersion} from ${users} where ${users.id} = ${caller.userId}) <= ${version}::int, false)`,
  }
}

/** The file a reference names, joined with its version, adapter and team. */
function fileAccessSelect(db: Database, ref: { team: string | Placeholder; slug: string | Placeholder; version: string | Placeholder; path: string | Placeholder }, fields: ReturnType<typeof accessFields>) {
  return db
    .select(fields)
    .from(adapters)
    .innerJoin(teams, eq(teams.id, adapters.teamId))
    .innerJoin(adapterVersions, and(eq(adapterVersions.adapterId, adapters.id), revisionIs(ref.version)))
    .innerJoin(versionFiles, and(eq(versionFiles.versionId, adapterVersions.id), eq(versionFiles.path, ref.path)))
    .where(and(eq(teams.slug, ref.team), eq(adapters.slug, ref.slug)))
}

/**
 * Everything the check needs, in one round trip, as a prepared statement: the hot path of every
 * download neither rebuilds the SQL nor (after a few runs) re-plans it.
 */
function fileAccessQuery(db: Database) {
  const placeholder = (name: string) => sql.placeholder(name)
  const caller = { userId: placeholder('userId'), teamId: placeholder('teamId'), uncheckedTokenVersion: placeholder('tokenVersion') }
  const ref = { team: placeholder('team'), slug: placeholder('slug'), version: placeholder('version'), path: placeholder('path') }
  return fileAccessSelect(db, ref, accessFields(caller)).prepare('download_file_access')
}

/**
 * The version a revision names: itself, `main`/`HEAD` for the listing's newest published version,
 * or a commit id (40 hex digits, which no semver is).
 */
function revisionIs(revision: string | Placeholder) {
  return or(
    eq(adapterVersions.version, sql`case when ${revision} in ('main', 'HEAD') then ${adapters.latestVersion} else ${revision} end`),
    and(sql`${revision} ~ '^[0-9a-f]{40}$'`, eq(commitIdSql(adapterVersions.id), revision)),
  )
}

const preparedFor = new WeakMap<Database, ReturnType<typeof fileAccessQuery>>()

type FileRef = { team: string; slug: string; version: string; path: string }
type FileAccess = Awaited<ReturnType<ReturnType<typeof fileAccessQuery>['execute']>>[number]

async function loadFileAccess(db: Database, caller: Principal, ref: FileRef): Promise<FileAccess | undefined> {
  let query = preparedFor.get(db)
  if (!query) preparedFor.set(db, (query = fileAccessQuery(db)))
  // Without a version to check, any integer passes (`tokenCurrent` is then not read).
  const [row] = await query.execute({ ...actingOf(caller), tokenVersion: caller.uncheckedTokenVersion ?? 0, ...ref })
  return row
}

/**
 * The same check that also records the download when it is granted: one statement, one round
 * trip, one commit. The audit row exists exactly when the caller was given the file (the
 * conditions below are `downloadFile`'s, in SQL), and is written before the answer leaves, so
 * none is lost after the response; the counters pick it up at the next rollup.
 */
async function grantFileAccess(db: Database, caller: Principal, ref: FileRef, audit: { userId: string; apiKeyId: string | null; clientAddress: string | null; userAgent: string | null }): Promise<FileAccess | undefined> {
  const fields = accessFields({ ...actingOf(caller), uncheckedTokenVersion: caller.uncheckedTokenVersion })
  // The same columns, each named as its key: the statement below reads them by name.
  const aliased = Object.fromEntries(Object.entries(fields).map(([key, field]) => [key, sql`${field}`.as(key)])) as unknown as typeof fields
  const access = fileAccessSelect(db, ref, aliased)
  const result = await db.execute(sql`
    with access as ${access},
    granted as (
      insert into ${downloads} (adapter_id, version_id, file_id, user_id, entitlement_id, by_seller, counted, api_key_id, client_address, user_agent)
      select "adapterId", "versionId", "fileId", ${audit.userId}::uuid, "entitlementId", "isMember", "isMember", ${audit.apiKeyId}::uuid, ${audit.clientAddress}::text, ${audit.userAgent}::text
      from access
      where "tokenCurrent" and ("isMember" or ("status" = 'published' and "visibility" not in ('draft', 'archived') and "entitlementId" is not null))
    )
    select * from access`)
  const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as (Omit<FileAccess, 'size'> & { size: number | string })[]
  const row = rows[0]
  // A raw statement returns bigint columns as text.
  return row && { ...row, size: Number(row.size) }
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
