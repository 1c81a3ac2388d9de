import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer } from '../helpers/server'

/**
 * The README's walkthroughs, run as a reader runs them: the ```sh blocks that follow a
 * `<!-- walkthrough: <name> -->` marker, joined in order into one script, run unchanged by
 * `bash -euo pipefail` from the project folder against a fresh server (`npm start`'s: PGlite or
 * DATABASE_URL's Postgres, the local store). Only REFINERY_URL, which the README reads, points
 * at the test's server; scratch files (`mktemp -d`) go to a temp folder of the test's own.
 */
const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8')
const PROJECT = join(import.meta.dirname, '../..')

/** The script of one walkthrough: its marked blocks in README order. A marker must stand right above a ```sh block. */
export function walkthroughScript(readme: string, name: string) {
  const blocks: string[] = []
  for (const marker of readme.matchAll(/^<!-- walkthrough: ([\w-]+) -->\n(.*)$/gm)) {
    if (marker[2] !== '```sh') throw new Error(`the marker <!-- walkthrough: ${marker[1]} --> is not right above a \`\`\`sh block`)
    if (marker[1] !== name) continue
    const start = marker.index + marker[0].length + 1
    const end = readme.indexOf('\n```\n', start)
    blocks.push(readme.slice(start, end + 1))
  }
  return blocks.join('\n')
}

const running = new Set<ChildProcess>()

/** bash -euo pipefail running `script` from the project folder (async: the server runs in this process). */
function runBash(script: string, env: Record<string, string | undefined>) {
  // Its own process group, so that a test that times out ends the script and whatever it started.
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: PROJECT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  running.add(child)
  child.on('close', () => running.delete(child))
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

// What the walkthroughs need besides Node; in CI (.ci/run installs them) the test fails rather than skips without them.
const missing = ['bash', 'curl', 'jq'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)

const title = missing.length > 0 ? `README walkthroughs (skipped: ${missing.join(', ')} not installed)` : 'README walkthroughs, extracted and run with bash as written, against a fresh server'

describe.skipIf(missing.length > 0 && !process.env.CI)(title, () => {
  let server: Awaited<ReturnType<typeof startTestServer>>
  let scratch: string

  // Migrating a fresh PGlite takes a while on a busy machine: more than the default hook timeout.
  beforeAll(async () => {
    server = await startTestServer({ storage: 'local' })
    scratch = await mkdtemp(join(tmpdir(), 'refinery-readme-'))
  }, 5 * 60_000)
  afterAll(async () => {
    for (const child of running) if (child.pid) process.kill(-child.pid, 'SIGKILL')
    await server?.close()
    if (scratch) await rm(scratch, { recursive: true, force: true })
  })

  const run = (script: string) =>
    runBash(script, {
      REFINERY_URL: server.url,
      // What a reader's shell has: none of the test run's settings, and a home of its own for anything the tools keep.
      DATABASE_URL: undefined,
      REFINERY_API_KEY: undefined,
      REFINERY_CONFIG_DIR: undefined,
      TMPDIR: scratch,
      XDG_CONFIG_HOME: join(scratch, 'config'),
      npm_config_update_notifier: 'false',
    })

  it('finds both walkthroughs, made only of marked ```sh blocks', () => {
    expect(walkthroughScript(README, 'curl').split('\n').length).toBeGreaterThan(50)
    expect(walkthroughScript(README, 'cli')).toContain('npx refinery pull')
    expect(() => walkthroughScript('<!-- walkthrough: x -->\n```json\n{}\n```\n', 'x')).toThrow(/not right above/)
  })

  // Each `npx refinery` starts npm and the TypeScript CLI: on a busy machine the CLI walkthrough takes minutes.
  const WALKTHROUGH_TIMEOUT_MS = 15 * 60_000

  it('the curl walkthrough: sign up, a team with an accepted invitation, a key revoked, publish, find, sell, download', async () => {
    const { code, stdout, stderr } = await run(walkthroughScript(README, 'curl'))
    expect(code, stderr).toBe(0)
    expect(stdout).toContain('[{"name":"Ada","role":"owner"},{"name":"Grace","role":"admin"}]')
    expect(stdout).toMatch(/"status": 401,\s+"code": "api_key_revoked"/)
    expect(stdout).toMatch(/"status": "ready",\s+"findings": \[\]/)
    expect(stdout).toContain('"published"')
    expect(stdout).toMatch(/"team": "acme-labs",\s+"slug": "legal-zh",\s+"latestVersion": "1.0.0"/)
    expect(stdout).toMatch(/"compatible": false,\s+"checks": \[\s+\{\s+"code": "shape_mismatch"/)
    expect(stdout).toContain('{"adapter":"acme-labs/legal-zh","license":"commercial","source":"access_request"}')
    expect(stdout).toContain('{"adapter":"acme-labs/legal-zh","license":"research","source":"free"}')
    // The downloaded file's sha256 (sha256sum) is the one the download link states.
    const downloaded = /^([0-9a-f]{64}) {2}\S+\/bought\/adapter_model\.safetensors$/m.exec(stdout)?.[1]
    expect(downloaded).toBeDefined()
    expect(stdout).toContain(`"sha256": "${downloaded}"`)
  }, WALKTHROUGH_TIMEOUT_MS)

  it('the CLI walkthrough, on the same server after the curl one: names of its own', async () => {
    const { code, stdout, stderr } = await run(walkthroughScript(README, 'cli'))
    expect(code, stderr).toBe(0)
    expect(stdout).toContain('exit 1')
    expect(stdout).toContain('✔ you joined nordic-nlp as admin')
    expect(stdout).toContain('✔ nordic-nlp/support-sv@1.0.0 is ready')
    expect(stdout).toContain('✔ published nordic-nlp/support-sv@1.0.0')
    expect(stdout).toContain('nordic-nlp/support-sv@1.0.0  Swedish customer-support assistant')
    expect(stdout).not.toContain('acme-labs/legal-zh')
    expect(stdout).toContain('✔ entitled to nordic-nlp/support-sv (research licence)')
    expect(stdout).toMatch(/^README\.md\nadapter_config\.json\nadapter_model\.safetensors\n$/m)
  }, WALKTHROUGH_TIMEOUT_MS)
})
