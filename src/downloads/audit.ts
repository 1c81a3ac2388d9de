import { sql } from 'drizzle-orm'
import type { Database } from '../db/types'
import { downloads } from './tables'

/** What a granted download records; the id, the time and `counted` come from the table. */
type NewDownload = Pick<
  typeof downloads.$inferInsert,
  'adapterId' | 'versionId' | 'fileId' | 'userId' | 'entitlementId' | 'bySeller' | 'apiKeyId' | 'clientAddress' | 'userAgent'
>

/**
 * Audit rows for granted downloads, written in batches: one multi-row INSERT (one commit, one
 * WAL flush) for everything granted in the last `flushMs`, instead of a commit per download.
 * The price: rows still buffered when the process dies are lost (at most `flushMs` of them).
 */
export type DownloadLog = {
  record(row: NewDownload): void
  /** Writes what is buffered now. */
  flush(): Promise<void>
  /** Rows recorded and not yet written. */
  pending(): number
}

export function createDownloadLog(db: Database, options: { flushMs: number; logger?: Pick<Console, 'error'> }): DownloadLog & { close(): Promise<void> } {
  let buffer: NewDownload[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let writing: Promise<void> = Promise.resolve()

  async function write(rows: NewDownload[]) {
    try {
      // The batch travels as one JSON parameter: one fixed statement whatever the batch size,
      // instead of a query builder assembling eight parameters per row on the event loop.
      await db.execute(sql`
        insert into ${downloads} (adapter_id, version_id, file_id, user_id, entitlement_id, by_seller, counted, api_key_id, client_address, user_agent)
        select "adapterId", "versionId", "fileId", "userId", "entitlementId", coalesce("bySeller", false), coalesce("bySeller", false), "apiKeyId", "clientAddress", "userAgent"
        from json_to_recordset(${JSON.stringify(rows)}::json) as r(
          "adapterId" uuid, "versionId" uuid, "fileId" uuid, "userId" uuid, "entitlementId" uuid, "bySeller" boolean, "apiKeyId" uuid, "clientAddress" text, "userAgent" text
        )`)
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
    pending: () => buffer.length,
    close: flush,
  }
}
