/**
 * `npm run dev:worker`: the Worker in workerd (`wrangler dev` on 127.0.0.1:$PORT, default 8788)
 * against DATABASE_URL (as Hyperdrive's local connection string) and the S3_* settings from the
 * environment. Apply the migrations first: `DATABASE_URL=… npm run migrate`.
 */
import { spawn } from 'node:child_process'

const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl) {
  console.error('Set DATABASE_URL to the Postgres the Worker should use (and run `npm run migrate` against it first).')
  process.exit(2)
}
const url = new URL(databaseUrl)
if (!url.password) url.password = 'local' // Hyperdrive's local mode wants one; trust auth ignores it

const passed = ['JWT_SECRET', 'PUBLIC_URL', 'S3_ENDPOINT', 'S3_BUCKET', 'S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'S3_FORCE_PATH_STYLE',
  'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_API_URL', 'PLATFORM_FEE_BPS', 'DOWNLOAD_URL_TTL_SECONDS', 'DOWNLOAD_RATE_PER_MINUTE', 'SEARCH_CACHE_SECONDS']
const port = process.env.PORT ?? '8788'
const args = ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', port]
for (const name of passed) if (process.env[name]) args.push('--var', `${name}:${process.env[name]}`)
if (!process.env.PUBLIC_URL) args.push('--var', `PUBLIC_URL:http://127.0.0.1:${port}`)

const child = spawn('npx', args, {
  stdio: 'inherit',
  env: {
    ...process.env,
    CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: url.toString(),
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_LOG_PATH: process.env.WRANGLER_LOG_PATH ?? '.wrangler/logs',
  },
})
child.on('exit', (code) => process.exit(code ?? 0))
