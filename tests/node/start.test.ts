import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../helpers/server'

// `npm start` as the README has it: builds the bundle (dist/node/main.js) and serves it.
let dataDir: string
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'refinery-start-'))
})
afterAll(() => rm(dataDir, { recursive: true, force: true }))

describe('npm start', () => {
  it('builds and serves the API, its docs and the storefront from the bundle, and stops on SIGTERM', async () => {
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const env = { ...process.env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: base, REFINERY_DATA_DIR: dataDir, DATABASE_URL: '', PASSWORD_ITERATIONS: '100000' }
    // Its own process group, so the whole tree (npm, sh, node) is stopped at the end.
    const child = spawn('npm', ['start'], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stderr.on('data', (data) => (output += data))
    const exited = once(child, 'exit')
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          output += `${line}\n`
          if (line.includes('listening on')) resolve()
        })
        void exited.then(() => reject(new Error(`npm start exited: ${output}`)))
      })
      expect(output).toContain(`Refinery API listening on ${base}`)
      expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok' })
      const spec = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> }
      expect(Object.keys(spec.paths)).toContain('/v1/adapters/{team}/{slug}/versions/{version}/files/{path}')
      expect((await fetch(`${base}/docs/assets/swagger-ui-dist/swagger-ui-bundle.js`)).status).toBe(200)
      const signup = await fetch(`${base}/v1/signup`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: 'start@example.test', password: 'from the bundle', name: 'Start' }),
      })
      expect(signup.status).toBe(201)
      const page = await fetch(`${base}/`)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toContain('text/html')

      // The Stripe and AWS SDKs load only when configured: only their own lazily imported chunks name them.
      const dist = fileURLToPath(new URL('../../dist/node/', import.meta.url))
      const importers: Record<string, string[]> = { stripe: [], '@aws-sdk/client-s3': [] }
      for (const file of await readdir(dist)) {
        const code = await readFile(join(dist, file), 'utf8')
        for (const sdk of Object.keys(importers)) if (code.includes(`from "${sdk}"`)) importers[sdk]!.push(file)
      }
      expect(importers.stripe).toEqual([expect.stringMatching(/^stripe-\w+\.js$/)])
      expect(importers['@aws-sdk/client-s3']).toEqual([expect.stringMatching(/^s3-\w+\.js$/)])
    } finally {
      process.kill(-child.pid!, 'SIGTERM')
      await exited
    }
  })
})
