import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { drizzle } from 'drizzle-orm/pglite'
import { migrate } from 'drizzle-orm/pglite/migrator'

/**
 * A freshly migrated PGlite data dir, dumped once by `npm run build`: a first start loads it
 * instead of running initdb and every migration. It is named by a key
 * of the PGlite version and every file of the migrations folder, so a snapshot of other
 * migrations or of another PGlite is never loaded; the migrator still runs after loading it.
 */

// Two levels up from src/node/ and, as `npm run build` writes every file flat into dist/node/, from there too.
export const SNAPSHOT_FOLDER = fileURLToPath(new URL('../../dist/pglite-snapshot', import.meta.url))

const SUFFIX = '.tar.gz'

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

/** The snapshot of exactly these migrations, if the folder holds one. */
export async function readSnapshot(folder: string, migrationsFolder: string): Promise<Blob | undefined> {
  const path = join(folder, (await snapshotKey(migrationsFolder)) + SUFFIX)
  try {
    return new Blob([await readFile(path)])
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
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
    const dump = await client.dumpDataDir('gzip')
    // Written whole, then renamed: a concurrent build or an interrupted one never leaves half a file under the key.
    const partial = `${path}.${process.pid}.partial`
    await writeFile(partial, new Uint8Array(await dump.arrayBuffer()))
    await rename(partial, path)
  } finally {
    await client.close()
  }
  for (const name of existing) if (name.endsWith(SUFFIX)) await rm(join(options.folder, name), { force: true })
  return { path, built: true }
}
