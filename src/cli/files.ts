import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'

/** The hex sha256 of a file, streamed; `onBytes` sees each chunk's length (for a progress bar). */
export async function sha256File(path: string, onBytes?: (bytes: number) => void) {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    hash.update(chunk)
    onBytes?.(chunk.byteLength)
  }
  return hash.digest('hex')
}
