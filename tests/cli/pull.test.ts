import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createListing, peftFolder, publishFolder, sha256 } from '../helpers/adapters'
import { runCli } from '../helpers/cli'
import { createHarness, type Harness } from '../helpers/harness'

describe('refinery pull', () => {
  let h: Harness
  let dir: string
  let buyer: Awaited<ReturnType<Harness['user']>>
  let stranger: Awaited<ReturnType<Harness['user']>>
  let ref: string
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 16 })

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
})
