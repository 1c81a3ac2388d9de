import { sha1 } from '@noble/hashes/legacy.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'
import { and, asc, eq, sql } from 'drizzle-orm'
import { loadAdapter } from '../catalog'
import { COMMIT_ID, commitIdOf, commitIdSql } from '../publishing'
import { adapterVersions, versionFiles } from '../publishing'
import { downloadFile } from '../downloads'
import type { Deps, ServiceContext } from '../lib/context'
import { ApiError } from '../lib/errors'

/**
 * The Hugging Face Hub's read protocol over the catalog: a listing is a model repo `team/slug`,
 * a version is a revision (also `main`/`HEAD` for the newest published one, or its commit id).
 * Everything here is a view over the catalog's and downloads' own verbs: the same visibility
 * rules (drafts and unpublished versions do not exist for outsiders) and, for files, the very
 * check, audit and limits of `downloadFile`.
 */

type RepoRef = { team: string; slug: string }

/** The revision `rev` of `team/slug` as the caller may see it, with its files; Hub errors otherwise. */
export async function loadRevision(ctx: ServiceContext, ref: RepoRef, revision: string) {
  const { adapter, team, isMember } = await loadAdapter(ctx, ref.team, ref.slug, 'read').catch((error: unknown) => {
    throw error instanceof ApiError && error.status === 404 ? repoNotFound(ref) : error
  })
  const named =
    revision === 'main' || revision === 'HEAD'
      ? adapter.latestVersion === null
        ? sql`false`
        : eq(adapterVersions.version, adapter.latestVersion)
      : COMMIT_ID.test(revision)
        ? eq(commitIdSql(adapterVersions.id), revision)
        : eq(adapterVersions.version, revision)
  const [version] = await ctx.db
    .select()
    .from(adapterVersions)
    .where(and(eq(adapterVersions.adapterId, adapter.id), named, isMember ? undefined : eq(adapterVersions.status, 'published')))
    .limit(1)
  if (!version) throw revisionNotFound(ref, revision)
  const files = await ctx.db.select().from(versionFiles).where(eq(versionFiles.versionId, version.id)).orderBy(asc(versionFiles.path))
  return { adapter, team, version, files, commit: commitIdOf(version.id) }
}

type Revision = Awaited<ReturnType<typeof loadRevision>>
type FileRow = Revision['files'][number]

/** `GET /api/models/{repo}[/revision/{rev}]`: the model info the Hub answers, with every file's size and sha256. */
export async function modelInfo(ctx: ServiceContext, ref: RepoRef, revision: string) {
  const { adapter, team, version, files, commit } = await loadRevision(ctx, ref, revision)
  const id = `${team.slug}/${adapter.slug}`
  const license = adapter.licenseSpdx?.toLowerCase() ?? 'other'
  const tags = [
    'peft',
    'safetensors',
    'lora',
    `base_model:adapter:${version.declaredBase}`,
    `license:${license}`,
    ...adapter.taskTags,
    ...adapter.domainTags,
    ...adapter.languageTags,
  ]
  return {
    _id: adapter.id,
    id,
    modelId: id,
    author: team.slug,
    sha: commit,
    lastModified: (version.publishedAt ?? version.updatedAt).toISOString(),
    createdAt: adapter.createdAt.toISOString(),
    private: false,
    disabled: adapter.visibility === 'archived',
    // Every listing's files need an entitlement (a free offer is claimed once): the Hub's gated repo.
    gated: 'auto' as const,
    downloads: adapter.downloads,
    likes: 0,
    library_name: 'peft',
    tags,
    cardData: { base_model: version.declaredBase, license, library_name: 'peft', tags: ['lora', ...adapter.taskTags] },
    siblings: files.map((file) => {
      const lfs = lfsOf(file)
      return { rfilename: file.path, size: file.size, blobId: lfs.blobId, lfs: { sha256: file.sha256, size: file.size, pointerSize: lfs.pointerSize } }
    }),
  }
}

/** `GET /api/models/{repo}/tree/{rev}[/{path}]`: a folder's entries (all below it with `recursive`). */
export async function listTree(ctx: ServiceContext, ref: RepoRef, revision: string, options: { path: string; recursive: boolean; expand: boolean }) {
  const { version, files, commit } = await loadRevision(ctx, ref, revision)
  const prefix = options.path === '' ? '' : `${options.path.replace(/\/+$/, '')}/`
  const below = files.filter((file) => file.path.startsWith(prefix))
  if (prefix !== '' && below.length === 0) throw entryNotFound(options.path, commit)
  const lastCommit = options.expand ? { lastCommit: { id: commit, title: `Version ${version.version}`, date: (version.publishedAt ?? version.updatedAt).toISOString() } } : {}
  const entries: Record<string, unknown>[] = []
  const folders = new Set<string>()
  for (const file of below) {
    const rest = file.path.slice(prefix.length)
    const slash = rest.indexOf('/')
    if (slash >= 0 && !options.recursive) {
      const folder = prefix + rest.slice(0, slash)
      if (!folders.has(folder)) {
        folders.add(folder)
        entries.push({ type: 'directory', oid: gitBlobId(`tree ${commit} ${folder}`), size: 0, path: folder, ...lastCommit })
      }
      continue
    }
    if (options.recursive) {
      // Listed recursively, the Hub names every folder on the way too.
      for (let at = rest.indexOf('/'); at >= 0; at = rest.indexOf('/', at + 1)) {
        const folder = prefix + rest.slice(0, at)
        if (folders.has(folder)) continue
        folders.add(folder)
        entries.push({ type: 'directory', oid: gitBlobId(`tree ${commit} ${folder}`), size: 0, path: folder, ...lastCommit })
      }
    }
    const lfs = lfsOf(file)
    entries.push({ type: 'file', oid: lfs.blobId, size: file.size, path: file.path, lfs: { oid: file.sha256, size: file.size, pointerSize: lfs.pointerSize }, ...lastCommit })
  }
  return entries
}

/**
 * `HEAD|GET /{repo}/resolve/{rev}/{path}`: `downloadFile` itself (scope, entitlement, limits,
 * audit, signed URL), with its refusals told in the Hub's terms: which of repo, revision or file
 * is missing, and a gated repo that names the page where it is bought.
 */
export async function resolveFile(
  ctx: Parameters<typeof downloadFile>[0] & Pick<Deps, 'publicUrl'>,
  ref: RepoRef & { revision: string; path: string },
  client: Parameters<typeof downloadFile>[2],
) {
  try {
    return await downloadFile(ctx, { team: ref.team, slug: ref.slug, version: ref.revision, path: ref.path }, client)
  } catch (error) {
    if (!(error instanceof ApiError)) throw error
    if (error.code === 'not_found') {
      const { commit } = await loadRevision(ctx, ref, ref.revision)
      throw entryNotFound(ref.path, commit)
    }
    if (error.code === 'not_entitled' || error.code === 'revoked') {
      const page = `${ctx.publicUrl}/${ref.team}/${ref.slug}`
      const why = error.code === 'revoked' ? 'Your entitlement to it was revoked (refund or chargeback).' : 'Its files are for those who got it through one of its offers.'
      throw new ApiError('gated_repo', `Access to model ${ref.team}/${ref.slug} is restricted. ${why} Get access at ${page}`, { extra: { listing: page } })
    }
    if (error.code === 'unavailable') throw new ApiError('repo_disabled', DISABLED_MESSAGE)
    throw error
  }
}

/** The Hub's exact wording, which huggingface_hub turns into its DisabledRepoError. */
export const DISABLED_MESSAGE = 'Access to this resource is disabled.'

const repoNotFound = (ref: RepoRef) => new ApiError('repo_not_found', `Repository Not Found: ${ref.team}/${ref.slug}.`)
const revisionNotFound = (ref: RepoRef, revision: string) => new ApiError('revision_not_found', `Invalid rev id: ${revision} (no such version of ${ref.team}/${ref.slug}).`)
const entryNotFound = (path: string, commit: string) =>
  new ApiError('entry_not_found', `Entry not found: ${path}.`, { headers: { 'X-Repo-Commit': commit } })

/**
 * Every file is served as the Hub serves LFS files (its ETag is the sha256); its git blob id is
 * that of its LFS pointer, as in a Hub repo.
 */
function lfsOf(file: Pick<FileRow, 'sha256' | 'size'>) {
  const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${file.sha256}\nsize ${file.size}\n`
  return { blobId: gitBlobId(pointer), pointerSize: utf8ToBytes(pointer).length }
}

const gitBlobId = (text: string) => {
  const bytes = utf8ToBytes(text)
  return bytesToHex(sha1(new Uint8Array([...utf8ToBytes(`blob ${bytes.length}\0`), ...bytes])))
}
