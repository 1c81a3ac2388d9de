import { createHash } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs'
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import { migrate } from 'drizzle-orm/pglite/migrator'

/**
 * A freshly migrated PGlite data dir, dumped once by `npm run build`: a first start loads it
 * instead of running initdb and every migration. It is named by a key
 * of the PGlite version and every file of the migrations folder, so a snapshot of other
 * migrations or of another PGlite is never loaded; the migrator still runs after loading it.
 *
 * It is PGlite's own dump, an uncompressed tar (42 MB), which a first start unpacks straight into
 * the data dir through one reused buffer instead of handing it to PGlite's `loadDataDir`: that one
 * inflates the whole tar in memory and copies every file through the WebAssembly file system, which
 * took the first start's peak RSS from ~200 to 310–390 MiB and left the process ~100 MiB larger
 * for its whole life. Gzipped, the inflater's chunks still held ~30 MiB until V8 collected them.
 */

// Two levels up from src/node/ and, as `npm run build` writes every file flat into dist/node/, from there too.
export const SNAPSHOT_FOLDER = fileURLToPath(new URL('../../dist/pglite-snapshot', import.meta.url))

const SUFFIX = '.tar'

async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true })
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(folder, join(entry.parentPath, entry.name)))
    .sort()
}

function pgliteVersion(): string {
  const require = createRequire(import.meta.url)
  // The package's exports do not list package.json: found next to its entry (dist/index.cjs).
  const entry = require.resolve('@electric-sql/pglite')
  const manifest = require(join(dirname(entry), '..', 'package.json')) as { version: string }
  return manifest.version
}

/** The key a snapshot of these migrations, made by this PGlite, is stored under. */
export async function snapshotKey(migrationsFolder: string): Promise<string> {
  const hash = createHash('sha256').update(`pglite ${pgliteVersion()}\n`)
  for (const file of await filesUnder(migrationsFolder)) {
    const content = await readFile(join(migrationsFolder, file))
    hash.update(`${file}\n${content.length}\n`).update(content)
  }
  return hash.digest('hex').slice(0, 32)
}

/** The path of the snapshot of exactly these migrations, if the folder holds one. */
export async function findSnapshot(folder: string, migrationsFolder: string): Promise<string | undefined> {
  const path = join(folder, (await snapshotKey(migrationsFolder)) + SUFFIX)
  try {
    await access(path)
    return path
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

const BLOCK = 512

/** A ustar header field: the bytes up to the first NUL. */
function field(header: Buffer, offset: number, length: number): string {
  const bytes = header.subarray(offset, offset + length)
  const end = bytes.indexOf(0)
  return bytes.subarray(0, end === -1 ? length : end).toString('utf8')
}

function octal(header: Buffer, offset: number, length: number): number {
  const text = field(header, offset, length).trim()
  if (!/^[0-7]+$/.test(text)) throw new Error(`snapshot: bad number ${JSON.stringify(text)} in a tar header`)
  return parseInt(text, 8)
}

/** Where an entry named `name` goes under `target`; a name leaving it is refused. */
function entryPath(target: string, name: string): string {
  // PGlite's dump names its entries from the data dir's root: `/base/5/1259`.
  const parts = name.split('/').filter((part) => part !== '' && part !== '.')
  if (parts.length === 0 || parts.includes('..')) throw new Error(`snapshot: refused the entry ${JSON.stringify(name)}`)
  return target + sep + parts.join(sep)
}

/**
 * Unpacks the snapshot at `path` into the folder `target` through one reused 1 MiB buffer:
 * regular files (mode 0600) and directories (0700), the only entries PGlite's dump has. A damaged
 * or truncated archive throws. Synchronous calls: nothing else runs before the database is open,
 * and a round trip through the thread pool per file took seconds on a loaded machine.
 */
export function unpackSnapshot(path: string, target: string): void {
  mkdirSync(target, { recursive: true, mode: 0o700 })
  const archive = openSync(path, 'r')
  const buffer = Buffer.allocUnsafe(1024 * 1024)
  /** Reads exactly `length` bytes (≤ the buffer) at `position`. */
  const readAt = (position: number, length: number) => {
    let got = 0
    while (got < length) {
      const read = readSync(archive, buffer, got, length - got, position + got)
      if (read === 0) throw new Error('snapshot: the archive is truncated')
      got += read
    }
    return buffer.subarray(0, length)
  }
  try {
    for (let position = 0; ; ) {
      const header = readAt(position, BLOCK)
      position += BLOCK
      // The archive ends with a zero block.
      if (header.every((byte) => byte === 0)) return
      let sum = 0
      for (let i = 0; i < BLOCK; i += 1) sum += i >= 148 && i < 156 ? 0x20 : header[i]!
      if (sum !== octal(header, 148, 8)) throw new Error('snapshot: a tar header fails its checksum')
      const prefix = field(header, 345, 155)
      const name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100)
      const size = octal(header, 124, 12)
      const type = String.fromCharCode(header[156]!)
      const destination = entryPath(target, name)
      if (type === '5') {
        mkdirSync(destination, { recursive: true, mode: 0o700 })
      } else if (type === '0' || type === '\0') {
        mkdirSync(dirname(destination), { recursive: true, mode: 0o700 })
        const file = openSync(destination, 'wx', 0o600)
        try {
          for (let written = 0; written < size; ) {
            const chunk = readAt(position + written, Math.min(buffer.length, size - written))
            for (let done = 0; done < chunk.length; ) done += writeSync(file, chunk, done)
            written += chunk.length
          }
        } finally {
          closeSync(file)
        }
        position += Math.ceil(size / BLOCK) * BLOCK
      } else {
        throw new Error(`snapshot: unexpected tar entry type ${JSON.stringify(type)} for ${JSON.stringify(name)}`)
      }
    }
  } finally {
    closeSync(archive)
  }
}

/**
 * Writes the snapshot of `migrationsFolder` into `folder` unless it is already there, and removes
 * snapshots of other keys. Returns its path and whether it was built now.
 */
export async function buildSnapshot(options: { folder: string; migrationsFolder: string }): Promise<{ path: string; built: boolean }> {
  const path = join(options.folder, (await snapshotKey(options.migrationsFolder)) + SUFFIX)
  const existing = await readdir(options.folder).catch(() => [] as string[])
  if (existing.includes(relative(options.folder, path))) return { path, built: false }
  await mkdir(options.folder, { recursive: true })
  // In memory: the dump is the same data dir a file-backed initdb writes, without its fsyncs.
  const client = await PGlite.create()
  try {
    await migrate(drizzle(client), { migrationsFolder: options.migrationsFolder })
    const dump = await client.dumpDataDir('none')
    // Written whole, then renamed: a concurrent build or an interrupted one never leaves half a file under the key.
    const partial = `${path}.${process.pid}.partial`
    await writeFile(partial, new Uint8Array(await dump.arrayBuffer()))
    await rename(partial, path)
  } finally {
    await client.close()
  }
  // Earlier builds' snapshots, and gzipped ones from before they were plain tars.
  for (const name of existing) if (name.endsWith(SUFFIX) || name.endsWith('.tar.gz')) await rm(join(options.folder, name), { force: true })
  return { path, built: true }
}
