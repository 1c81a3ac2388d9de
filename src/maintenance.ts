import { and, eq, inArray, lt } from 'drizzle-orm'
import { adapterVersions, versionFiles } from './publishing/tables'
import { requeueStripeEvents } from './commerce/webhooks'
import type { Deps } from './lib/context'
import { deleteEndedRateLimitWindows } from './lib/rate-limit-postgres'
import { UPLOAD_URL_TTL_SECONDS } from './publishing/versions'

/** An upload session is abandoned once its URLs have expired and a day more has passed. */
export const ABANDONED_UPLOAD_AFTER_MS = (UPLOAD_URL_TTL_SECONDS + 24 * 60 * 60) * 1000
/** A validation that has not finished in this long is queued again (it is idempotent). */
export const STUCK_VALIDATION_AFTER_MS = 15 * 60 * 1000
/** A stored Stripe event not applied this long after it arrived is queued again (applying is exactly-once). */
export const STUCK_STRIPE_EVENT_AFTER_MS = 5 * 60 * 1000

/**
 * Periodic upkeep (a timer on Node, the `scheduled` handler on Workers): versions left in
 * `uploading` past their URLs' life lose their objects (multipart uploads aborted) and their
 * rows, and so do rejected versions as long after their rejection (the seller has read the
 * findings; the team's storage quota counts their bytes until then); versions stuck in
 * `validating` are queued again, and so are stored Stripe events whose job was lost or gave up;
 * rate-limit windows that have ended are deleted.
 */
export async function runMaintenance(deps: Pick<Deps, 'db' | 'store' | 'jobs' | 'clock'>) {
  const now = deps.clock().getTime()
  const expiredBefore = new Date(now - ABANDONED_UPLOAD_AFTER_MS)
  const removable = await deps.db
    .select({ id: adapterVersions.id, status: adapterVersions.status })
    .from(adapterVersions)
    .where(and(inArray(adapterVersions.status, ['uploading', 'rejected']), lt(adapterVersions.updatedAt, expiredBefore)))
  for (const { id, status } of removable) {
    const files = await deps.db.select().from(versionFiles).where(eq(versionFiles.versionId, id))
    for (const file of files) {
      if (file.multipartUploadId) await deps.store.abortMultipart({ key: file.storageKey, uploadId: file.multipartUploadId }).catch(() => {})
      await deps.store.delete(file.storageKey)
    }
    // Only if its status is unchanged: a seller completing an upload meanwhile wins.
    await deps.db.transaction(async (tx) => {
      const [still] = await tx
        .select({ id: adapterVersions.id })
        .from(adapterVersions)
        .where(and(eq(adapterVersions.id, id), eq(adapterVersions.status, status)))
        .for('update')
      if (!still) return
      await tx.delete(versionFiles).where(eq(versionFiles.versionId, id))
      await tx.delete(adapterVersions).where(eq(adapterVersions.id, id))
    })
  }
  const stuck = await deps.db
    .select({ id: adapterVersions.id })
    .from(adapterVersions)
    .where(and(inArray(adapterVersions.status, ['validating']), lt(adapterVersions.updatedAt, new Date(now - STUCK_VALIDATION_AFTER_MS))))
  for (const { id } of stuck) await deps.jobs.enqueue({ kind: 'validate_version', versionId: id })
  // The shared rate-limit backend's rows outlive their window only until here.
  await deleteEndedRateLimitWindows(deps.db, new Date(now))
  const requeuedStripeEvents = await requeueStripeEvents(deps, new Date(now - STUCK_STRIPE_EVENT_AFTER_MS))
  return {
    expiredUploads: removable.filter((version) => version.status === 'uploading').length,
    removedRejected: removable.filter((version) => version.status === 'rejected').length,
    requeuedValidations: stuck.length,
    requeuedStripeEvents,
  }
}

/**
 * A validation job that exhausted its retries (the queue's dead letter) leaves a mark on the
 * version, so the seller sees why it is still `validating`; upkeep keeps requeuing it, and a
 * run that succeeds replaces the mark with the real findings.
 */
export async function markValidationStalled(deps: Pick<Deps, 'db' | 'clock'>, versionId: string, attempts: number, error: unknown) {
  const reason = error instanceof Error ? error.message : String(error)
  await deps.db
    .update(adapterVersions)
    .set({
      findings: [
        {
          code: 'validation_stalled',
          severity: 'warning',
          message: `Validation could not run after ${attempts} attempts (${reason.slice(0, 200)}); it is retried every few minutes.`,
        },
      ],
      updatedAt: deps.clock(),
    })
    .where(and(eq(adapterVersions.id, versionId), eq(adapterVersions.status, 'validating')))
}
