/**
 * Local-store upload throughput over loopback HTTP against `cp` of the same file to the same
 * disk, and the server's peak RSS. The server is what `npm start` runs (the built bundle,
 * `node dist/node/main.js`, on the embedded default: PGlite + local files); the upload URLs come
 * from createVersion, as a seller's would, and the client is curl (`curl -T`) or Node's http.
 *
 *   npx tsx bench/upload.ts [--mb 2048] [--runs 3] [--client curl|node]
 *
 * Each run times `cp` + `sync`, `cp` alone, then the upload, one after the other, so the ratio
 * compares runs made under the same disk and CPU conditions.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { freePort } from '../tests/helpers/server'

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '2048' },
    runs: { type: 'string', default: '3' },
    client: { type: 'string', default: 'curl' },
  },
})
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
  // The source's own writeback must not land in the first timed run.
  spawnSync('sync')
  console.log('done')

  const build = spawnSync('npm', ['run', '--silent', 'build'], { encoding: 'utf8' })
  if (build.status !== 0) throw new Error(`npm run build failed: ${build.stderr}`)
  const dataDir = join(dir, 'server')
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const env = { ...process.env, REFINERY_DATA_DIR: dataDir, DATABASE_URL: '', PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: base }
  // The first start of the embedded database runs initdb (a one-off memory peak): do it apart.
  const migrated = spawnSync(process.execPath, ['dist/node/migrate-cli.js'], { env, encoding: 'utf8' })
  if (migrated.status !== 0) throw new Error(`migrate failed: ${migrated.stderr}`)
  const profile = process.env.PROFILE ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []
  const child = spawn(process.execPath, [...profile, 'dist/node/main.js'], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    // Its output is read to the end, so a chatty server never blocks on a full pipe.
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => line.includes('listening on') && resolve())
      child.once('exit', (code) => reject(new Error(`the server exited with ${code}`)))
    })

    const rssOf = async (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024
    const startupPeakMb = await rssOf('VmHWM')

    // A seller's upload URLs, from createVersion: one version per run.
    const call = async (path: string, body: unknown, token?: string) => {
      const response = await fetch(base + path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(token && { Authorization: `Bearer ${token}` }) },
        body: JSON.stringify(body),
      })
      if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
      return response.json() as Promise<any>
    }
    const { token } = await call('/v1/signup', { email: 'seller@bench.test', password: 'bench password 1', name: 'Seller' })
    await call('/v1/teams', { slug: 'acme', name: 'Acme' }, token)
    await call('/v1/adapters', { team: 'acme', slug: 'big', title: 'Big', license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true } }, token)
    const files = [{ path: 'adapter_model.safetensors', size, sha256 }]
    const plans: { url: string; headers: Record<string, string> }[] = []
    for (let run = 0; run < runs; run += 1) {
      plans.push((await call('/v1/adapters/acme/big/versions', { version: `1.0.${run}`, baseModel: 'meta-llama/Llama-2-7b-hf', files }, token)).uploads[0])
    }
    const plannedPeakMb = await rssOf('VmHWM')
    const idleRssMb = await rssOf('VmRSS')
    const timed = async (work: () => unknown) => {
      const started = performance.now()
      await work()
      return (performance.now() - started) / 1000
    }
    const copy = async (script: string) => {
      const target = join(dir, 'copy.bin')
      const took = await timed(() => {
        const result = spawnSync('sh', ['-c', script, 'sh', source, target])
        if (result.status !== 0) throw new Error(`cp failed: ${result.stderr}`)
      })
      await rm(target)
      return took
    }
    const rssDuring: string[] = []
    const seconds = { cp: [] as number[], cpCache: [] as number[], upload: [] as number[] }
    for (let run = 0; run < runs; run += 1) {
      seconds.cp.push(await copy('cp "$1" "$2" && sync "$2"'))
      seconds.cpCache.push(await copy('cp "$1" "$2"'))
      const { url, headers } = plans[run]!
      let status = 0
      const before = await rssOf('VmRSS')
      let peak = before
      const sampler = setInterval(() => void rssOf('VmRSS').then((rss) => (peak = Math.max(peak, rss))), 10)
      seconds.upload.push(await timed(async () => (status = await (values.client === 'curl' ? putWithCurl : put)(url, headers, source, size))))
      clearInterval(sampler)
      rssDuring.push(`${before.toFixed(0)} → ${peak.toFixed(0)}`)
      if (status !== 200) throw new Error(`upload failed with ${status}`)
      // The next run writes to an empty store again (the folder itself must stay: without it the store is down).
      const objects = join(dataDir, 'objects', 'data')
      for (const entry of await readdir(objects)) await rm(join(objects, entry), { recursive: true })
    }
    const peakRssMb = await rssOf('VmHWM')

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    const list = (xs: number[]) => `${xs.map((s) => s.toFixed(2)).join(' s, ')} s → median ${(mb / median(xs)).toFixed(0)} MiB/s`
    const ratios = seconds.upload.map((s, run) => seconds.cp[run]! / s)
    console.log(`cp + sync of ${mb} MiB:      ${list(seconds.cp)}`)
    console.log(`cp, no sync (page cache):    ${list(seconds.cpCache)}`)
    console.log(`upload of ${mb} MiB (HTTP):  ${list(seconds.upload)}`)
    console.log(`upload / (cp + sync):        ${ratios.map((r) => `${(r * 100).toFixed(0)}%`).join(', ')} run by run → median ${(median(ratios) * 100).toFixed(0)}% (target ≥ 70%)`)
    console.log(`server peak RSS:             ${peakRssMb.toFixed(0)} MiB = ${((peakRssMb * 2 ** 20) / 1e6).toFixed(0)} MB (target ≤ 300 MB)`)
    console.log(`  peak after start ${startupPeakMb.toFixed(0)} MiB, after the API calls ${plannedPeakMb.toFixed(0)} MiB; ${idleRssMb.toFixed(0)} MiB before the first upload; sampled before → peak of each upload: ${rssDuring.join(', ')} MiB`)
  } finally {
    child.kill()
    await new Promise((resolve) => child.once('exit', resolve))
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}

/** What a seller's script would do: `curl -T` streams the file from disk; resolves with the status code. */
async function putWithCurl(url: string, headers: Record<string, string>, path: string): Promise<number> {
  const flags = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`])
  const curl = spawn('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', ...flags, '-T', path, url])
  let output = ''
  curl.stdout.on('data', (data) => (output += data))
  curl.stderr.on('data', (data) => (output += data))
  const [code] = (await once(curl, 'close')) as [number]
  if (code !== 0) throw new Error(`curl failed: ${output}`)
  return Number(output)
}

/** Streams a file to a URL with one PUT from Node; resolves with the status code. */
function put(url: string, headers: Record<string, string>, path: string, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: { ...headers, 'Content-Length': String(size) } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), req).catch(reject)
  })
}
