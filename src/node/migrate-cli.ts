import { resolve } from 'node:path'
import { ConfigError, parseConfig } from '../config'
import { openDatabase } from './database'

// `npm run migrate`: applies migrations/ to DATABASE_URL, or to the embedded PGlite in the data dir.
try {
  const config = parseConfig(process.env)
  const database = await openDatabase({ url: config.DATABASE_URL, dataDir: resolve(config.REFINERY_DATA_DIR), poolSize: 1 })
  await database.migrate()
  await database.close()
  console.log(`Migrations applied to ${database.kind === 'postgres' ? 'DATABASE_URL' : resolve(config.REFINERY_DATA_DIR)}.`)
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message)
    process.exit(2)
  }
  throw error
}
