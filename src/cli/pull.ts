import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import { CliError } from './check'
import { sha256File } from './files'
import { type Output, progressBar } from './progress'
import { call, parseRef, type Remote } from './remote'

type FileEntry = { path: string; size: number; sha256: string }
type VersionRef = { team: string; slug: string; version: string }
export type PullOptions = { dir?: string; cwd?: string; force?: boolean; attempts?: number; log?: Output }
export type Pulled = { path: string; skipped: boolean }

/**
 * Downloads every file of `team/slug@version` (without a version: the newest published one)
 * into `dir`, by default `<cwd>/<slug>-<version>`: each to `<name>.part`, resumed with a Range
 * request after an interruption (with a fresh signed URL each time: the last one may have
 * expired), verified against its sha256, then renamed into place. A file that does not verify
 * is never left under its final name. A file already there with the same size and sha256 is
 * kept as it is; one that differs is someone else's: without `force`, nothing is downloaded.
 */
export async function pull(remote: Remote, ref: string, options: PullOptions = {}): Promise<Pulled[]> {
  const log = options.log ?? { write() {} }
  const parsed = parseRef(ref, { version: 'optional' })
  const { team, slug } = parsed
  let version = parsed.version
  if (!version) {
    const adapter = await call(remote.client.GET('/v1/adapters/{team}/{slug}', { params: { path: { team, slug } } }))
    if (!adapter.latestVersion) throw new CliError(`${team}/${slug} has no published version yet.`)
    version = adapter.latestVersion
    log.write(`pulling ${team}/${slug}@${version}, the newest published version\n`)
  }
  const { files } = await call(remote.client.GET('/v1/adapters/{team}/{slug}/versions/{version}', { params: { path: { team, slug, version } } }))
  const dir = options.dir ?? `${slug}-${version}`
  const root = resolve(options.cwd ?? '.', dir)

  // Decide for every file before writing any: a refusal leaves the folder as it was.
  const plan: { file: FileEntry; target: string; complete: boolean }[] = []
  const foreign: string[] = []
  for (const file of files) {
    const target = resolve(root, file.path)
    if (!target.startsWith(root + sep)) throw new CliError(`Refusing the path ${file.path}: it leaves ${dir}.`)
    const existing = await stat(target).catch(() => undefined)
    const complete = existing?.isFile() === true && existing.size === file.size && (await sha256File(target)) === file.sha256
    if (existing && !complete) foreign.push(file.path)
    plan.push({ file, target, complete })
  }
  if (foreign.length > 0 && !options.force) {
    throw new CliError(`${join(dir, foreign[0]!)}${foreign.length > 1 ? ` and ${foreign.length - 1} more` : ''} already exist and differ from ${team}/${slug}@${version}; nothing was downloaded. Pull into another --dir, or add --force to replace them.`)
  }

  const pulled: Pulled[] = []
  for (const { file, target, complete } of plan) {
    if (!complete) {
      await mkdir(dirname(target), { recursive: true })
      await pullFile(remote, { team, slug, version }, file, target, options.attempts ?? 5, log)
    }
    pulled.push({ path: join(dir, file.path), skipped: complete })
  }
  return pulled
}

async function pullFile(remote: Remote, ref: VersionRef, file: FileEntry, target: string, attempts: number, log: Output = { write() {} }) {
  const part = `${target}.part`
  const bar = progressBar(log, file.path, file.size)
  for (let attempt = 1; ; attempt++) {
    const have = (await stat(part).catch(() => undefined))?.size ?? 0
    if (have < file.size) {
      // A fresh short-lived URL every attempt: an interrupted download may outlive the last one.
      const link = await call(
        remote.client.GET('/v1/adapters/{team}/{slug}/versions/{version}/files/{path}/link', { params: { path: { ...ref, path: file.path } } }),
      )
      try {
        const response = await remote.fetch(link.url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {} })
        if (!(response.status === 200 || response.status === 206) || !response.body) {
          const problem = (await response.json().catch(() => ({}))) as { title?: string; code?: string; detail?: string }
          throw new CliError(`${file.path}: storage answered ${response.status} ${problem.code ?? ''} ${problem.detail ?? ''}`.trim())
        }
        const resumed = response.status === 206
        const handle = await open(part, resumed ? 'a' : 'w') // a 200 restarts from zero
        bar.reset(resumed ? have : 0)
        try {
          for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
            await handle.write(chunk)
            bar.advance(chunk.byteLength)
          }
        } finally {
          await handle.close()
        }
      } catch (error) {
        if (attempt >= attempts) throw error instanceof CliError ? error : new CliError(`${file.path}: the download failed (${(error as Error).message}).`)
        log.write(`${file.path}: interrupted (${(error as Error).message}); resuming, attempt ${attempt + 1} of ${attempts}\n`)
        continue
      }
    }
    if ((await sha256File(part)) === file.sha256 && (await stat(part)).size === file.size) {
      await rename(part, target)
      bar.done('sha256 ok')
      return
    }
    await rm(part, { force: true })
    if (attempt >= attempts) throw new CliError(`${file.path} does not match its sha256 after ${attempts} attempts; nothing was kept.`)
  }
}
