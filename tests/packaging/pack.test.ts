import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { peftFolder } from '../helpers/adapters'
import { writeFolder } from '../helpers/cli'
import { createHarness, type Harness } from '../helpers/harness'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))
const tsc = join(root, 'node_modules/typescript/bin/tsc')

type LockEntry = { dev?: boolean; devOptional?: boolean }
/** A limit for the steps that start a process of their own (never a measure: the machine may be busy). */
const LONG = 180_000

/**
 * `npm pack` as a release would (prepack builds dist/), then an install of the tarball into an
 * empty project with the production dependencies only, then the package used as its README says:
 * `npx refinery`, `import … from 'refinery/client'` in JavaScript and in TypeScript.
 *
 * The install is offline: the consumer's lockfile pins the runtime dependencies at the versions
 * and integrity hashes of ours (package-lock.json), so `npm ci --offline` takes them from the npm
 * cache our own `npm ci` filled, and nothing is downloaded.
 */
describe('the npm package', () => {
  let folder: string
  let app: string
  let tarball: string
  let files: string[]
  /** A running server for the client, and on Postgres the database `refinery serve` uses. */
  let h: Harness

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'refinery-pack-'))
    app = join(folder, 'app')
    await mkdir(app)
    const packed = await run('npm', ['pack', '--json', '--pack-destination', folder], { cwd: root, env: npmEnv(), maxBuffer: 16 << 20 })
    const [report] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[]
    tarball = `file:../${report!.filename}`
    files = report!.files.map((file) => file.path)

    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Record<string, unknown> & { dependencies: Record<string, string> }
    const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
    const runtime = Object.entries(lock.packages).filter(([path, entry]) => path !== '' && !entry.dev && !entry.devOptional)
    const consumer = { name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { refinery: tarball } }
    const packages = {
      '': { name: consumer.name, version: consumer.version, dependencies: consumer.dependencies },
      'node_modules/refinery': {
        version: manifest.version,
        resolved: tarball,
        hasInstallScript: true,
        dependencies: manifest.dependencies,
        bin: manifest.bin,
        engines: manifest.engines,
      },
      ...Object.fromEntries(runtime),
    }
    await writeFile(join(app, 'package.json'), JSON.stringify(consumer, null, 2))
    await writeFile(join(app, 'package-lock.json'), JSON.stringify({ name: consumer.name, version: consumer.version, lockfileVersion: 3, requires: true, packages }, null, 2))
    await run('npm', ['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund'], { cwd: app, env: npmEnv() })
  }, 2 * LONG)

  beforeAll(async () => {
    h = await createHarness({ listen: true })
  })
  afterAll(() => h?.close())
  afterAll(() => (folder ? rm(folder, { recursive: true, force: true }) : undefined))

  it('ships the bundled JavaScript, the client’s .d.ts and the migrations, and no TypeScript source', () => {
    expect(files).toEqual(expect.arrayContaining(['bin/refinery.mjs', 'dist/cli/main.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'migrations/meta/_journal.json', 'migrations/0000_identity.sql']))
    expect(files.filter((path) => /(?<!\.d)\.tsx?$/.test(path))).toEqual([])
    expect(files.filter((path) => path.startsWith('src/') || path.startsWith('tests/'))).toEqual([])
  })

  it('installs without the dev dependencies, and `npx refinery --help` prints the usage', async () => {
    for (const dev of ['tsx', 'esbuild', 'typescript', 'vitest']) expect(existsSync(join(app, 'node_modules', dev))).toBe(false)
    const help = await run('npx', ['--no-install', 'refinery', '--help'], { cwd: app, env: npmEnv() })
    expect(help.stdout).toContain('refinery — the Refinery marketplace from a terminal')
    expect(help.stdout).toContain('refinery check <peft-folder> --base')
  }, LONG)

  it('runs `refinery check` offline from the installed package', async () => {
    const adapter = await writeFolder(join(folder, 'adapter'), peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 16 }))
    const yes = await run('npx', ['--no-install', 'refinery', 'check', adapter, '--base', 'meta-llama/Llama-2-7b-hf'], { cwd: app, env: npmEnv() })
    expect(yes.stdout).toContain('✔ compatible with meta-llama/Llama-2-7b-hf')
    const no = await run('npx', ['--no-install', 'refinery', 'check', adapter, '--base', 'mistralai/Mistral-7B-v0.1'], { cwd: app, env: npmEnv() }).catch((error: { code: number; stdout: string }) => error)
    expect(no).toMatchObject({ code: 1, stdout: expect.stringContaining('✘ incompatible with mistralai/Mistral-7B-v0.1') })
  }, LONG)

  it('serves the API from the installed package: PGlite migrated from its shipped migrations, or (DATABASE_URL) Postgres through its bundled postgres.js', async () => {
    const env = npmEnv({ REFINERY_DATA_DIR: join(folder, 'data'), DATABASE_URL: h.databaseUrl ?? '', PORT: '0', PUBLIC_URL: '', REFINERY_URL: '', REFINERY_API_KEY: '' })
    const bin = join(app, 'node_modules/.bin/refinery')
    const server = spawn(bin, ['serve'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      const url = await listeningUrl(server)
      expect(await (await fetch(`${url}/health`)).json()).toEqual({ status: 'ok' })
      const bases = (await (await fetch(`${url}/v1/base-models`)).json()) as { items: { id: string }[] }
      expect(bases.items.map((base) => base.id)).toContain('Qwen/Qwen-7B')
    } finally {
      const exited = new Promise<number | null>((resolve) => server.on('exit', resolve))
      server.kill('SIGTERM')
      expect(await exited).toBe(0)
    }
  }, LONG)

  describe('refinery/client', () => {
    it('imports from JavaScript (Node ESM) and calls a running server', async () => {
      await writeFile(
        join(app, 'bases.mjs'),
        [
          "import { createClient, data, RefineryError } from 'refinery/client'",
          'const refinery = createClient({ url: process.argv[2] })',
          "const bases = await data(refinery.GET('/v1/base-models'))",
          "const denied = await data(refinery.GET('/v1/me')).catch((error) => error)",
          'console.log(JSON.stringify({ ids: bases.items.map((base) => base.id), denied: denied instanceof RefineryError && denied.code }))',
        ].join('\n'),
      )
      const result = await run(process.execPath, ['bases.mjs', h.url], { cwd: app })
      const answer = JSON.parse(result.stdout) as { ids: string[]; denied: string }
      expect(answer.ids).toContain('Qwen/Qwen-7B')
      expect(answer.denied).toBe('unauthorized')
    }, LONG)

    it('type-checks TypeScript against the shipped .d.ts: typed answers, and a wrong path is an error', async () => {
      await writeFile(
        join(app, 'use.ts'),
        [
          "import { createClient, data, type RefineryClient, type Schemas } from 'refinery/client'",
          "const refinery: RefineryClient = createClient({ url: 'http://127.0.0.1:8787', token: 'rfy_example' })",
          'export async function baseIds(): Promise<string[]> {',
          "  const bases = await data(refinery.GET('/v1/base-models'))",
          '  return bases.items.map((base) => base.id)',
          '}',
          "export type Problem = Schemas['Problem']",
          '// @ts-expect-error: not a path of the API',
          "export const nowhere = refinery.GET('/v1/no-such-path')",
          '// @ts-expect-error: an answer is typed, not any',
          'export const wrong: Promise<number[]> = baseIds()',
        ].join('\n'),
      )
      // As a Node project compiles (NodeNext), and as one for a bundler does (ESNext + Bundler).
      for (const [module, moduleResolution] of [['NodeNext', 'NodeNext'], ['ESNext', 'Bundler']]) {
        const tsconfig = {
          compilerOptions: { target: 'ES2022', module, moduleResolution, lib: ['ES2023', 'DOM'], types: [], strict: true, noEmit: true },
          files: ['use.ts'],
        }
        await writeFile(join(app, `tsconfig.${moduleResolution}.json`), JSON.stringify(tsconfig, null, 2))
        const checked = await run(process.execPath, [tsc, '-p', `tsconfig.${moduleResolution}.json`], { cwd: app }).catch((error: { stdout: string }) => error)
        expect(checked.stdout, moduleResolution).toBe('')
      }
    }, LONG)
  })
})

/** npm as a user runs it: not the settings of an `npm test` that may have started this run. */
function npmEnv(extra: Record<string, string> = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)))
  return { ...env, NO_UPDATE_NOTIFIER: '1', ...extra }
}

function listeningUrl(server: ChildProcess) {
  return new Promise<string>((resolve, reject) => {
    let output = ''
    server.stdout!.on('data', (chunk) => {
      output += chunk
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) resolve(match[1]!)
    })
    server.on('exit', (code) => reject(new Error(`refinery serve exited with ${code}: ${output}`)))
  })
}
