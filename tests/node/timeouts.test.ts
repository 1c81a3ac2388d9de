import { request } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config'
import { httpTimeoutsOf } from '../../src/node/server'
import { UPLOAD_URL_TTL_SECONDS } from '../../src/publishing/versions'
import { sha256 } from '../helpers/adapters'
import { startTestServer } from '../helpers/server'

type Server = Awaited<ReturnType<typeof startTestServer>>

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What a socket's life came to: the bytes the server answered before it closed. */
type Ending = { answer: string; closed: boolean }

/**
 * The real Node server with a 1 s idle timeout and a 1 s header bound, so slow-link behaviour
 * shows within seconds. Production keeps Node's request as long as an upload URL lives.
 */
describe('the Node server on slow and stalled connections', () => {
  let server: Server
  let token: string
  let team: string

  beforeAll(async () => {
    server = await startTestServer({ storage: 'local', env: { HTTP_IDLE_TIMEOUT_SECONDS: '1', HTTP_HEADERS_TIMEOUT_SECONDS: '1' } })
    const api = async (method: string, path: string, body: unknown) => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { 'Content-Type': 'application/json', ...(token && { Authorization: `Bearer ${token}` }) },
        body: JSON.stringify(body),
      })
      return (await response.json()) as Record<string, any>
    }
    token = (await api('POST', '/v1/signup', { email: 'slow-link@example.test', password: 'a slow link upload', name: 'Slow' })).token
    team = `slow-${crypto.randomUUID().slice(0, 8)}`
    await api('POST', '/v1/teams', { slug: team, name: 'Slow link' })
    await api('POST', '/v1/adapters', {
      team,
      slug: 'slow',
      title: 'Slow',
      summary: 'Uploaded over a slow link',
      tags: { task: ['chat'], domain: [], language: [] },
      license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true },
    })
  })
  afterAll(() => server?.close())

  /** Declares a one-file version and returns its upload URL and headers. */
  async function uploadUrlFor(version: string, bytes: Uint8Array) {
    const response = await fetch(`${server.url}/v1/adapters/${team}/slow/versions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ version, baseModel: 'meta-llama/Llama-2-7b-hf', files: [{ path: 'adapter_model.safetensors', size: bytes.length, sha256: sha256(bytes) }] }),
    })
    expect(response.status).toBe(201)
    const { uploads } = (await response.json()) as { uploads: { url: string; headers: Record<string, string> }[] }
    return uploads[0]!
  }

  /** PUTs `bytes` in `chunks` pieces with `gapMs` between them; `stopAfter` pieces and it goes silent. */
  function trickle(upload: { url: string; headers: Record<string, string> }, bytes: Uint8Array, options: { chunks: number; gapMs: number; stopAfter?: number }) {
    return new Promise<Ending>((resolve) => {
      let answer = ''
      const put = request(upload.url, { method: 'PUT', headers: { ...upload.headers, 'Content-Length': String(bytes.length) } }, (response) => {
        answer = String(response.statusCode)
        response.resume()
        response.on('end', () => resolve({ answer, closed: false }))
      })
      put.on('error', () => resolve({ answer, closed: true }))
      put.on('close', () => resolve({ answer, closed: !answer }))
      const size = Math.ceil(bytes.length / options.chunks)
      void (async () => {
        for (let i = 0; i < options.chunks; i++) {
          if (options.stopAfter !== undefined && i >= options.stopAfter) return // silent from here on
          put.write(bytes.subarray(i * size, (i + 1) * size))
          await pause(options.gapMs)
        }
        put.end()
      })()
    })
  }

  it('accepts an upload that trickles for longer than the idle and header timeouts but never goes quiet', async () => {
    const bytes = new Uint8Array(10_000).map((_, i) => i % 251)
    const upload = await uploadUrlFor('1.0.0', bytes)
    // 12 pieces 250 ms apart: 3 s in all, three times the idle timeout, never 1 s silent.
    const ending = await trickle(upload, bytes, { chunks: 12, gapMs: 250 })
    expect(ending).toEqual({ answer: '200', closed: false })
  })

  it('cuts an upload that stops sending', async () => {
    const bytes = new Uint8Array(10_000).fill(7)
    const upload = await uploadUrlFor('1.1.0', bytes)
    const ending = await trickle(upload, bytes, { chunks: 10, gapMs: 100, stopAfter: 2 })
    expect(ending.closed).toBe(true)
  })

  it('cuts a client that trickles header bytes without ever finishing them', async () => {
    const ending = await new Promise<Ending>((resolve) => {
      const { port, hostname } = new URL(server.url)
      const socket = connect(Number(port), hostname)
      let answer = ''
      let lines = 0
      socket.on('data', (chunk) => (answer += chunk.toString()))
      socket.on('close', () => resolve({ answer, closed: true }))
      socket.on('error', () => {})
      socket.write(`PUT /v1/storage/local/x HTTP/1.1\r\nHost: ${hostname}\r\n`)
      // A header line every 200 ms: never idle, never done.
      const drip = setInterval(() => {
        if (socket.destroyed) return clearInterval(drip)
        socket.write(`X-Drip-${lines++}: 1\r\n`)
      }, 200)
      socket.on('close', () => clearInterval(drip))
    })
    expect(ending.closed).toBe(true)
    expect(ending.answer).toMatch(/^HTTP\/1\.1 408/)
  })

  it('bounds a request by an upload URL’s life by default, not by Node’s 300 s', () => {
    const defaults = httpTimeoutsOf(parseConfig({}))
    expect(defaults.serverOptions.requestTimeout).toBe(UPLOAD_URL_TTL_SECONDS * 1000)
    expect(defaults.serverOptions.headersTimeout).toBe(60_000)
    expect(defaults.idleTimeout).toBe(60_000)
  })
})
