import type { Database } from '../db/types'
import { downloads } from './tables'

type NewDownload = typeof downloads.$inferInsert

/**
 * Audit rows for granted downloads, written in batches: one multi-row INSERT (one commit, one
 * WAL flush) for everything granted in the last `flushMs`, instead of a commit per download.
 * The price: rows still buffered when the process dies are lost (at most `flushMs` of them).
 */
export type DownloadLog = {
  record(row: NewDownload): void
  /** Writes what is buffered now. */
  flush(): Promise<void>
}

export function createDownloadLog(db: Database, options: { flushMs: number; logger?: Pick<Console, 'error'> }): DownloadLog & { close(): Promise<void> } {
  let buffer: NewDownload[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let writing: Promise<void> = Promise.resolve()

  async function write(rows: NewDownload[]) {
    try {
      for (let i = 0; i < rows.length; i += 1000) await db.insert(downloads).values(rows.slice(i, i + 1000))
    } catch (error) {
      // Kept for the next flush: the database may be back by then.
      buffer = [...rows, ...buffer].slice(0, 100_000)
      options.logger?.error('download audit write failed; will retry', error)
    }
  }

  function flush() {
    if (timer) clearTimeout(timer)
    timer = undefined
    const rows = buffer
    buffer = []
    if (rows.length > 0) writing = writing.then(() => write(rows))
    return writing
  }

  return {
    record(row) {
      buffer.push(row)
      if (!timer && options.flushMs > 0) {
        timer = setTimeout(() => void flush(), options.flushMs)
        ;(timer as { unref?: () => void }).unref?.()
      }
    },
    flush,
    close: flush,
  }
}
