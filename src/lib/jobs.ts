export type Job =
  | { kind: 'validate_version'; versionId: string }
  /** A base was verified: add its row to every validated version's compatibility matrix (idempotent). */
  | { kind: 'base_model_compatibility'; baseId: string }
  /** A stored Stripe event: apply it exactly once (commerce/webhooks.ts; a copy of an applied one changes nothing). */
  | { kind: 'apply_stripe_event'; eventId: string }

/** What a job is about, for logs. */
export const jobSubject = (job: Job) => (job.kind === 'validate_version' ? job.versionId : job.kind === 'base_model_compatibility' ? job.baseId : job.eventId)

/** Where background work goes (validation, matrices, Stripe events): in-process on Node, a Cloudflare Queue on Workers. */
export type JobQueue = { enqueue(job: Job): Promise<void> }

type Logger = Pick<Console, 'error'>

/**
 * The embedded default's queue: runs jobs in this process, one at a time, retrying a failed
 * job with backoff. Work that never succeeds stays in the database in a state a later
 * enqueue (or restart sweep) can finish, so nothing is lost with the process.
 */
export function createInProcessQueue(
  run: (job: Job) => Promise<void>,
  options: { attempts?: number; backoffMs?: number; logger?: Logger } = {},
) {
  const attempts = options.attempts ?? 3
  const backoffMs = options.backoffMs ?? 500
  let tail: Promise<void> = Promise.resolve()
  let pending = 0

  async function runWithRetries(job: Job) {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await run(job)
        return
      } catch (error) {
        if (attempt === attempts) {
          options.logger?.error(`job ${job.kind} ${jobSubject(job)} failed after ${attempts} attempts`, error)
          return
        }
        await new Promise((resolve) => setTimeout(resolve, backoffMs * 2 ** (attempt - 1)))
      }
    }
  }

  return {
    async enqueue(job: Job) {
      pending++
      tail = tail.then(() => runWithRetries(job)).finally(() => pending--)
    },
    /** Resolves once every job enqueued so far has finished (tests, graceful shutdown). */
    async idle() {
      while (pending > 0) await tail
    },
  }
}
