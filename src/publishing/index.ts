import { eq } from 'drizzle-orm'
import { adapterVersions } from '../catalog/tables'
import { applyStripeEvent } from '../commerce/webhooks'
import type { Deps } from '../lib/context'
import type { Job } from './jobs'
import { addBaseToMatrices } from './base-compatibility'
import { validateVersion } from './validate'

export { createInProcessQueue, type Job, type JobQueue } from './jobs'
export { versionRoutes } from './routes'
export { fingerprintRoutes } from './fingerprint-routes'
export { validateVersion } from './validate'
export { addBaseToMatrices } from './base-compatibility'
export { markValidationStalled, runMaintenance } from './maintenance'

/** Runs one background job; the in-process queue and the Workers queue consumer both call this. */
export async function runJob(deps: Pick<Deps, 'db' | 'store' | 'clock' | 'logger'>, job: Job): Promise<void> {
  if (job.kind === 'validate_version') await validateVersion(deps, job.versionId)
  else if (job.kind === 'base_model_compatibility') await addBaseToMatrices(deps, job.baseId)
  else if (job.kind === 'apply_stripe_event') await applyStripeEvent(deps, job.eventId)
}

/** Queues every version left in `validating` (a crash or restart mid-validation); validation is idempotent. */
export async function resumeValidations(deps: Pick<Deps, 'db' | 'jobs'>): Promise<number> {
  const stuck = await deps.db.select({ id: adapterVersions.id }).from(adapterVersions).where(eq(adapterVersions.status, 'validating'))
  for (const { id } of stuck) await deps.jobs.enqueue({ kind: 'validate_version', versionId: id })
  return stuck.length
}
