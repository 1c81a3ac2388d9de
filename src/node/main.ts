import { resolve } from 'node:path'
import { ConfigError, parseConfig, publicUrlOf } from '../config'
import { startServer } from './server'

// The Node entry: `npm start`.
try {
  const config = parseConfig(process.env)
  const server = await startServer(config)
  const storage = config.DATABASE_URL ? 'Postgres (DATABASE_URL)' : `PGlite in ${resolve(config.REFINERY_DATA_DIR)}`
  const base = publicUrlOf(config)
  console.log(`Refinery API listening on ${server.url} (${storage})`)
  console.log(`  docs:    ${base}/docs`)
  console.log(`  openapi: ${base}/openapi.json`)
  const stop = async () => {
    await server.close()
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message)
    process.exit(2)
  }
  throw error
}
