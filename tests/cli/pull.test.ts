import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createListing, peftFolder, publishFolder, sha256 } from '../helpers/adapters'
import { runCli, writeFolder } from '../helpers/cli'
import { createHarness, type Harness } from '../helpers/harness'

describe('refinery pull', () => {
  let h: Harness
  let dir: string
  let buyer: Awaited<ReturnType<Harness['user']>>
  let stranger: Awaited<ReturnType<Harness['user']>>
  let ref: string
  let team: string
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 16 })
  const newer = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 8 })
  const env = () => ({ REFINERY_URL: 'http://localhost:8787', REFINERY_API_KEY: buyer.token })

  beforeAll(async () => {
    h = await createHarness()
    dir = await mkdtemp(join(tmpdir(), 'refinery-pull-'))
    const seller = await h.teamOwner('cli')
    await createListing(h, seller, 'pulled')
    await publishFolder(h, seller, 'pulled', '1.0.0', files, { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/pulled/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    buyer = await h.user('puller')
    await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id } })
    stranger = await h.user('stranger')
    ref = `${seller.team}/pulled@1.0.0`
    team = seller.team
    // A second, higher published version: `pull team/slug` resolves to it.
    await publishFolder(h, seller, 'pulled', '1.1.0', newer, { publish: true })
  })
  afterAll(async () => {
    await h.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** The network: the app itself, with the first download of the weights cut off after 100 kB. */
  function network() {
    const ranges: (string | null)[] = []
    let cut = false
    const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init)
      const response = await h.network(request)
      if (!request.url.includes('/v1/storage/local/')) return response
      ranges.push(request.headers.get('Range'))
      const whole = new Uint8Array(await response.arrayBuffer())
      if (cut || whole.length < 1_000_000) return new Response(whole, { status: response.status, headers: response.headers })
      cut = true
      const bytes = whole.subarray(0, 100_000)
      let sent = false
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent) return controller.error(new Error('connection reset by peer'))
          sent = true
          controller.enqueue(bytes)
        },
      })
      return new Response(body, { status: response.status, headers: response.headers })
    }) as typeof fetch
    return { fetchImpl, ranges }
  }

  it('downloads every file, resumes the interrupted one with Range, and verifies each sha256', async () => {
    const { fetchImpl, ranges } = network()
    const { code, stdout: out, stderr } = await runCli(['pull', ref, '--dir', join(dir, 'ok')], {
      fetch: fetchImpl,
      env: { REFINERY_URL: 'http://localhost:8787', REFINERY_API_KEY: buyer.token },
    })
    expect(code).toBe(0)
    expect(stderr).toContain('adapter_model.safetensors: interrupted (connection reset by peer); resuming, attempt 2 of 5')
    expect(ranges).toContain('bytes=100000-')
    for (const file of files) expect(sha256(await readFile(join(dir, 'ok', file.path)))).toBe(sha256(file.bytes))
    expect((await readdir(join(dir, 'ok'))).filter((name) => name.endsWith('.part'))).toEqual([])
    expect(out).toContain('adapter_model.safetensors')
  })

  it('shows the API problem and exits 2 for a caller without an entitlement, leaving no file', async () => {
    const { code, stderr: err } = await runCli(['pull', ref, '--dir', join(dir, 'denied')], {
      fetch: network().fetchImpl,
      env: { REFINERY_URL: 'http://localhost:8787', REFINERY_API_KEY: stranger.token },
    })
    expect(code).toBe(2)
    expect(err).toContain('not_entitled')
    expect(await readdir(join(dir, 'denied')).catch(() => [])).toEqual([])
  })

  /** The app as the network, counting the downloads from storage per file name. */
  function counting() {
    const fetched: string[] = []
    const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init)
      const response = await h.network(request)
      if (request.url.includes('/v1/storage/local/')) fetched.push(/filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? '?')
      return response
    }) as typeof fetch
    return { fetchImpl, fetched }
  }

  it('writes into ./<slug>-<version>/ by default, not into the current folder', async () => {
    const cwd = await mkdtemp(join(dir, 'cwd-'))
    await writeFile(join(cwd, 'README.md'), 'my own notes\n')
    const { code, stdout } = await runCli(['pull', ref], { fetch: counting().fetchImpl, env: env(), cwd })
    expect(code).toBe(0)
    expect(await readFile(join(cwd, 'README.md'), 'utf8')).toBe('my own notes\n')
    for (const file of files) expect(sha256(await readFile(join(cwd, 'pulled-1.0.0', file.path)))).toBe(sha256(file.bytes))
    expect(stdout).toContain(join('pulled-1.0.0', 'adapter_model.safetensors'))
  })

  it('never replaces a file that is not the one it downloads without --force, and writes nothing then', async () => {
    const target = join(dir, 'mine')
    await mkdir(target, { recursive: true })
    await writeFile(join(target, 'README.md'), 'my own notes\n')
    const network = counting()
    const refused = await runCli(['pull', ref, '--dir', target], { fetch: network.fetchImpl, env: env() })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('README.md')
    expect(refused.stderr).toContain('--force')
    expect(network.fetched).toEqual([])
    expect(await readdir(target)).toEqual(['README.md'])
    expect(await readFile(join(target, 'README.md'), 'utf8')).toBe('my own notes\n')

    const forced = await runCli(['pull', ref, '--dir', target, '--force'], { fetch: network.fetchImpl, env: env() })
    expect(forced.code).toBe(0)
    const readme = files.find((file) => file.path === 'README.md')!
    expect(sha256(await readFile(join(target, 'README.md')))).toBe(sha256(readme.bytes))
  })

  it('skips the files a previous pull already finished (same size and sha256)', async () => {
    const target = join(dir, 'resumed')
    const weights = files.find((file) => file.path === 'adapter_model.safetensors')!
    await writeFolder(target, [weights])
    const network = counting()
    const { code, stdout } = await runCli(['pull', ref, '--dir', target], { fetch: network.fetchImpl, env: env() })
    expect(code).toBe(0)
    expect(network.fetched.sort()).toEqual(['README.md', 'adapter_config.json'])
    expect(stdout).toMatch(/adapter_model\.safetensors.*already complete/)
  })

  it('resolves team/slug without a version to the newest published version and says which', async () => {
    const cwd = await mkdtemp(join(dir, 'latest-'))
    const { code, stderr } = await runCli(['pull', `${team}/pulled`], { fetch: counting().fetchImpl, env: env(), cwd })
    expect(code).toBe(0)
    expect(stderr).toContain(`${team}/pulled@1.1.0`)
    for (const file of newer) expect(sha256(await readFile(join(cwd, 'pulled-1.1.0', file.path)))).toBe(sha256(file.bytes))
  })

  it('names the file as engines load it: adapter_model.safetensors, not slug-version-path', async () => {
    const network = counting()
    expect((await runCli(['pull', ref, '--dir', join(dir, 'named')], { fetch: network.fetchImpl, env: env() })).code).toBe(0)
    expect(network.fetched).toContain('adapter_model.safetensors')
  })
})
