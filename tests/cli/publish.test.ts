import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createListing, peftFolder, sha256 } from '../helpers/adapters'
import { runCli, writeFolder } from '../helpers/cli'
import { hfConfigs } from '../compat/fixtures/hf-configs'
import { createHarness, type Harness } from '../helpers/harness'

const MULTIPART_ABOVE = 5 * 1024 * 1024

describe.each(['local', 's3'] as const)('refinery publish on the %s store', (storage) => {
  let h: Harness
  let dir: string
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  const env = () => ({ REFINERY_URL: 'http://localhost:8787', REFINERY_API_KEY: seller.token, REFINERY_CONFIG_DIR: join(dir, 'config') })

  beforeAll(async () => {
    // On S3, files above 5 MiB go up in parts: the README below makes three.
    h = await createHarness({ storage, singlePartMaxBytes: MULTIPART_ABOVE })
    dir = await mkdtemp(join(tmpdir(), 'refinery-publish-'))
    seller = await h.teamOwner('cli-seller')
  })
  afterAll(async () => {
    await h.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('publishes a PEFT folder: hashes, uploads (retrying failed parts), waits for validation, shows the verdict', async () => {
    await createListing(h, seller, 'cli-published')
    const line = '# Evaluation notes\n'
    const readme = new TextEncoder().encode(line.repeat(Math.ceil((2 * MULTIPART_ABOVE + 100_000) / line.length)))
    const files = [...peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 8 }).slice(0, 2), { path: 'README.md', bytes: readme }]
    const folder = await writeFolder(join(dir, 'good'), [
      ...files,
      { path: 'training_args.bin', bytes: new Uint8Array([0x80, 0x04, 0x95]) },
      { path: 'checkpoint-500/adapter_model.safetensors', bytes: files[1]!.bytes },
      { path: '.DS_Store', bytes: new Uint8Array([0]) },
    ])
    await writeFolder(dir, [{ path: 'evals.json', bytes: new TextEncoder().encode(JSON.stringify({ 'C-Eval': { score: 52.1, baseScore: 48.3 }, MMLU: 47 })) }])

    // The network fails the first try of some uploads: a 503 from storage, then a dropped connection.
    const failures = new Map<string, 'status' | 'reset'>()
    let puts = 0
    const flaky = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init)
      if (request.method === 'PUT') {
        puts += 1
        const key = `${new URL(request.url).pathname}${new URL(request.url).searchParams.get('partNumber') ?? ''}`
        if ((puts === 2 || puts === 4) && !failures.has(key)) {
          failures.set(key, puts === 2 ? 'status' : 'reset')
          if (puts === 4) throw new TypeError('fetch failed', { cause: new Error('ECONNRESET') })
          return new Response('<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>', { status: 503 })
        }
      }
      return h.network(request)
    }) as typeof fetch

    const args = ['publish', folder, '--adapter', `${seller.team}/cli-published`, '--version', '1.0.0', '--evals', join(dir, 'evals.json')]
    const result = await runCli([...args, '--changelog', 'First release', '--publish'], { env: env(), fetch: flaky })
    expect(result.stderr).toContain('skipping training_args.bin: pickle files are not published')
    expect(result.stderr).toMatch(/: (503 SlowDown: Please reduce your request rate\.|fetch failed); retrying \(attempt 2 of 5\)/)
    expect(failures.size).toBe(2)
    expect(result.stdout).toContain(`✔ ${seller.team}/cli-published@1.0.0 is ready`)
    expect(result.stdout).toContain('rank 8, q_proj v_proj on 4 layers')
    expect(result.stdout).toContain(`✔ published ${seller.team}/cli-published@1.0.0`)
    expect(result.code).toBe(0)

    const version = await h.call('GET', `/v1/adapters/${seller.team}/cli-published/versions/1.0.0`)
    expect(version.json.status).toBe('published')
    expect(version.json.files.map((file: { path: string }) => file.path)).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors'])
    expect(version.json.files.find((file: { path: string }) => file.path === 'README.md')).toMatchObject({ size: readme.length, sha256: sha256(readme) })
    expect(version.json.evals).toEqual([
      { benchmark: 'C-Eval', score: 52.1, baseScore: 48.3 },
      { benchmark: 'MMLU', score: 47 },
    ])
    expect(version.json.compatibleBases).toContain('meta-llama/Llama-2-7b-hf')

    // Same version again: the API's problem, in one line, exit 2.
    const again = await runCli(args, { env: env(), fetch: h.network })
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/^error: Version exists \(version_exists\): Version 1\.0\.0 already exists/m)
  })

  it('exits 1 with the findings when validation rejects the version, and leaves it unpublished', async () => {
    await createListing(h, seller, 'cli-rejected')
    const folder = await writeFolder(join(dir, 'llama'), peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }))
    // A base the CLI cannot check offline (the team's own registration): the server's validation decides.
    const base = `${seller.team}-labs/mistral-copy`
    const registered = await h.call('POST', '/v1/base-models', { auth: seller.token, body: { id: base, config: hfConfigs['mistralai/Mistral-7B-v0.1'], team: seller.team } })
    expect(registered.status, registered.text).toBe(201)
    const result = await runCli(
      ['publish', folder, '--adapter', `${seller.team}/cli-rejected`, '--version', '0.1.0', '--base', base, '--publish'],
      { env: env(), fetch: h.network },
    )
    expect(result.code).toBe(1)
    expect(result.stdout).toContain(`✘ ${seller.team}/cli-rejected@0.1.0 was rejected`)
    expect(result.stdout).toMatch(/error\s+declared_base_incompatible\s+The tensors do not fit the declared base/)
    expect(result.stdout).not.toContain('published')
  })

  it("refuses what the user must fix before anything is uploaded: another team's listing, no weights, not logged in", async () => {
    const other = await h.teamOwner('cli-other')
    await createListing(h, other, 'theirs')
    const folder = join(dir, 'llama')
    const denied = await runCli(['publish', folder, '--adapter', `${other.team}/theirs`, '--version', '1.0.0'], { env: env(), fetch: h.network })
    expect(denied).toMatchObject({ code: 2, stderr: expect.stringMatching(/^error: Not a team member \(not_team_member\)/m) })

    const pickles = await writeFolder(join(dir, 'pickles'), [{ path: 'adapter_model.bin', bytes: new Uint8Array([0x80, 0x04]) }])
    const noWeights = await runCli(['publish', pickles, '--adapter', `${seller.team}/cli-rejected`, '--version', '1.0.0'], { env: env(), fetch: h.network })
    expect(noWeights).toMatchObject({ code: 2, stderr: expect.stringContaining('No .safetensors file') })

    const anonymous = await runCli(['publish', folder, '--adapter', `${seller.team}/cli-rejected`, '--version', '1.0.0'], {
      env: { REFINERY_CONFIG_DIR: join(dir, 'nobody') },
      fetch: h.network,
    })
    expect(anonymous).toMatchObject({ code: 2, stderr: expect.stringContaining('Not logged in to http://localhost:8787: run refinery login') })
    const versions = await h.call('GET', `/v1/adapters/${other.team}/theirs`, { auth: other.token })
    expect(versions.json.versions ?? []).toEqual([])
  })

  it('runs the offline check first: a wrong --base or a bad --version is refused before hashing or uploading', async () => {
    await createListing(h, seller, 'checked-first')
    const folder = await writeFolder(join(dir, 'checked'), peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }))
    const requests: string[] = []
    const watching = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init)
      requests.push(`${request.method} ${new URL(request.url).pathname}`)
      return h.network(request)
    }) as typeof fetch
    const publish = (...extra: string[]) => runCli(['publish', folder, '--adapter', `${seller.team}/checked-first`, ...extra], { env: env(), fetch: watching })

    const wrongBase = await publish('--version', '1.0.0', '--base', 'mistralai/Mistral-7B-v0.1')
    expect(wrongBase.code).toBe(2)
    expect(wrongBase.stderr).toContain('does not load on mistralai/Mistral-7B-v0.1')
    expect(wrongBase.stderr).toContain('nothing was uploaded')
    expect(wrongBase.stderr).not.toContain('hashing')
    const badVersion = await publish('--version', 'first')
    expect(badVersion).toMatchObject({ code: 2, stderr: expect.stringContaining("--version first is not a semantic version") })
    expect(badVersion.stderr).not.toContain('hashing')
    expect(requests).toEqual([])
    expect((await h.call('GET', `/v1/adapters/${seller.team}/checked-first/versions`, { auth: seller.token })).json.items).toEqual([])
  })
})
