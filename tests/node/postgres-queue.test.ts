import { describe, expect, it } from 'vitest'
// postgres.js's internal queue, as patched (patches/postgres+3.4.9.patch); the package exports no types for it.
// @ts-expect-error untyped internal module
import Queue from '../../node_modules/postgres/src/queue.js'

type Q<T> = { length: number; push(x: T): T; shift(): T | undefined; remove(x: T): T | null }

/**
 * The pool keeps its connections in these queues. Under steady load a connection is shifted off
 * `busy` and pushed back for every query, so `busy` never empties; unpatched, each cycle left a
 * slot behind and `remove` scanned them all, and pooled throughput fell from 16k to 6k queries/s
 * within 20 s (bench note in BENCHMARKS.md, "Downloads").
 */
describe('postgres.js connection queue (patched)', () => {
  it('keeps FIFO order, length and remove() through compactions', () => {
    const queue: Q<number> = Queue()
    for (let i = 0; i < 100; i++) queue.push(i)
    const out: number[] = []
    for (let i = 0; i < 60; i++) out.push(queue.shift()!)
    expect(out).toEqual([...Array(60).keys()])
    expect(queue.length).toBe(40)
    expect(queue.remove(75)).toBe(75)
    expect(queue.remove(10)).toBeNull()
    expect(queue.length).toBe(39)
    const rest: number[] = []
    while (queue.length) rest.push(queue.shift()!)
    expect(rest).toEqual([...Array(40).keys()].map((i) => i + 60).filter((i) => i !== 75))
    expect(queue.shift()).toBeUndefined()
    expect(queue.length).toBe(0)
    queue.push(7)
    expect(queue.length).toBe(1)
    expect(queue.shift()).toBe(7)
  })

  it('does not slow down on a queue that never empties (ratio within one run)', () => {
    const connections = Array.from({ length: 10 }, () => ({}))
    const filled = () => {
      const queue: Q<object> = Queue()
      for (const connection of connections) queue.push(connection)
      return queue
    }
    // What the pool does per query: shift a busy connection, remove it (already gone), push it back.
    const cycle = (queue: Q<object>, n: number) => {
      for (let i = 0; i < n; i++) {
        const connection = queue.shift()!
        queue.remove(connection)
        queue.push(connection)
      }
    }
    const time = (queue: Q<object>, n: number) => {
      const started = performance.now()
      cycle(queue, n)
      return performance.now() - started
    }
    // The fastest of five tries, so a GC pause or a descheduled slice does not decide it.
    const fastest = (run: () => number) => Math.max(Math.min(...Array.from({ length: 5 }, run)), 0.02)
    cycle(filled(), 5_000) // JIT warm-up on a queue of its own
    const early = fastest(() => time(filled(), 1_000))
    const queue = filled()
    cycle(queue, 50_000)
    const late = fastest(() => time(queue, 1_000))
    // Unpatched, each late remove() scans ~50,000 left-behind slots, early ones a few hundred.
    expect(late / early).toBeLessThan(8)
    expect(queue.length).toBe(10)
    expect(new Set(Array.from({ length: 10 }, () => queue.shift())).size).toBe(10)
  })
})
