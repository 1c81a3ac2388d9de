import { eq, sql } from 'drizzle-orm'
import { MAX_FILE_BYTES } from './schemas'
import { adapters } from '../catalog'
import { adapterVersions, versionFiles } from './tables'
import type { Database } from '../db/types'
import { teams } from '../identity'
import { ApiError } from '../lib/errors'
import { formatBytes } from '../lib/format'

/** What one team may store (config: TEAM_STORAGE_QUOTA_BYTES, MAX_FILES_PER_VERSION, MAX_FILE_BYTES). */
export type UploadLimits = { teamStorageBytes: number; filesPerVersion: number; fileBytes: number }

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { teamStorageBytes: 50 * 1024 ** 3, filesPerVersion: 20, fileBytes: MAX_FILE_BYTES }

const exceeded = (quota: 'files_per_version' | 'file_size' | 'team_storage', detail: string, figures: { limit: number; used?: number; requested: number }) =>
  new ApiError('quota_exceeded', detail, { extra: { quota, ...figures } })

/** The declared files alone: how many, and how large each. */
export function assertDeclaredFilesWithin(files: { path: string; size: number }[], limits: UploadLimits) {
  if (files.length > limits.filesPerVersion) {
    throw exceeded('files_per_version', `A version may have at most ${limits.filesPerVersion} files; this one declares ${files.length}.`, {
      limit: limits.filesPerVersion,
      requested: files.length,
    })
  }
  const large = files.find((file) => file.size > limits.fileBytes)
  if (large) {
    throw exceeded('file_size', `${large.path} declares ${formatBytes(large.size)}; a file may have at most ${formatBytes(limits.fileBytes)}.`, {
      limit: limits.fileBytes,
      requested: large.size,
    })
  }
}

/**
 * Bytes a team stores: the declared sizes of every file of every version it has, whatever the
 * status (an upload in progress may still write its full size; a rejected version keeps its
 * objects). Upkeep frees them by removing abandoned uploads and old rejected versions.
 */
export async function teamStorageUsed(db: Database, teamId: string): Promise<number> {
  const [row] = await db
    .select({ used: sql<number>`coalesce(sum(${versionFiles.size}), 0)::float8` })
    .from(versionFiles)
    .innerJoin(adapterVersions, eq(adapterVersions.id, versionFiles.versionId))
    .innerJoin(adapters, eq(adapters.id, adapterVersions.adapterId))
    .where(eq(adapters.teamId, teamId))
  return Number(row?.used ?? 0)
}

/**
 * Throws `quota_exceeded` when `requested` more bytes would take the team past its quota. Inside
 * a transaction, `lock` first takes the team's row, so concurrent createVersion calls of one
 * team check and insert one after the other and cannot both fit in the same free space.
 */
export async function assertStorageWithin(db: Database, teamId: string, requested: number, limits: UploadLimits, options: { lock?: boolean } = {}) {
  if (options.lock) await db.select({ id: teams.id }).from(teams).where(eq(teams.id, teamId)).for('update')
  const used = await teamStorageUsed(db, teamId)
  if (used + requested > limits.teamStorageBytes) {
    throw exceeded(
      'team_storage',
      `The team stores ${formatBytes(used)} of its ${formatBytes(limits.teamStorageBytes)} quota; this version declares ${formatBytes(requested)} more.`,
      { limit: limits.teamStorageBytes, used, requested },
    )
  }
}
