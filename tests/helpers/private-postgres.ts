import { execFile, execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'

const run = promisify(execFile)

/** The newest installed PostgreSQL's bin folder (Debian layout), or POSTGRES_BIN. */
function findPostgresBin(): string | undefined {
  if (process.env.POSTGRES_BIN) return process.env.POSTGRES_BIN
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] ? join(root, versions[0], 'bin') : undefined
}

const POSTGRES_BIN = findPostgresBin()

// initdb and postgres refuse to run as root: as root, the cluster runs as the postgres user.
const AS_ROOT = process.getuid?.() === 0

function postgresUserExists(): boolean {
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Whether this machine can run a Postgres cluster of its own (initdb and pg_ctl installed, and a user to run them as). */
export const canRunPrivatePostgres = POSTGRES_BIN !== undefined && (!AS_ROOT || postgresUserExists())

/**
 * A loopback port outside the kernel's ephemeral range (32768+), so no other test's
 * port-0 server is handed it while the cluster is stopped and it is free.
 */
async function privatePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer()
      probe.once('error', () => resolve(false))
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
    })
    if (free) return port
  }
  throw new Error('no free loopback port for the private Postgres')
}

export type PrivatePostgres = {
  /** Server URL (database `postgres`, trust auth) on 127.0.0.1. */
  url: string
  port: number
  /** Whether the server was last started (not stopped). */
  readonly running: boolean
  /** `pg_ctl stop`: `fast` ends sessions and checkpoints; `immediate` is a crash (WAL recovery on start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>
  /** `pg_ctl start`, on the same port and data, waiting until it accepts connections. */
  start(): Promise<void>
  /** The server log, for a failing test's message. */
  log(): Promise<string>
  /** Stops the server if it runs and removes its folder. */
  close(): Promise<void>
}

/**
 * A Postgres cluster of this test file's own (initdb in a temp folder, trust auth, loopback
 * only), which the test may stop and start at will without touching the shared server.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  if (!POSTGRES_BIN) throw new Error('PostgreSQL server binaries not found (set POSTGRES_BIN)')
  const bin = POSTGRES_BIN
  const dir = await mkdtemp(join(tmpdir(), 'refinery-pg-'))
  const data = join(dir, 'data')
  const logFile = join(dir, 'server.log')
  const command = (tool: string, args: string[]) => (AS_ROOT ? { file: 'runuser', args: ['-u', 'postgres', '--', join(bin, tool), ...args] } : { file: join(bin, tool), args })
  const pg = async (tool: string, args: string[]) => {
    const { file, args: argv } = command(tool, args)
    await run(file, argv, { timeout: 120_000 })
  }
  let running = false
  let port = 0
  // If the test process ends without afterAll (a crash), the cluster must not outlive it.
  const stopOnExit = () => {
    if (!running) return
    const { file, args } = command('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
    try {
      execFileSync(file, args, { stdio: 'ignore', timeout: 30_000 })
    } catch {
      // Already gone.
    }
  }
  process.once('exit', stopOnExit)

  const start = async () => {
    await pg('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '60', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start'])
    running = true
  }
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    await pg('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop'])
    running = false
  }
  const close = async () => {
    try {
      if (running) await stop('immediate')
    } finally {
      process.removeListener('exit', stopOnExit)
      await rm(dir, { recursive: true, force: true })
    }
  }

  try {
    if (AS_ROOT) await run('chown', ['postgres:', dir])
    await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'])
    port = await privatePort()
    await start()
  } catch (error) {
    await close()
    throw error
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    get running() {
      return running
    },
    stop,
    start,
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    close,
  }
}

/**
 * Holds `lock table … in exclusive mode` (reads pass, writes wait) on a session of its own;
 * `inFlight` resolves once a request's write waits on it, that is, is in flight inside its
 * transaction. The session dies with the server; `close` drops the client.
 */
export async function holdWriteLock(databaseUrl: string, table: string) {
  const client = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  const session = await client.reserve()
  await session`begin`
  await session.unsafe(`lock table ${table} in exclusive mode`)
  return {
    async inFlight() {
      for (let poll = 0; poll < 400; poll++) {
        const [row] = await session`select count(*)::int as waiting from pg_locks where relation = ${table}::regclass and not granted`
        if ((row?.waiting ?? 0) > 0) return
        await new Promise((resolve) => setTimeout(resolve, 25))
      }
      throw new Error(`no request ever waited on ${table}`)
    },
    close: () => client.end({ timeout: 0 }),
  }
}
