/**
 * Local-store upload throughput over loopback HTTP against `cp` of the same file to the same
 * disk, and the server's peak RSS. The client is curl (`curl -T`, as a seller's script would
 * upload) or Node's http module.
 *
 *   npx tsx bench/upload.ts [--mb 2048] [--runs 3] [--client curl|node]
 *
 * The server runs in its own process (the embedded default: PGlite + local files); the client
 * streams the file from disk with a plain HTTP PUT to a signed upload URL, as a seller would.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '2048' },
    runs: { type: 'string', default: '3' },
    client: { type: 'string', default: 'curl' },
    serve: { type: 'string' },
    size: { type: 'string' },
    sha256: { type: 'string' },
  },
})

if (values.serve) await serve(values.serve, Number(values.size), values.sha256!, Number(values.runs))
else await main()

/** The server process: starts the API, plans `runs` uploads and prints their URLs. */
async function serve(dataDir: string, size: number, sha256: string, runs: number) {
  const { parseConfig } = await import('../src/config')
  const { startServer } = await import('../src/node/server')
  const server = await startServer(parseConfig({ PORT: '0', HOST: '127.0.0.1', REFINERY_DATA_DIR: dataDir }))
  const urls = []
  for (let run = 0; run < runs; run += 1) {
    const plan = await server.deps.store.planUpload({ key: `bench/upload-${run}.bin`, size, sha256, expiresInSeconds: 3600 })
    if (plan.kind !== 'single') throw new Error('expected a single PUT')
    urls.push(plan.url.replace(server.deps.publicUrl, server.url))
  }
  console.log(JSON.stringify({ urls }))
  process.stdin.resume()
  process.stdin.on('end', () => void server.close().then(() => process.exit(0)))
}

async function main() {
  const mb = Number(values.mb)
  const runs = Number(values.runs)
  const size = mb * 1024 * 1024
  const dir = await mkdtemp(join(tmpdir(), 'refinery-bench-upload-'))
  try {
    const source = join(dir, 'source.bin')
    process.stdout.write(`writing a ${mb} MiB file of random bytes… `)
    const chunk = randomBytes(8 * 1024 * 1024)
    const out = createWriteStream(source)
    for (let written = 0; written < size; written += chunk.length) {
      if (!out.write(written + chunk.length <= size ? chunk : chunk.subarray(0, size - written))) await new Promise<void>((r) => out.once('drain', () => r()))
    }
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())))
    const hash = createHash('sha256')
    await pipeline(createReadStream(source), hash)
    const sha256 = hash.digest('hex')
    console.log('done')

    // The floor: cp of the same file to the same disk, made durable as an acknowledged upload is.
    const timeCopy = async (script: string) => {
      const seconds: number[] = []
      for (let run = 0; run < runs; run += 1) {
        const target = join(dir, `copy-${run}.bin`)
        const started = performance.now()
        const result = spawnSync('sh', ['-c', script, 'sh', source, target])
        seconds.push((performance.now() - started) / 1000)
        if (result.status !== 0) throw new Error(`cp failed: ${result.stderr}`)
        await rm(target)
      }
      return seconds
    }
    const cpSeconds = await timeCopy('cp "$1" "$2" && sync "$2"')
    const cpCacheSeconds = await timeCopy('cp "$1" "$2"')

    const dataDir = join(dir, 'server')
    // The first start of the embedded database runs initdb (a one-off memory peak): do it apart.
    const migrated = spawnSync(process.execPath, ['--import', 'tsx', 'src/node/migrate-cli.ts'], { env: { ...process.env, REFINERY_DATA_DIR: dataDir, DATABASE_URL: '' } })
    if (migrated.status !== 0) throw new Error(`migrate failed: ${migrated.stderr}`)
    const child = spawn(process.execPath, [...(process.env.PROFILE ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []), '--import', 'tsx', 'bench/upload.ts', '--serve', dataDir, '--size', String(size), '--sha256', sha256, '--runs', String(runs)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    const lines = createInterface({ input: child.stdout! })
    const { urls } = JSON.parse((await lines[Symbol.asyncIterator]().next()).value as string) as { urls: string[] }

    const rssOf = async (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024
    const idleRssMb = await rssOf('VmRSS')
    const uploadSeconds: number[] = []
    for (const [run, url] of urls.entries()) {
      const started = performance.now()
      const status = values.client === 'curl' ? putWithCurl(url, source) : await put(url, source, size)
      uploadSeconds.push((performance.now() - started) / 1000)
      if (status !== 200) throw new Error(`upload failed with ${status}`)
      await rm(join(dataDir, 'objects', 'data', `bench/upload-${run}.bin`))
    }
    const peakRssMb = await rssOf('VmHWM')
    child.stdin!.end()
    await new Promise((resolve) => child.once('exit', resolve))

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    const cpRate = mb / median(cpSeconds)
    const uploadRate = mb / median(uploadSeconds)
    console.log(`cp + sync of ${mb} MiB:      ${cpSeconds.map((s) => s.toFixed(2)).join(' s, ')} s → median ${cpRate.toFixed(0)} MiB/s`)
    console.log(`cp, no sync (page cache):    ${cpCacheSeconds.map((s) => s.toFixed(2)).join(' s, ')} s → median ${(mb / median(cpCacheSeconds)).toFixed(0)} MiB/s`)
    console.log(`upload of ${mb} MiB (HTTP):  ${uploadSeconds.map((s) => s.toFixed(2)).join(' s, ')} s → median ${uploadRate.toFixed(0)} MiB/s`)
    console.log(`upload / (cp + sync):        ${((uploadRate / cpRate) * 100).toFixed(0)}% (target ≥ 70%)`)
    console.log(`server peak RSS:             ${peakRssMb.toFixed(0)} MiB (target ≤ 300 MB; ${idleRssMb.toFixed(0)} MiB before the first upload)`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** What a seller's script would do: `curl -T` streams the file from disk. */
function putWithCurl(url: string, path: string): number {
  const result = spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Content-Type: application/octet-stream', '-T', path, url], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`curl failed: ${result.stderr}`)
  return Number(result.stdout)
}

/** Streams a file to a URL with one PUT from Node; resolves with the status code. */
function put(url: string, path: string, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), req).catch(reject)
  })
}
