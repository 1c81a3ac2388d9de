import cliProgress from 'cli-progress'
import { formatBytes } from '../lib/format'

export type Output = { write(text: string): unknown; isTTY?: boolean }
export type Progress = { advance(bytes: number): void; reset(bytes: number): void; done(note?: string): void }

/**
 * A byte-progress bar on a terminal (cli-progress); on anything else (CI logs, pipes, tests)
 * one line when the work is done, so logs stay readable.
 */
export function progressBar(stream: Output, label: string, total: number): Progress {
  if (!stream.isTTY) {
    return {
      advance() {},
      reset() {},
      done: (note) => void stream.write(`${label} ${formatBytes(total)}${note ? ` ${note}` : ''}\n`),
    }
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% {done}/{size} {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  )
  let value = 0
  bar.start(total, 0, { done: formatBytes(0), size: formatBytes(total) })
  return {
    advance(bytes) {
      value += bytes
      bar.update(value, { done: formatBytes(value) })
    },
    reset(bytes) {
      value = bytes
      bar.update(value, { done: formatBytes(value) })
    },
    done() {
      bar.update(total, { done: formatBytes(total) })
      bar.stop()
    },
  }
}
