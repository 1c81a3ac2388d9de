import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLocalStore } from '../../src/node/local-store'
import type { ObjectStore } from '../../src/storage/types'
import { createListing, declare, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

/** A loopback server that records every request: anything the API fetches on a caller's behalf lands here. */
async function startCanary() {
  const hits: string[] = []
  const server: Server = createServer((request, response) => {
    hits.push(`${request.method} ${request.url}`)
    response.end('{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, hits, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

describe('no server-side requests to caller-supplied URLs (SSRF)', () => {
  let h: Harness
  let canary: Awaited<ReturnType<typeof startCanary>>
  beforeAll(async () => {
    h = await createHarness()
    canary = await startCanary()
  })
  afterAll(async () => {
    await h.close()
    await canary.close()
  })

  it('never fetches a URL found in a base id, a config, a listing or a version', async () => {
    const seller = await h.teamOwner('ssrf')
    const url = `${canary.url}/metadata`
    const config = { model_type: 'llama', _name_or_path: url, architectures: ['LlamaForCausalLM'], hidden_size: 256, intermediate_size: 688, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: 1000, auto_map: { AutoModel: url } }
    await h.call('POST', '/v1/base-models', { auth: seller.token, body: { id: url, config } })
    await h.call('POST', '/v1/base-models', { auth: seller.token, body: { id: 'ssrf/tiny', config } })
    await h.call('POST', '/v1/compat/check', { body: { base: { config }, adapter: { version: `${seller.team}/x@1.0.0` } } })
    await h.call('POST', '/v1/compat/check', { body: { base: url, adapter: { header: {} } } })
    await createListing(h, seller, 'ssrf', { description: `![tracker](${url}/pixel.png) [docs](${url})`, license: { text: url, commercialUse: true, derivatives: true } })
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', declaredBase: url })
    await h.call('POST', `/v1/adapters/${seller.team}/ssrf/versions`, { auth: seller.token, body: { version: '1.0.0', baseModel: url, files: declare(files) } })
    await publishFolder(h, seller, 'ssrf', '1.0.1', files, { publish: true })
    const page = await h.app.request(`/${seller.team}/ssrf`)
    expect(await page.text()).toContain(`${url}/pixel.png`)
    // The page names the image but the browser may not load it: images only from the site itself.
    expect(page.headers.get('Content-Security-Policy')).toContain("img-src 'self' data:")
    await h.idle()
    expect(canary.hits).toEqual([])
  })
})

describe('secrets stay out of answers and logs', () => {
  let h: Harness
  let root: string
  const logged: unknown[][] = []
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'refinery-leaks-'))
    const local = createLocalStore({ root, publicUrl: 'http://localhost:8787', secret: randomBytes(32) })
    // A store whose metadata call fails with a message of its own: an unexpected error inside a request.
    const failing: ObjectStore = { ...local, head: async () => Promise.reject(new Error('disk controller reset')) }
    h = await createHarness({ store: failing, logger: { error: (...args: unknown[]) => void logged.push(args), warn: () => {}, info: () => {} } })
  })
  afterAll(async () => {
    await h.close()
    await rm(root, { recursive: true, force: true })
  })

  it('an unexpected failure answers a bare 500 with a request id, and the log has the error but not the API key', async () => {
    const seller = await h.teamOwner('leaky')
    const key = (await h.call('POST', '/v1/api-keys', { auth: seller.token, body: { name: 'ci', scopes: ['read', 'publish'] } })).json.key as string
    await createListing(h, seller, 'leaky')
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })
    const created = await h.call('POST', `/v1/adapters/${seller.team}/leaky/versions`, { auth: key, body: { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) } })
    expect(created.status).toBe(201)
    const completed = await h.call('POST', `/v1/adapters/${seller.team}/leaky/versions/1.0.0/complete`, { auth: key })
    expect(completed.status).toBe(500)
    expect(completed.json.code).toBe('internal_error')
    expect(completed.text).not.toContain('disk controller reset')
    expect(completed.text).not.toContain(key)
    const log = logged.map((args) => args.map((arg) => (arg instanceof Error ? `${arg.message} ${arg.stack}` : String(arg))).join(' ')).join('\n')
    expect(log).toContain(completed.json.requestId)
    expect(log).toContain('disk controller reset')
    expect(log).not.toContain(key)
    expect(log).not.toContain(seller.token)
  })
})
