import { eq } from 'drizzle-orm'
import { adapterVersions } from './tables'
import type { Deps } from '../lib/context'

export { fingerprintRoutes, versionRoutes } from './routes'
export { validateVersion } from './validate'
export { addBaseToMatrices } from './base-compatibility'
export { COMMIT_ID, commitIdOf, commitIdSql } from './commit'
export { listFingerprintMatches } from './fingerprints'
export { CompleteVersionSchema, CreateVersionSchema, FilePathSchema, SemverSchema, VersionParamsSchema } from './schemas'
export { adapterVersions, versionCompatibility, versionFiles } from './tables'
export { completeVersion, createVersion, getVersion, getVersionCompatibility, listVersions, loadVersion, loadVersionFacts, publishVersion, type toVersionView, versionCompatibilityOf, versionsOf } from './versions'

/** Queues every version left in `validating` (a crash or restart mid-validation); validation is idempotent. */
export async function resumeValidations(deps: Pick<Deps, 'db' | 'jobs'>): Promise<number> {
  const stuck = await deps.db.select({ id: adapterVersions.id }).from(adapterVersions).where(eq(adapterVersions.status, 'validating'))
  for (const { id } of stuck) await deps.jobs.enqueue({ kind: 'validate_version', versionId: id })
  return stuck.length
}
