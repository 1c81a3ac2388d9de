/**
 * At most `concurrency` tasks at once, at most `maxWaiting` more in line; beyond that `run`
 * fails at once with `onFull()` instead of queueing without end. Plain promises: runs in workerd.
 */
export type ConcurrencyLimit = {
  run<T>(task: () => Promise<T>): Promise<T>
  /** Tasks running now, waiting now, the most that ever ran at once, and how many were turned away. */
  stats(): { active: number; waiting: number; peakActive: number; rejected: number }
}

export function createConcurrencyLimit(options: { concurrency: number; maxWaiting: number; onFull: () => Error }): ConcurrencyLimit {
  const { concurrency, maxWaiting } = options
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('concurrency must be an integer of at least 1')
  if (!Number.isInteger(maxWaiting) || maxWaiting < 0) throw new Error('maxWaiting must be a non-negative integer')
  let active = 0
  let peakActive = 0
  let rejected = 0
  const queue: (() => void)[] = []

  const release = () => {
    const next = queue.shift()
    // The slot passes straight to the next in line, so a newcomer cannot overtake the queue.
    if (next) next()
    else active -= 1
  }

  return {
    async run(task) {
      if (active >= concurrency) {
        if (queue.length >= maxWaiting) {
          rejected += 1
          throw options.onFull()
        }
        await new Promise<void>((resolve) => queue.push(resolve))
      } else {
        active += 1
        peakActive = Math.max(peakActive, active)
      }
      try {
        return await task()
      } finally {
        release()
      }
    },
    stats: () => ({ active, waiting: queue.length, peakActive, rejected }),
  }
}
