import cliProgress from 'cli-progress'

export type Output = { write(text: string): unknown; isTTY?: boolean }
export type Progress = { advance(bytes: number): void; reset(bytes: number): void; done(note?: string): void }

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB']
export function formatBytes(bytes: number) {
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000
    unit += 1
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`
}

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
