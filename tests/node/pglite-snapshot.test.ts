import { existsSync } from 'node:fs'
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatabaseHandle } from '../../src/node/database'
import { MIGRATIONS_FOLDER, openDatabase } from '../../src/node/database'
import { buildSnapshot, snapshotKey, unpackSnapshot } from '../../src/node/pglite-snapshot'

// The first start of the embedded database from the build's migrated snapshot (issue 24).
let root: string
let snapshotFolder: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'refinery-snapshot-'))
  snapshotFolder = join(root, 'snapshots')
  expect(await buildSnapshot({ folder: snapshotFolder, migrationsFolder: MIGRATIONS_FOLDER })).toMatchObject({ built: true })
}, 120_000)
afterAll(() => rm(root, { recursive: true, force: true }))

// PGlite answers execute() with {rows}.
const rowsOf = async (database: DatabaseHandle, query: ReturnType<typeof sql>) => ((await database.db.execute(query)) as unknown as { rows: unknown[] }).rows

/** Everything a migration can create, as text: tables and columns, constraints, indexes, functions, triggers. */
async function schemaOf(database: DatabaseHandle) {
  const rows = async (query: ReturnType<typeof sql>) => JSON.stringify(await rowsOf(database, query))
  return {
    columns: await rows(sql`select table_schema, table_name, column_name, ordinal_position, data_type, udt_name, column_default, is_nullable
      from information_schema.columns where table_schema in ('public', 'drizzle') order by 1, 2, 4`),
    constraints: await rows(sql`select conrelid::regclass::text as on_table, conname, pg_get_constraintdef(oid) as definition
      from pg_constraint where connamespace in ('public'::regnamespace, 'drizzle'::regnamespace) order by 1, 2`),
    indexes: await rows(sql`select schemaname, tablename, indexname, indexdef from pg_indexes where schemaname in ('public', 'drizzle') order by 1, 2, 3`),
    functions: await rows(sql`select proname, pg_get_functiondef(oid) as definition from pg_proc where pronamespace = 'public'::regnamespace order by 1`),
    triggers: await rows(sql`select tgrelid::regclass::text as on_table, tgname, pg_get_triggerdef(oid) as definition from pg_trigger where not tgisinternal order by 1, 2`),
    types: await rows(sql`select typname, typtype from pg_type where typnamespace = 'public'::regnamespace and typtype in ('e', 'd', 'c') order by 1`),
  }
}

const journalOf = (database: DatabaseHandle) => rowsOf(database, sql`select hash, created_at from drizzle.__drizzle_migrations order by id`)

describe('the migrated PGlite snapshot', () => {
  it('gives a first start the schema and migrations journal of a migrated start, and a restart keeps the data dir', async () => {
    const migrated = await openDatabase({ dataDir: join(root, 'migrated'), snapshotFolder: null })
    expect(migrated.origin).toBe('initdb')
    await migrated.migrate()
    const expected = { schema: await schemaOf(migrated), journal: await journalOf(migrated) }
    await migrated.close()
    expect(expected.schema.columns).toContain('"table_name":"users"')
    expect(expected.journal).toHaveLength(JSON.parse(await readFile(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')).entries.length)

    const dataDir = join(root, 'from-snapshot')
    const first = await openDatabase({ dataDir, snapshotFolder })
    expect(first.origin).toBe('snapshot')
    // The migrator still runs after the snapshot and has nothing to do.
    expect(await journalOf(first)).toEqual(expected.journal)
    await first.migrate()
    expect(await journalOf(first)).toEqual(expected.journal)
    expect(await schemaOf(first)).toEqual(expected.schema)
    await first.db.execute(sql`insert into users (email, name, password_hash) values ('kept@example.test', 'Kept', 'x')`)
    await first.close()
    // The marker of a load in progress is gone once PGlite is up.
    expect(await readdir(dataDir)).toEqual(['pglite'])

    const restart = await openDatabase({ dataDir, snapshotFolder })
    expect(restart.origin).toBe('existing')
    await restart.migrate()
    expect(await rowsOf(restart, sql`select name from users where email = 'kept@example.test'`)).toEqual([{ name: 'Kept' }])
    expect(await journalOf(restart)).toEqual(expected.journal)
    await restart.close()
  }, 180_000)

  it('is loaded again after a first start that stopped while loading it', async () => {
    const dataDir = join(root, 'interrupted')
    // What a stop halfway through unpacking leaves: the marker and a partial data dir.
    await mkdir(join(dataDir, 'pglite', 'base'), { recursive: true })
    await writeFile(join(dataDir, 'pglite', 'PG_VERSION'), '17\n')
    await writeFile(join(dataDir, 'pglite.loading'), '')
    const database = await openDatabase({ dataDir, snapshotFolder })
    expect(database.origin).toBe('snapshot')
    await database.migrate()
    expect(await rowsOf(database, sql`select count(*)::int as n from users`)).toEqual([{ n: 0 }])
    await database.close()
    expect(await readdir(dataDir)).toEqual(['pglite'])
  }, 180_000)

  it('is not loaded for other migrations: a first start after a new migration runs initdb and every migration', async () => {
    const migrationsFolder = join(root, 'migrations-plus-one')
    await cp(MIGRATIONS_FOLDER, migrationsFolder, { recursive: true })
    const journalPath = join(migrationsFolder, 'meta', '_journal.json')
    const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: { idx: number; when: number; tag: string; version: string; breakpoints: boolean }[] }
    const last = journal.entries.at(-1)
    if (!last) throw new Error('no migrations')
    journal.entries.push({ ...last, idx: last.idx + 1, when: last.when + 1, tag: '9999_snapshot_probe' })
    await writeFile(journalPath, JSON.stringify(journal))
    await writeFile(join(migrationsFolder, '9999_snapshot_probe.sql'), 'create table snapshot_probe (id integer primary key);\n')
    expect(await snapshotKey(migrationsFolder)).not.toBe(await snapshotKey(MIGRATIONS_FOLDER))

    const database = await openDatabase({ dataDir: join(root, 'stale'), snapshotFolder, migrationsFolder })
    expect(database.origin).toBe('initdb')
    await database.migrate()
    expect(await journalOf(database)).toHaveLength(journal.entries.length)
    expect(await rowsOf(database, sql`select count(*)::int as n from snapshot_probe`)).toEqual([{ n: 0 }])
    await database.close()

    // Any change to a migration's text changes the key too.
    const before = await snapshotKey(migrationsFolder)
    await appendFile(join(migrationsFolder, '9999_snapshot_probe.sql'), '-- edited\n')
    expect(await snapshotKey(migrationsFolder)).not.toBe(before)
  }, 180_000)

  it('is built once per key: a second build keeps the file', async () => {
    const again = await buildSnapshot({ folder: snapshotFolder, migrationsFolder: MIGRATIONS_FOLDER })
    expect(again.built).toBe(false)
    expect(existsSync(again.path)).toBe(true)
    expect(await readdir(snapshotFolder)).toEqual([`${await snapshotKey(MIGRATIONS_FOLDER)}.tar`])
  })

  it('is unpacked file for file, and a damaged or hostile archive is refused without writing outside the data dir', async () => {
    const [file] = await readdir(snapshotFolder)
    const archive = await readFile(join(snapshotFolder, file!))
    const target = join(root, 'unpacked')
    unpackSnapshot(join(snapshotFolder, file!), target)
    expect(await readFile(join(target, 'PG_VERSION'), 'utf8')).toMatch(/^\d+\n$/)
    expect((await stat(join(target, 'base'))).mode & 0o777).toBe(0o700)
    expect((await stat(join(target, 'PG_VERSION'))).mode & 0o777).toBe(0o600)
    // Every file of the archive, with its bytes: the tar's own listing against what was written.
    const entries = listTar(archive)
    expect(entries.filter((entry) => entry.type === '0').length).toBeGreaterThan(100)
    for (const entry of entries.filter((entry) => entry.type === '0')) {
      expect((await readFile(join(target, entry.name))).equals(entry.data), entry.name).toBe(true)
    }

    const broken = join(root, 'broken')
    await mkdir(broken)
    const attempt = async (name: string, bytes: Uint8Array) => {
      await writeFile(join(broken, name), bytes)
      return () => unpackSnapshot(join(broken, name), join(broken, `${name}.out`))
    }
    expect(await attempt('truncated.tar', archive.subarray(0, Math.floor(archive.length / 2)))).toThrow('truncated')
    const tampered = Buffer.from(archive)
    tampered[0] = tampered[0]! ^ 1
    expect(await attempt('tampered.tar', tampered)).toThrow('checksum')
    for (const name of ['../escaped', '/base/../../escaped', 'a/../../escaped']) {
      expect(await attempt('hostile.tar', Buffer.concat([tarEntry(name, 'x'), Buffer.alloc(1024)]))).toThrow('refused')
    }
    expect(existsSync(join(broken, 'escaped'))).toBe(false)
    expect(existsSync(join(root, 'escaped'))).toBe(false)
    expect(await attempt('link.tar', Buffer.concat([tarEntry('pg_link', '', '2'), Buffer.alloc(1024)]))).toThrow('unexpected tar entry')
  })
})

/** One ustar entry (header and padded data), as PGlite's dump writes them. */
function tarEntry(name: string, content: string, type = '0'): Buffer {
  const data = Buffer.from(content)
  const header = Buffer.alloc(512)
  header.write(name, 0)
  header.write('0000600\0', 100)
  header.write(data.length.toString(8).padStart(11, '0') + '\0', 124)
  header.write(type, 156)
  header.write('ustar\u000000', 257)
  header.fill(0x20, 148, 156)
  const sum = header.reduce((total, byte) => total + byte, 0)
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148)
  return Buffer.concat([header, data, Buffer.alloc((512 - (data.length % 512)) % 512)])
}

/** The entries of a tar, read independently of the code under test. */
function listTar(archive: Buffer): { name: string; type: string; data: Buffer }[] {
  const entries: { name: string; type: string; data: Buffer }[] = []
  for (let at = 0; at + 512 <= archive.length && archive[at] !== 0; ) {
    const text = (offset: number, length: number) => archive.subarray(at + offset, at + offset + length).toString('latin1').replace(/\0.*$/s, '')
    const size = parseInt(text(124, 12).trim(), 8)
    entries.push({ name: text(0, 100).replace(/^\/+/, ''), type: text(156, 1) || '0', data: archive.subarray(at + 512, at + 512 + size) })
    at += 512 + Math.ceil(size / 512) * 512
  }
  return entries
}

