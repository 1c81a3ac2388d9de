import { relative } from 'node:path'
import { MIGRATIONS_FOLDER } from '../src/node/database'
import { buildSnapshot, SNAPSHOT_FOLDER } from '../src/node/pglite-snapshot'

// Run by `npm run build` (bundled into dist/node/): the migrated PGlite snapshot a first start
// loads, built only when the migrations or PGlite changed since the last one.
const { path, built } = await buildSnapshot({ folder: SNAPSHOT_FOLDER, migrationsFolder: MIGRATIONS_FOLDER })
if (built) console.log(`Built the migrated PGlite snapshot ${relative(process.cwd(), path)}.`)
