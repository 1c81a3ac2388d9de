/**
 * `npm run dev:worker`: the Worker in workerd (`wrangler dev` on 127.0.0.1:$PORT, default 8788)
 * against DATABASE_URL (as Hyperdrive's local connection string). DATABASE_URL is all it needs:
 * it applies the migrations, makes up a JWT_SECRET on first run and keeps it, and adapter files
 * go to workerd's local R2 bucket; the queue consumer and the cron run locally too. Local state
 * (the bucket, queues, the secret) lives under PERSIST_TO (default .wrangler/state, git-ignored).
 * S3_* settings in the environment switch the files to that bucket instead.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { openDatabase } from '../src/node/database'

const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl) {
  console.error('Set DATABASE_URL to the Postgres the Worker should use.')
  process.exit(2)
}
const persistTo = resolve(process.env.PERSIST_TO ?? '.wrangler/state')
await mkdir(persistTo, { recursive: true })

const database = await openDatabase({ url: databaseUrl, poolSize: 1 })
try {
  await database.migrate()
} finally {
  await database.close()
}

/** The given JWT_SECRET, or the one made up on an earlier run, or a new one kept for the next. */
async function jwtSecret(): Promise<string> {
  if (process.env.JWT_SECRET) return process.env.JWT_SECRET
  const file = join(persistTo, 'refinery-jwt-secret')
  const kept = await readFile(file, 'utf8').catch(() => '')
  if (kept.trim().length >= 32) return kept.trim()
  const secret = randomBytes(32).toString('base64url')
  await writeFile(file, `${secret}\n`, { mode: 0o600 })
  return secret
}

const url = new URL(databaseUrl)
if (!url.password) url.password = 'local' // Hyperdrive's local mode wants one; trust auth ignores it

const passed = ['PUBLIC_URL', 'S3_ENDPOINT', 'S3_BUCKET', 'S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE', 'R2_PART_BYTES',
  'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_API_URL', 'PLATFORM_FEE_BPS', 'DOWNLOAD_URL_TTL_SECONDS', 'DOWNLOAD_RATE_PER_MINUTE', 'SEARCH_CACHE_SECONDS']
const port = process.env.PORT ?? '8788'
const args = ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', port, '--persist-to', persistTo, '--var', `JWT_SECRET:${await jwtSecret()}`]
if (process.env.INSPECTOR_PORT) args.push('--inspector-port', process.env.INSPECTOR_PORT)
for (const name of passed) if (process.env[name]) args.push('--var', `${name}:${process.env[name]}`)
if (!process.env.PUBLIC_URL) args.push('--var', `PUBLIC_URL:http://127.0.0.1:${port}`)

const child = spawn('npx', args, {
  stdio: 'inherit',
  env: {
    ...process.env,
    // Both bindings reach the same database locally; wrangler dev's Hyperdrive does not cache.
    CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: url.toString(),
    CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE_CACHED: url.toString(),
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_LOG_PATH: process.env.WRANGLER_LOG_PATH ?? '.wrangler/logs',
  },
})
child.on('exit', (code) => process.exit(code ?? 0))
