import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'

export type RunningWorker = {
  /** Everything wrangler (and the Worker's console) printed so far. */
  logs(): string
  /** Stops wrangler and its workerd child (the whole process group). */
  stop(): Promise<void>
}

/** What `wrangler dev` needs in its environment on this machine: no metrics, no network, its own config home. */
export function wranglerEnv(options: { configHome: string; hyperdriveUrl?: string }): Record<string, string> {
  const env: Record<string, string> = {
    WRANGLER_SEND_METRICS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_LOG_PATH: process.env.WRANGLER_LOG_PATH ?? join(process.cwd(), '.wrangler', 'logs'),
    XDG_CONFIG_HOME: options.configHome,
  }
  if (options.hyperdriveUrl) {
    // Hyperdrive's local mode wants a password in the URL; trust auth ignores it.
    const url = new URL(options.hyperdriveUrl)
    if (!url.password) url.password = 'local'
    env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE = url.toString()
    env.CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE_CACHED = url.toString()
  }
  return env
}

/**
 * Starts `command` in a process group of its own and waits until `${url}/health` answers 200
 * (wrangler dev takes up to a minute on a loaded machine).
 */
export async function startWorker(command: string, args: string[], options: { env: NodeJS.ProcessEnv; url: string }): Promise<RunningWorker> {
  let logs = ''
  const child: ChildProcess = spawn(command, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  child.stdout?.on('data', (chunk) => (logs += chunk))
  child.stderr?.on('data', (chunk) => (logs += chunk))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const worker: RunningWorker = {
    logs: () => logs,
    async stop() {
      if (!child.pid || child.exitCode !== null) return
      try {
        process.kill(-child.pid, 'SIGTERM')
      } catch {}
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))])
    },
  }
  for (let attempt = 0; attempt < 180 && child.exitCode === null; attempt++) {
    const up = await fetch(`${options.url}/health`).then((response) => response.ok, () => false)
    if (up) return worker
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  await worker.stop()
  throw new Error(`${command} ${args.join(' ')} did not start:\n${logs}`)
}

/**
 * A JSON caller for a Worker under test: `call(method, path, token?, body?, headers?)` answers the
 * status, the parsed body and Retry-After. `base` is read on each call (tests learn it in beforeAll).
 */
export function workerCaller(base: () => string) {
  return async (method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(base() + path, {
      method,
      headers: { ...(body !== undefined && { 'Content-Type': 'application/json' }), ...(token && { Authorization: `Bearer ${token}` }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    return { status: response.status, json: text ? JSON.parse(text) : undefined, retryAfter: response.headers.get('retry-after') }
  }
}
