import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js'
import { type AnyColumn, type SQL, sql } from 'drizzle-orm'

/**
 * The 40-hex commit id a version has on the Hugging Face protocol (`X-Repo-Commit`, `sha`): the
 * first 40 hex digits of sha256("refinery-version:" + the version's id). A version's files never
 * change once declared, so its id alone fixes the commit; derived, never stored, so every version
 * ever created has one, computed alike here and in SQL (`commitIdSql`).
 */
export const commitIdOf = (versionId: string) => bytesToHex(sha256(utf8ToBytes(`${COMMIT_PREFIX}${versionId}`))).slice(0, 40)

/** `commitIdOf` in SQL, for queries that find a version by its commit. */
export const commitIdSql = (versionId: AnyColumn): SQL<string> =>
  sql<string>`left(encode(sha256(convert_to(${COMMIT_PREFIX} || ${versionId}::text, 'UTF8')), 'hex'), 40)`

const COMMIT_PREFIX = 'refinery-version:'

export const COMMIT_ID = /^[0-9a-f]{40}$/
