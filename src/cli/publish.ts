import { createReadStream } from 'node:fs'
import { readFile, readdir, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import semverValid from 'semver/functions/valid.js'
import type { Schemas } from '../client'
import { CliError, checkFolder, resolveBase } from './check'
import { sha256File } from './files'
import { formatBytes } from '../lib/format'
import { type Output, progressBar, type Progress } from './progress'
import { call, parseRef, type Remote } from './remote'

/** Files a training run leaves beside the adapter that are never published. */
const SKIPPED_DIRS = /^(checkpoint-\d+|runs|wandb|__pycache__)$/
/** Pickle checkpoints can run code when loaded: buyers get safetensors only. */
const PICKLE = /\.(bin|pt|pth|pkl|pickle|ckpt)$/i
const MAX_FILES = 50

export type PublishOptions = {
  folder: string
  adapter: string
  version: string
  base?: string
  changelog?: string
  evals?: string
  publish?: boolean
  /** Seconds to wait for validation; 0 returns once the upload is complete. */
  waitSeconds?: number
  pollMs?: number
  attempts?: number
  concurrency?: number
  out: Output
  log: Output
}

type LocalFile = { path: string; absolute: string; size: number; sha256: string }
type Upload = Schemas['VersionUploads']['uploads'][number]
type Version = Schemas['Version']

/**
 * Publishes a PEFT output folder as a new version: hashes the files, creates the version, sends
 * each file to its upload URL (multipart files part by part, failed parts retried), completes
 * it, waits for validation, prints the verdict and, with `publish`, makes it visible.
 * Returns the version as the API last showed it.
 */
export async function publish(remote: Remote, options: PublishOptions): Promise<Version> {
  const { team, slug } = parseRef(options.adapter, { version: 'optional' })
  if (!semverValid(options.version)) throw new CliError(`--version ${options.version} is not a semantic version such as 1.0.0.`)
  const { files: found, skipped } = await listFolder(options.folder)
  for (const name of skipped) options.log.write(`skipping ${name}: pickle files are not published (save with safe_serialization=True)\n`)
  const baseModel = options.base ?? (await declaredBase(options.folder))
  await checkBeforeUpload(options.folder, baseModel)
  const evals = options.evals ? await readEvals(options.evals) : []

  const files: LocalFile[] = []
  for (const file of found) {
    const bar = progressBar(options.log, `hashing ${file.path}`, file.size)
    files.push({ ...file, sha256: await sha256File(file.absolute, (bytes) => bar.advance(bytes)) })
    bar.done()
  }

  const path = { team, slug, version: options.version }
  const created = await call(
    remote.client.POST('/v1/adapters/{team}/{slug}/versions', {
      params: { path: { team, slug } },
      body: {
        version: options.version,
        baseModel,
        changelog: options.changelog ?? '',
        evals,
        files: files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
      },
    }),
  )
  const parts: Record<string, { partNumber: number; etag: string }[]> = {}
  for (const upload of created.uploads) {
    const file = files.find((candidate) => candidate.path === upload.path)
    if (!file) throw new CliError(`The API asked for ${upload.path}, which is not in ${options.folder}.`)
    const etags = await uploadFile(remote, upload, file, options)
    if (upload.kind === 'multipart') parts[upload.path] = etags
  }
  let version = await call(remote.client.POST('/v1/adapters/{team}/{slug}/versions/{version}/complete', { params: { path }, body: { parts } }))
  options.log.write(`uploaded ${files.length} files; validating ${team}/${slug}@${options.version}\n`)

  const deadline = Date.now() + (options.waitSeconds ?? 600) * 1000
  while (version.status === 'validating' && Date.now() < deadline) {
    await sleep(options.pollMs ?? 1000)
    version = await call(remote.client.GET('/v1/adapters/{team}/{slug}/versions/{version}', { params: { path } }))
  }
  options.out.write(describe(`${team}/${slug}@${options.version}`, version))
  if (version.status === 'ready' && options.publish) {
    version = await call(remote.client.POST('/v1/adapters/{team}/{slug}/versions/{version}/publish', { params: { path } }))
    options.out.write(`✔ published ${team}/${slug}@${options.version}\n`)
  }
  return version
}

/**
 * The check `refinery check` runs, before anything is hashed or sent: a folder that does not
 * load on the base it declares would only come back rejected. A base this CLI does not know
 * offline (a team's own registration) is left to the server's validation.
 */
async function checkBeforeUpload(folder: string, baseModel: string) {
  const known = await resolveBase(baseModel).then(
    () => true,
    () => false,
  )
  if (!known) return
  const report = await checkFolder(folder, baseModel)
  if (report.compatible) return
  const errors = report.checks.filter((check) => check.severity === 'error').slice(0, 5)
  const lines = errors.map((check) => `  ${check.code}${check.tensor ? ` ${check.tensor}` : ''}: ${check.message}`)
  throw new CliError(
    `${folder} does not load on ${report.base}; nothing was uploaded (refinery check ${folder} --base ${baseModel} shows the details):\n${lines.join('\n')}`,
  )
}

/** Every file of the folder but hidden ones, training leftovers and pickles (returned as skipped). */
async function listFolder(folder: string) {
  const info = await stat(folder).catch(() => undefined)
  if (!info?.isDirectory()) throw new CliError(`${folder} is not a folder.`)
  const files: Omit<LocalFile, 'sha256'>[] = []
  const skipped: string[] = []
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const absolute = join(dir, entry.name)
      const path = relative(folder, absolute).split(sep).join('/')
      if (entry.name.startsWith('.')) continue
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.test(entry.name)) await walk(absolute)
      } else if (entry.isFile()) {
        if (PICKLE.test(entry.name)) skipped.push(path)
        else files.push({ path, absolute, size: (await stat(absolute)).size })
      }
    }
  }
  await walk(folder)
  if (!files.some((file) => file.path.endsWith('.safetensors'))) {
    throw new CliError(`No .safetensors file in ${folder}${skipped.length > 0 ? ` (only pickles: ${skipped.join(', ')}; save with safe_serialization=True)` : ''}.`)
  }
  if (files.length > MAX_FILES) throw new CliError(`${folder} has ${files.length} files; a version holds at most ${MAX_FILES}.`)
  const empty = files.find((file) => file.size === 0)
  if (empty) throw new CliError(`${empty.path} is empty.`)
  return { files: files.sort((a, b) => a.path.localeCompare(b.path)), skipped }
}

async function declaredBase(folder: string) {
  const text = await readFile(join(folder, 'adapter_config.json'), 'utf8').catch(() => undefined)
  const base = text ? (JSON.parse(text) as { base_model_name_or_path?: unknown }).base_model_name_or_path : undefined
  if (typeof base !== 'string' || base === '') {
    throw new CliError('adapter_config.json names no base_model_name_or_path; pass --base <registered base model id>.')
  }
  return base
}

/** `[{benchmark, score, baseScore?, metric?}]` as the API takes it, or `{"C-Eval": 52.1, "MMLU": {"score": 60, "baseScore": 54}}`. */
async function readEvals(path: string): Promise<Schemas['EvalResult'][]> {
  const parsed = JSON.parse(await readFile(path, 'utf8')) as unknown
  if (Array.isArray(parsed)) return parsed as Schemas['EvalResult'][]
  if (typeof parsed !== 'object' || parsed === null) throw new CliError(`${path}: expected a list of eval results or an object of benchmark → score.`)
  return Object.entries(parsed).map(([benchmark, value]) =>
    typeof value === 'number' ? { benchmark, score: value } : { benchmark, ...(value as { score: number; baseScore?: number }) },
  )
}

/** Sends one file to its upload URL(s); returns the parts' ETags of a multipart upload. */
async function uploadFile(remote: Remote, upload: Upload, file: LocalFile, options: PublishOptions) {
  const bar = progressBar(options.log, `uploading ${file.path}`, file.size)
  if (upload.kind === 'single') {
    await putRange(remote, { url: upload.url, headers: upload.headers, label: file.path }, file.absolute, 0, file.size, bar, options)
    bar.done()
    return []
  }
  const offsets = upload.parts.map((_, index) => upload.parts.slice(0, index).reduce((sum, part) => sum + part.size, 0))
  const etags: { partNumber: number; etag: string }[] = []
  let next = 0
  const worker = async () => {
    while (next < upload.parts.length) {
      const index = next++
      const part = upload.parts[index]!
      const target = { url: part.url, headers: {}, label: `${file.path} part ${part.partNumber}` }
      const etag = await putRange(remote, target, file.absolute, offsets[index]!, part.size, bar, options)
      if (!etag) throw new CliError(`Storage returned no ETag for ${target.label}; is the bucket's CORS exposing ETag?`)
      etags.push({ partNumber: part.partNumber, etag })
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, upload.parts.length) }, worker))
  bar.done(`in ${upload.parts.length} parts`)
  return etags.sort((a, b) => a.partNumber - b.partNumber)
}

/** PUTs `size` bytes of a file from `start`, streamed; retries network failures and 5xx/408/429 with backoff. */
async function putRange(
  remote: Remote,
  target: { url: string; headers: Record<string, string>; label: string },
  absolute: string,
  start: number,
  size: number,
  bar: Progress,
  { attempts = 5, log }: Pick<PublishOptions, 'attempts' | 'log'>,
) {
  for (let attempt = 1; ; attempt++) {
    let sent = 0
    const stream = createReadStream(absolute, { start, end: start + size - 1, highWaterMark: 1024 * 1024 })
    const body = Readable.toWeb(stream) as ReadableStream<Uint8Array>
    stream.on('data', (chunk) => {
      sent += chunk.length
      bar.advance(chunk.length)
    })
    let failure: string
    try {
      const response = await remote.fetch(target.url, {
        method: 'PUT',
        headers: { ...target.headers, 'Content-Length': String(size) },
        body,
        duplex: 'half',
      } as RequestInit)
      if (response.ok) {
        await response.body?.cancel()
        return response.headers.get('ETag')
      }
      const text = await response.text()
      failure = `${response.status} ${storageMessage(text)}`
      if (response.status < 500 && response.status !== 408 && response.status !== 429) {
        throw new CliError(`Storage refused ${target.label}: ${failure}`)
      }
    } catch (error) {
      if (error instanceof CliError) throw error
      failure = (error as Error).message
    } finally {
      stream.destroy()
    }
    bar.advance(-sent)
    if (attempt >= attempts) throw new CliError(`Uploading ${target.label} failed ${attempts} times; last: ${failure}`)
    log.write(`${target.label}: ${failure}; retrying (attempt ${attempt + 1} of ${attempts})\n`)
    await sleep(Math.min(250 * 2 ** (attempt - 1), 8000))
  }
}

/** A problem+json detail or an S3 XML error message, whichever the store sent. */
function storageMessage(text: string) {
  try {
    const problem = JSON.parse(text) as { code?: string; detail?: string }
    return `${problem.code ?? ''} ${problem.detail ?? ''}`.trim()
  } catch {
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1]
    const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1]
    return [code, message].filter(Boolean).join(': ') || text.slice(0, 200)
  }
}

function describe(ref: string, version: Version) {
  const lines: string[] = []
  const lora = version.lora as { rank?: number; targetModules?: string[]; layerCount?: number; parameterCount?: number; dtypes?: string[] } | null
  if (version.status === 'ready' || version.status === 'published') {
    lines.push(`✔ ${ref} is ${version.status}`)
    if (lora) {
      lines.push(
        `  rank ${lora.rank}, ${lora.targetModules?.join(' ')} on ${lora.layerCount} layers, ${lora.parameterCount?.toLocaleString('en')} parameters (${lora.dtypes?.join(', ')})`,
      )
    }
    lines.push(`  fits: ${version.compatibleBases.join(', ')}`)
  } else if (version.status === 'rejected') {
    lines.push(`✘ ${ref} was rejected`)
  } else {
    lines.push(`… ${ref} is still ${version.status}; getVersion shows the verdict when it is done`)
  }
  for (const finding of version.findings as { severity?: string; code?: string; message?: string; tensor?: string }[]) {
    lines.push(`  ${(finding.severity ?? '').padEnd(8)} ${(finding.code ?? '').padEnd(26)} ${finding.message ?? ''}${finding.tensor ? ` (${finding.tensor})` : ''}`)
  }
  const total = version.files.reduce((sum, file) => sum + file.size, 0)
  lines.push(`  ${version.files.length} files, ${formatBytes(total)}`)
  return `${lines.join('\n')}\n`
}
