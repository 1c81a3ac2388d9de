import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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

  it('signs up, publishes a PEFT folder, checks it offline, buys the free offer, pulls through an interruption: only the CLI', async () => {
    const api = server.url
    const folder = await writeFolder(join(dir, 'legal-zh-lora'), files)
    const sellerIo = { env: { REFINERY_CONFIG_DIR: join(dir, 'seller-config') } }

    // The seller signs up with the real `refinery` command, the password on standard input.
    const signup = await runBin(['signup', '--url', api, '--email', `seller-${storage}@example.test`, '--name', 'Seller'], sellerIo.env, 'correct horse battery staple\n')
    expect(signup).toMatchObject({ code: 0, stderr: '', stdout: expect.stringContaining(`✔ logged in to ${api} as seller-${storage}@example.test`) })
    const credentials = join(dir, 'seller-config', 'credentials.json')
    expect((await stat(credentials)).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await readFile(credentials, 'utf8'))).toMatchObject({ url: api, token: expect.stringMatching(/^rfy_/) })

    expect(await runCli(['team', 'create', 'acme-labs', '--name', 'Acme Labs'], sellerIo)).toMatchObject({ code: 0 })
    const listing = await runCli(
      ['adapter', 'create', 'acme-labs/legal-zh', '--title', 'Chinese contract law assistant', '--summary', 'Answers questions about contract law',
        '--license', 'Apache-2.0', '--commercial', '--derivatives', '--task', 'chat', '--domain', 'legal', '--language', 'zh', '--visibility', 'published'],
      sellerIo,
    )
    expect(listing).toMatchObject({ code: 0 })
    const published = await runCli(['publish', folder, '--adapter', 'acme-labs/legal-zh', '--version', '1.0.0', '--changelog', 'First release', '--publish'], sellerIo)
    expect(published.stdout).toContain('✔ acme-labs/legal-zh@1.0.0 is ready')
    expect(published.stdout).toContain('✔ published acme-labs/legal-zh@1.0.0')
    expect(published.code).toBe(0)
    expect(await runCli(['offer', 'create', 'acme-labs/legal-zh', '--free', '--license', 'research'], sellerIo)).toMatchObject({ code: 0 })

    // Offline, no server involved: the right base and a wrong one.
    expect(await runCli(['check', folder, '--base', 'meta-llama/Llama-2-7b-hf'])).toMatchObject({ code: 0 })
    expect(await runCli(['check', folder, '--base', 'mistralai/Mistral-7B-v0.1'])).toMatchObject({ code: 1 })

    // The buyer signs up, logs out (the CLI's key is revoked), and logs in again with the password.
    const buyerIo = { env: { REFINERY_CONFIG_DIR: join(dir, 'buyer-config') } }
    const password = 'another horse battery staple\n'
    expect(await runCli(['signup', '--url', api, '--email', `buyer-${storage}@example.test`, '--name', 'Buyer'], { ...buyerIo, stdin: password })).toMatchObject({ code: 0 })
    const firstKey = JSON.parse(await readFile(join(dir, 'buyer-config', 'credentials.json'), 'utf8')).token as string
    expect(await runCli(['logout'], buyerIo)).toMatchObject({ code: 0, stderr: '' })
    expect((await fetch(`${api}/v1/me`, { headers: { Authorization: `Bearer ${firstKey}` } })).status).toBe(401)
    // Logged out: search works anonymously, pull asks for a login.
    const anonymous = { env: { ...buyerIo.env, REFINERY_URL: api } }
    expect(await runCli(['search', 'contract'], anonymous)).toMatchObject({ code: 0, stdout: expect.stringContaining('acme-labs/legal-zh@1.0.0') })
    expect(await runCli(['pull', 'acme-labs/legal-zh@1.0.0'], anonymous)).toMatchObject({ code: 2, stderr: expect.stringContaining(`Not logged in to ${api}`) })
    const login = await runCli(['login', '--url', api, '--email', `buyer-${storage}@example.test`], { ...buyerIo, stdin: password })
    expect(login).toMatchObject({ code: 0, stdout: expect.stringContaining(`as buyer-${storage}@example.test`) })

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
  })
})

/** The `refinery` command in a child process (the server runs in this one, so never spawnSync). */
function runBin(argv: string[], env: Record<string, string | undefined>, stdin: string) {
  const child = execFile(process.execPath, ['bin/refinery.mjs', ...argv], { env: { ...process.env, REFINERY_URL: '', REFINERY_API_KEY: '', ...env }, encoding: 'utf8' })
  child.stdin!.end(stdin)
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (chunk) => (stdout += chunk))
    child.stderr!.on('data', (chunk) => (stderr += chunk))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('refinery migrate and refinery serve', () => {
  it('migrates the embedded database, then serves the API on it until stopped', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'refinery-serve-'))
    const env = { ...process.env, REFINERY_DATA_DIR: dataDir, DATABASE_URL: '', PORT: '0', PUBLIC_URL: '' }
    try {
      const migrated = await runBin(['migrate'], env, '')
      expect(migrated).toMatchObject({ code: 0, stdout: expect.stringContaining(`Migrations applied to ${dataDir}`) })

      const server = spawn(process.execPath, ['bin/refinery.mjs', 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      const url = await new Promise<string>((resolve, reject) => {
        let output = ''
        server.stdout.on('data', (chunk) => {
          output += chunk
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
          if (match) resolve(match[1]!)
        })
        server.on('exit', (code) => reject(new Error(`refinery serve exited with ${code}: ${output}`)))
      })
      expect(await (await fetch(`${url}/health`)).json()).toEqual({ status: 'ok' })
      const exited = new Promise<number | null>((resolve) => server.on('exit', resolve))
      server.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
