import { applyStripeEvent } from './commerce'
import type { Deps } from './lib/context'
import type { Job } from './lib/jobs'
import { addBaseToMatrices, validateVersion } from './publishing'

/** Runs one background job; the in-process queue and the Workers queue consumer both call this. */
export async function runJob(deps: Pick<Deps, 'db' | 'store' | 'clock' | 'logger'>, job: Job): Promise<void> {
  if (job.kind === 'validate_version') await validateVersion(deps, job.versionId)
  else if (job.kind === 'base_model_compatibility') await addBaseToMatrices(deps, job.baseId)
  else if (job.kind === 'apply_stripe_event') await applyStripeEvent(deps, job.eventId)
}
