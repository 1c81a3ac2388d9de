/**
 * Start-up of `npm start`'s real entry, `node dist/node/main.js`, on the embedded default
 * (PGlite in a data dir), from spawn until /health answers: a first start on a fresh data dir
 * loading the build's migrated snapshot, a first start without it (initdb + every migration, the
 * snapshot folder moved aside for that start), and a restart on the data dir the first start left.
 *
 *   npx tsx bench/startup.ts [--runs 5]
 *
 * Each run makes the three starts one after the other, so the ratios compare starts made under
 * the same machine load.
 */
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { SNAPSHOT_FOLDER } from '../src/node/pglite-snapshot'
import { freePort } from '../tests/helpers/server'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } })
const runs = Number(values.runs)

const build = spawnSync('npm', ['run', '--silent', 'build'], { encoding: 'utf8' })
if (build.status !== 0) throw new Error(`npm run build failed: ${build.stderr}`)

/** Seconds from spawning the server on `dataDir` to its first 200 from /health; then stops it. */
async function timeStart(dataDir: string): Promise<number> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const env = { ...process.env, REFINERY_DATA_DIR: dataDir, DATABASE_URL: '', PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: base }
  const started = performance.now()
  const child = spawn(process.execPath, ['dist/node/main.js'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  const exited = once(child, 'exit')
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`)
      const ok = await fetch(`${base}/health`).then((response) => response.ok, () => false)
      if (ok) return (performance.now() - started) / 1000
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  } finally {
    child.kill('SIGTERM')
    await exited
  }
}

const seconds = { snapshot: [] as number[], initdb: [] as number[], restart: [] as number[] }
const root = await mkdtemp(join(tmpdir(), 'refinery-bench-startup-'))
const aside = `${SNAPSHOT_FOLDER}.bench-aside`
try {
  for (let run = 0; run < runs; run += 1) {
    const fresh = join(root, `snapshot-${run}`)
    seconds.snapshot.push(await timeStart(fresh))
    seconds.restart.push(await timeStart(fresh))
    await rename(SNAPSHOT_FOLDER, aside)
    try {
      seconds.initdb.push(await timeStart(join(root, `initdb-${run}`)))
    } finally {
      await rename(aside, SNAPSHOT_FOLDER)
    }
    console.log(`run ${run + 1}: first start ${seconds.snapshot[run]!.toFixed(2)} s (snapshot), ${seconds.initdb[run]!.toFixed(2)} s (initdb); restart ${seconds.restart[run]!.toFixed(2)} s`)
  }
} finally {
  await rm(root, { recursive: true, force: true })
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ratio = (of: number[]) => of.map((s, run) => s / seconds.restart[run]!)
const show = (xs: number[], unit = ' s') => `${xs.map((x) => x.toFixed(2)).join(', ')} → median ${median(xs).toFixed(2)}${unit}`
console.log(`first start, snapshot:   ${show(seconds.snapshot)}`)
console.log(`first start, initdb:     ${show(seconds.initdb)}`)
console.log(`restart:                 ${show(seconds.restart)}`)
console.log(`snapshot ÷ restart:      ${show(ratio(seconds.snapshot), '×')} (target ≤ 2×)`)
console.log(`initdb ÷ restart:        ${show(ratio(seconds.initdb), '×')}`)
