import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import { CliError } from './check'

export type Remote = { url: string; token: string; fetch: typeof fetch; progress?: (line: string) => void }
type FileEntry = { path: string; size: number; sha256: string }

/** A problem+json answer as one line: what the user sees instead of a stack trace. */
async function problem(response: Response): Promise<CliError> {
  const body = (await response.json().catch(() => ({}))) as { title?: string; detail?: string; code?: string }
  return new CliError(`${body.title ?? response.statusText} (${body.code ?? response.status}): ${body.detail ?? ''}`.trim())
}

async function api<T>(remote: Remote, path: string, init: { headers?: Record<string, string> } = {}): Promise<T> {
  const response = await remote.fetch(`${remote.url}${path}`, { headers: { Authorization: `Bearer ${remote.token}`, Accept: 'application/json', ...init.headers } })
  if (!response.ok) throw await problem(response)
  return (await response.json()) as T
}

/**
 * Downloads every file of `team/slug@version` into `dir`: each to `<name>.part`, resumed with a
 * Range request after an interruption (with a fresh signed URL when the old one expired),
 * verified against its sha256, then renamed into place. A file that does not verify is never
 * left under its final name.
 */
export async function pull(remote: Remote, ref: string, dir: string, options: { attempts?: number } = {}) {
  const match = /^([^/@]+)\/([^/@]+)@([^/@]+)$/.exec(ref)
  if (!match) throw new CliError(`'${ref}' is not team/slug@version.`)
  const [, team, slug, version] = match as unknown as [string, string, string, string]
  const base = `/v1/adapters/${team}/${slug}/versions/${version}`
  const { files } = await api<{ files: FileEntry[] }>(remote, base)
  const root = resolve(dir)
  const written: string[] = []
  for (const file of files) {
    const target = resolve(root, file.path)
    if (!target.startsWith(root + sep)) throw new CliError(`Refusing the path ${file.path}: it leaves ${dir}.`)
    await mkdir(dirname(target), { recursive: true })
    await pullFile(remote, `${base}/files/${encodeURIComponent(file.path)}`, file, target, options.attempts ?? 5)
    written.push(join(dir, file.path))
  }
  return written
}

async function pullFile(remote: Remote, linkPath: string, file: FileEntry, target: string, attempts: number) {
  const part = `${target}.part`
  for (let attempt = 1; ; attempt++) {
    const have = (await stat(part).catch(() => undefined))?.size ?? 0
    if (have < file.size) {
      // A fresh short-lived URL every attempt: an interrupted download may outlive the last one.
      const link = await api<{ url: string }>(remote, linkPath)
      try {
        const response = await remote.fetch(link.url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {} })
        if (!(response.status === 200 || response.status === 206) || !response.body) throw await problem(response)
        const handle = await open(part, response.status === 206 ? 'a' : 'w') // a 200 restarts from zero
        try {
          let done = response.status === 206 ? have : 0
          for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
            await handle.write(chunk)
            done += chunk.byteLength
            remote.progress?.(`${file.path} ${Math.floor((done / file.size) * 100)}%`)
          }
        } finally {
          await handle.close()
        }
      } catch (error) {
        if (attempt >= attempts) throw error instanceof CliError ? error : new CliError(`${file.path}: the download failed (${(error as Error).message}).`)
        remote.progress?.(`${file.path}: interrupted, resuming (${attempt}/${attempts - 1})`)
        continue
      }
    }
    const hash = createHash('sha256')
    for await (const chunk of createReadStream(part)) hash.update(chunk)
    const digest = hash.digest('hex')
    if (digest === file.sha256 && (await stat(part)).size === file.size) {
      await rename(part, target)
      return
    }
    await rm(part, { force: true })
    if (attempt >= attempts) throw new CliError(`${file.path} does not match its sha256 after ${attempts} attempts; nothing was kept.`)
  }
}
