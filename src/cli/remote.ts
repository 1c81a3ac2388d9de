import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import envPaths from 'env-paths'
import { createClient, data, RefineryError, type RefineryClient } from '../client'
import { CliError } from './check'

export const DEFAULT_URL = 'http://localhost:8787'

export type Env = Record<string, string | undefined>
/** What the commands that talk to the API need: the typed client, and fetch for signed storage URLs. */
export type Remote = { url: string; client: RefineryClient; fetch: typeof fetch; progress?: (line: string) => void }
type Saved = { url: string; token: string; email?: string; keyId?: string }

/** The folder `refinery login` writes to: REFINERY_CONFIG_DIR, else the platform's config dir. */
export const configDir = (env: Env) => env.REFINERY_CONFIG_DIR || envPaths('refinery', { suffix: '' }).config
const configFile = (env: Env) => join(configDir(env), 'credentials.json')

export async function readSaved(env: Env): Promise<Saved | undefined> {
  const text = await readFile(configFile(env), 'utf8').catch(() => undefined)
  if (!text) return undefined
  try {
    return JSON.parse(text) as Saved
  } catch {
    throw new CliError(`${configFile(env)} is not valid JSON; run refinery login again.`)
  }
}

/** Stores the credential readable by its owner only (0600, in a 0700 folder). */
export async function save(env: Env, saved: Saved) {
  await mkdir(configDir(env), { recursive: true, mode: 0o700 })
  const file = configFile(env)
  await writeFile(file, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 })
  await chmod(file, 0o600) // writeFile keeps the mode of a file that already existed
  return file
}

export async function forget(env: Env) {
  await rm(configFile(env), { force: true })
}

/** The API and the credential to use: REFINERY_URL / REFINERY_API_KEY override what login stored. */
export async function remoteFrom(env: Env, fetchImpl: typeof fetch, options: { auth?: boolean } = {}): Promise<Remote> {
  const saved = await readSaved(env)
  const url = (env.REFINERY_URL || saved?.url || DEFAULT_URL).replace(/\/$/, '')
  const token = env.REFINERY_API_KEY || (saved && saved.url === url ? saved.token : undefined)
  if (options.auth !== false && !token) {
    throw new CliError(`Not logged in to ${url}: run refinery login, or set REFINERY_API_KEY to an API key.`)
  }
  return { url, fetch: fetchImpl, client: createClient({ url, ...(token && { token }), fetch: (request) => fetchImpl(request) }) }
}

/** `data()` with API problems turned into the one-line errors the CLI prints. */
export async function call<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  try {
    return await data(request)
  } catch (error) {
    // A network failure is left for main, which knows where the URL came from.
    throw error instanceof RefineryError ? asCliError(error) : error
  }
}

/** `where` names what set the API's URL (`--url`, `REFINERY_URL`…), for the connection error. */
export function asCliError(error: unknown, where = 'REFINERY_URL') {
  if (error instanceof RefineryError) {
    const { title, detail } = error.problem
    return new CliError(`${title ?? `HTTP ${error.status}`} (${error.code})${detail ? `: ${detail}` : ''}`, { cause: error })
  }
  if (error instanceof TypeError && /fetch failed/.test(error.message)) {
    const reason = (error.cause as { code?: string } | undefined)?.code
    return new CliError(`Could not reach the API${reason ? ` (${reason})` : ''}; is ${where} right and the server up?`, { cause: error })
  }
  return error
}

/** `team/slug` or `team/slug@version`. */
export function parseRef(ref: string | undefined, options: { version: 'required' | 'optional' }) {
  const match = ref ? /^([a-z0-9][a-z0-9-]*)\/([a-z0-9][a-z0-9-]*)(?:@([^/@\s]+))?$/.exec(ref) : null
  if (!match || (options.version === 'required' && !match[3])) {
    throw new CliError(`'${ref ?? ''}' is not ${options.version === 'required' ? 'team/slug@version' : 'team/slug'}.`)
  }
  return { team: match[1]!, slug: match[2]!, version: match[3] }
}
