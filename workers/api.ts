import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import swaggerCss from 'swagger-ui-dist/swagger-ui.css'
import swaggerJs from 'swagger-ui-dist/swagger-ui-bundle.js'
import { createApp } from '../src/app'
import { parseConfig, publicUrlOf } from '../src/config'
import * as schema from '../src/db/schema'
import { createPasswordHasher, createTokenSigner } from '../src/identity'
import type { WorkerEnv } from './env'

type ExecutionContext = { waitUntil(promise: Promise<unknown>): void }

const stringVars = (env: WorkerEnv) =>
  Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'))

// The Workers entry; wrangler needs the default export.
export default {
  async fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Promise<Response> {
    const config = parseConfig(stringVars(env))
    const connectionString = env.HYPERDRIVE?.connectionString ?? config.DATABASE_URL
    if (!connectionString) throw new Error('Bind HYPERDRIVE or set DATABASE_URL for the Worker')
    if (!config.JWT_SECRET) throw new Error('Set the JWT_SECRET secret for the Worker (wrangler secret put JWT_SECRET)')
    // Workers cannot share I/O between requests: one small client per request, closed after.
    const client = postgres(connectionString, { max: 5, fetch_types: false, onnotice: () => {} })
    const clock = () => new Date()
    const app = createApp({
      db: drizzle(client, { schema }),
      clock,
      tokens: createTokenSigner(config.JWT_SECRET, clock),
      passwords: createPasswordHasher(config.PASSWORD_ITERATIONS),
      publicUrl: publicUrlOf(config),
      maxJsonBodyBytes: config.MAX_JSON_BODY_BYTES,
      docsAssets: { js: swaggerJs, css: swaggerCss },
    })
    try {
      return await app.fetch(request)
    } finally {
      ctx.waitUntil(client.end({ timeout: 5 }))
    }
  },
}
