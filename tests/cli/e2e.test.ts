import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, data } from '../../src/client'
import { peftFolder, sha256 } from '../helpers/adapters'
import { runCli, writeFolder } from '../helpers/cli'
import { startTestServer } from '../helpers/server'


/** fetch over the real loopback network, but the first body above 200 kB from storage is cut off after 150 kB. */
function interruptingFetch(api: string) {
  const cut: string[] = []
  const ranges: string[] = []
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init)
    const response = await fetch(request)
    if (request.method !== 'GET' || request.url.startsWith(`${api}/v1/adapters`)) return response
    if (request.headers.get('Range')) ranges.push(request.headers.get('Range')!)
    const size = Number(response.headers.get('Content-Length'))
    if (cut.length > 0 || !response.body || size < 200_000) return response
    cut.push(request.url)
    const reader = response.body.getReader()
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await reader.read()
        if (done || sent >= 150_000) {
          await reader.cancel()
          return controller.error(new Error('connection reset by peer'))
        }
        const chunk = value.subarray(0, 150_000 - sent)
        sent += chunk.byteLength
        controller.enqueue(chunk)
      },
    })
    return new Response(body, { status: response.status, headers: response.headers })
  }) as typeof fetch
  return { fetchImpl, cut, ranges }
}

describe.each(['local', 's3'] as const)('from PEFT to Refinery with the CLI, against the real server (%s store)', (storage) => {
  let server: Awaited<ReturnType<typeof startTestServer>>
  let dir: string
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 16, layers: [0, 1, 2, 3, 4, 5, 6, 7] })

  beforeAll(async () => {
    server = await startTestServer({ storage })
    dir = await mkdtemp(join(tmpdir(), 'refinery-cli-e2e-'))
  })
  afterAll(async () => {
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('publishes a PEFT folder, checks it offline, buys the free offer, pulls through an interruption and verifies the bytes', async () => {
    const api = server.url
    const folder = await writeFolder(join(dir, 'legal-zh-lora'), files)
    const seller = await data(
      createClient({ url: api }).POST('/v1/signup', { body: { email: `seller-${storage}@example.test`, password: 'correct horse battery staple', name: 'Seller' } }),
    )
    const sellerApi = createClient({ url: api, token: seller.token })
    await data(sellerApi.POST('/v1/teams', { body: { slug: 'acme-labs', name: 'Acme Labs' } }))
    await data(
      sellerApi.POST('/v1/adapters', {
        body: {
          team: 'acme-labs',
          slug: 'legal-zh',
          title: 'Chinese contract law assistant',
          summary: 'Answers questions about contract law',
          tags: { task: ['chat'], domain: ['legal'], language: ['zh'] },
          license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: true },
          visibility: 'published',
        },
      }),
    )
    const { key } = await data(sellerApi.POST('/v1/api-keys', { body: { name: 'ci', scopes: ['read', 'publish'] } }))

    // The seller logs in with the real `refinery` command, the key on standard input.
    const sellerEnv = { ...process.env, REFINERY_CONFIG_DIR: join(dir, 'seller-config'), REFINERY_URL: '', REFINERY_API_KEY: '' }
    const child = execFile(process.execPath, ['bin/refinery.mjs', 'login', '--url', api], { env: sellerEnv, encoding: 'utf8' })
    child.stdin!.end(`${key}\n`)
    const login = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      let stdout = ''
      let stderr = ''
      child.stdout!.on('data', (chunk) => (stdout += chunk))
      child.stderr!.on('data', (chunk) => (stderr += chunk))
      child.on('close', (code) => resolve({ code, stdout, stderr }))
    })
    expect(login.stderr).toBe('')
    expect(login.stdout).toContain(`✔ logged in to ${api} as seller-${storage}@example.test`)
    expect(login.code).toBe(0)
    const credentials = join(dir, 'seller-config', 'credentials.json')
    expect((await stat(credentials)).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await readFile(credentials, 'utf8'))).toMatchObject({ url: api, token: key })

    const sellerIo = { env: { REFINERY_CONFIG_DIR: join(dir, 'seller-config') } }
    const published = await runCli(['publish', folder, '--adapter', 'acme-labs/legal-zh', '--version', '1.0.0', '--changelog', 'First release', '--publish'], sellerIo)
    expect(published.stdout).toContain('✔ acme-labs/legal-zh@1.0.0 is ready')
    expect(published.stdout).toContain('✔ published acme-labs/legal-zh@1.0.0')
    expect(published.code).toBe(0)

    // Offline, no server involved: the right base and a wrong one.
    expect(await runCli(['check', folder, '--base', 'meta-llama/Llama-2-7b-hf'])).toMatchObject({ code: 0 })
    expect(await runCli(['check', folder, '--base', 'mistralai/Mistral-7B-v0.1'])).toMatchObject({ code: 1 })

    await data(sellerApi.POST('/v1/adapters/{team}/{slug}/offers', { params: { path: { team: 'acme-labs', slug: 'legal-zh' } }, body: { kind: 'free', license: 'research' } }))

    // The buyer logs in with email and password: the CLI makes itself an API key.
    await data(
      createClient({ url: api }).POST('/v1/signup', { body: { email: `buyer-${storage}@example.test`, password: 'another horse battery staple', name: 'Buyer' } }),
    )
    const buyerIo = { env: { REFINERY_CONFIG_DIR: join(dir, 'buyer-config') } }
    const buyerLogin = await runCli(['login', '--url', api, '--email', `buyer-${storage}@example.test`], { ...buyerIo, stdin: 'another horse battery staple\n' })
    expect(buyerLogin).toMatchObject({ code: 0, stdout: expect.stringContaining(`as buyer-${storage}@example.test`) })
    const buyerKey = JSON.parse(await readFile(join(dir, 'buyer-config', 'credentials.json'), 'utf8')).token as string
    expect(buyerKey).toMatch(/^rfy_/)

    const found = await runCli(['search', 'contract', '--base', 'meta-llama/Llama-2-7b-hf'], buyerIo)
    expect(found.stdout).toContain('acme-labs/legal-zh@1.0.0  Chinese contract law assistant')
    expect((await runCli(['search', '--base', 'mistralai/Mistral-7B-v0.1', '--json'], buyerIo)).stdout).not.toContain('legal-zh')

    const notYet = await runCli(['pull', 'acme-labs/legal-zh@1.0.0', '--dir', join(dir, 'early')], buyerIo)
    expect(notYet).toMatchObject({ code: 2, stderr: expect.stringContaining('(not_entitled)') })

    const bought = await runCli(['buy', 'acme-labs/legal-zh'], buyerIo)
    expect(bought).toMatchObject({ code: 0, stdout: expect.stringContaining('✔ entitled to acme-labs/legal-zh (research licence)') })

    const network = interruptingFetch(api)
    const pulled = await runCli(['pull', 'acme-labs/legal-zh@1.0.0', '--dir', join(dir, 'models')], { ...buyerIo, fetch: network.fetchImpl })
    expect(pulled.stderr).toContain('adapter_model.safetensors: interrupted')
    expect(pulled.code).toBe(0)
    expect(network.cut).toHaveLength(1)
    expect(network.ranges).toContain('bytes=150000-')
    for (const file of files) expect(sha256(await readFile(join(dir, 'models', file.path)))).toBe(sha256(file.bytes))
    expect((await readdir(join(dir, 'models'))).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors'])

    // Logging out revokes the key the CLI made.
    expect(await runCli(['logout'], buyerIo)).toMatchObject({ code: 0 })
    const me = await fetch(`${api}/v1/me`, { headers: { Authorization: `Bearer ${buyerKey}` } })
    expect(me.status).toBe(401)
  })
})
