import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { type Io, main } from '../../src/cli/main'
import type { AdapterFile } from './adapters'

/**
 * Runs the CLI in-process as `refinery <argv…>`, capturing what it prints; stdin is the given
 * text. Without a `cwd` it runs in a temporary folder of its own, removed afterwards: a command
 * that writes where it stands (a pull without `--dir`) never writes into the checkout.
 */
export async function runCli(argv: string[], io: Partial<Omit<Io, 'out' | 'err' | 'stdin'>> & { stdin?: string } = {}) {
  let stdout = ''
  let stderr = ''
  const { stdin = '', ...rest } = io
  const scratch = rest.cwd === undefined ? await mkdtemp(join(tmpdir(), 'refinery-cli-cwd-')) : undefined
  try {
    const code = await main(argv, {
      ...rest,
      ...(scratch && { cwd: scratch }),
      stdin: Readable.from([stdin]),
      out: { write: (text: string) => (stdout += text) },
      err: { write: (text: string) => (stderr += text) },
    })
    return { code, stdout, stderr }
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true })
  }
}

/** Writes a PEFT output folder (and any extra files) to disk, as a training run leaves it. */
export async function writeFolder(folder: string, files: AdapterFile[]) {
  for (const file of files) {
    await mkdir(dirname(join(folder, file.path)), { recursive: true })
    await writeFile(join(folder, file.path), file.bytes)
  }
  return folder
}
