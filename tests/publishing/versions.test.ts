import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterVersions, versionFiles } from '../../src/publishing/tables'
import { createListing, declare, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

const MULTIPART_ABOVE = 5 * 1024 * 1024

describe.each(['local', 's3'] as const)('publishing versions on the %s store', (storage) => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>

  beforeAll(async () => {
    // On S3, files above 5 MiB (S3's smallest part) go up in parts.
    h = await createHarness({ storage, singlePartMaxBytes: MULTIPART_ABOVE })
    seller = await h.teamOwner('seller')
  })
  afterAll(() => h.close())

  it('uploads a PEFT folder, validates it against every base, publishes it and finds it by the base it fits', async () => {
    await createListing(h, seller, 'legal-zh')
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })
    const { created, completed, version } = await publishFolder(h, seller, 'legal-zh', '1.0.0', files)

    expect(created.json.version.status).toBe('uploading')
    expect(created.json.uploads).toHaveLength(3)
    expect(created.json.uploads[0]).toMatchObject({ kind: 'single', method: 'PUT' })
    expect(completed.status).toBe(202)
    expect(completed.json.status).toBe('validating')

    expect(version.status).toBe('ready')
    expect(version.lora).toMatchObject({ rank: 4 })
    expect(version.compatibleBases).toContain('meta-llama/Llama-2-7b-hf')
    // q_proj/v_proj are 4096×4096 in both: Qwen1.5-7B is a shape twin of Llama-2-7B.
    expect(version.compatibleBases).toContain('Qwen/Qwen1.5-7B')
    // Mistral's v_proj is 1024 wide (grouped-query attention): not a fit.
    expect(version.compatibleBases).not.toContain('mistralai/Mistral-7B-v0.1')

    const hidden = await h.call('GET', '/v1/adapters?base=meta-llama/Llama-2-7b-hf')
    expect(hidden.json.items.map((item: { slug: string }) => item.slug)).not.toContain('legal-zh')

    const published = await h.call('POST', `/v1/adapters/${seller.team}/legal-zh/versions/1.0.0/publish`, { auth: seller.token })
    expect(published.status).toBe(200)
    expect(published.json.status).toBe('published')
    expect(published.json.publishedAt).toEqual(expect.any(String))

    const byBase = await h.call('GET', '/v1/adapters?base=meta-llama/Llama-2-7b-hf')
    expect(byBase.status).toBe(200)
    expect(byBase.json.items).toEqual([
      expect.objectContaining({ team: seller.team, slug: 'legal-zh', latestVersion: '1.0.0', compatibleBases: expect.arrayContaining(['meta-llama/Llama-2-7b-hf']) }),
    ])
    const mistral = await h.call('GET', '/v1/adapters?base=mistralai/Mistral-7B-v0.1')
    expect(mistral.json.items).toEqual([])
    const compatible = await h.call('GET', '/v1/base-models/Qwen/Qwen1.5-7B/adapters')
    expect(compatible.json.items.map((item: { slug: string }) => item.slug)).toEqual(['legal-zh'])

    // Anyone may read a published version; the check by reference uses the stored tensors.
    const anonymous = await h.call('GET', `/v1/adapters/${seller.team}/legal-zh/versions/1.0.0`)
    expect(anonymous.status).toBe(200)
    const check = await h.call('POST', '/v1/compat/check', {
      body: { base: 'mistralai/Mistral-7B-v0.1', adapter: { version: `${seller.team}/legal-zh@1.0.0` } },
    })
    expect(check.status).toBe(200)
    expect(check.json.compatible).toBe(false)
  })

  it('rejects a pickle renamed .safetensors without unpickling it', async () => {
    await createListing(h, seller, 'pickled')
    const pickle = new Uint8Array([0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x7d, 0x94, 0x8c, 0x03, 0x66, 0x6f, 0x6f, 0x94, 0x2e])
    const { version } = await publishFolder(h, seller, 'pickled', '1.0.0', [
      { path: 'adapter_model.safetensors', bytes: pickle },
    ])
    expect(version.status).toBe('rejected')
    expect(version.findings).toEqual([expect.objectContaining({ code: 'pickle_rejected', severity: 'error' })])
    const publish = await h.call('POST', `/v1/adapters/${seller.team}/pickled/versions/1.0.0/publish`, { auth: seller.token })
    expectProblem(publish, 409, 'version_rejected')
    // Trying the number again says what happened to it and which number is free.
    const again = await h.call('POST', `/v1/adapters/${seller.team}/pickled/versions`, {
      auth: seller.token,
      body: { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })) },
    })
    expectProblem(again, 409, 'version_exists')
    expect(again.json).toMatchObject({ versionStatus: 'rejected', nextFree: '1.0.1' })
    expect(again.json.detail).toContain('was rejected')
    expect(again.json.detail).toContain('1.0.1')
  })

  it('rejects bytes that do not match the declared checksum', async () => {
    await createListing(h, seller, 'tampered')
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }).slice(0, 2)
    const { version } = await publishFolder(h, seller, 'tampered', '1.0.0', files, {
      corrupt: (file) => (file.path === 'adapter_config.json' ? file.bytes.map((byte, i) => (i === 2 ? byte ^ 1 : byte)) : file.bytes),
    })
    if (storage === 'local') {
      // The local store hashes while writing and refuses the upload: the version never completes.
      expect(version.status).toBe('uploading')
    } else {
      // The S3 test server does not verify x-amz-checksum-sha256: validation hashes the object.
      expect(version.status).toBe('rejected')
      expect(version.findings).toEqual([expect.objectContaining({ code: 'checksum_mismatch' })])
    }
  })

  it('refuses bad input with stable codes and writes nothing', async () => {
    const listing = await createListing(h, seller, 'strict')
    // Every version row of the listing, with its planned file rows.
    const written = () =>
      h.db
        .select({ version: adapterVersions.version, file: versionFiles.path })
        .from(adapterVersions)
        .leftJoin(versionFiles, eq(versionFiles.versionId, adapterVersions.id))
        .where(eq(adapterVersions.adapterId, listing.id))
    const files = declare(peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }))
    const path = `/v1/adapters/${seller.team}/strict/versions`
    const create = (body: Record<string, unknown>) =>
      h.call('POST', path, { auth: seller.token, body: { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files, ...body } })

    expectProblem(await create({ baseModel: 'nobody/unknown-model-7b' }), 422, 'unknown_base_model')
    expectProblem(await create({ version: 'v1' }), 422, 'validation_failed')
    expectProblem(await create({ files: [{ path: 'README.md', size: 3, sha256: 'a'.repeat(64) }] }), 422, 'validation_failed')
    expectProblem(await create({ files: [...files, files[0]] }), 422, 'validation_failed')
    expectProblem(await create({ files: [{ path: '../escape.safetensors', size: 3, sha256: 'a'.repeat(64) }] }), 422, 'validation_failed')
    expect(await written()).toEqual([])

    // A quantised mirror's id is normalised to the base it mirrors.
    const mirrored = await create({ version: '0.9.0', baseModel: 'TheBloke/Llama-2-7B-GPTQ' })
    expect(mirrored.status).toBe(201)
    expect(mirrored.json.version.baseModel).toBe('meta-llama/Llama-2-7b-hf')

    expect((await create({})).status).toBe(201)
    expectProblem(await create({}), 409, 'version_exists')
    // What the refusals above did not write, the accepted ones did (a version and its planned files).
    expect((await written()).map((row) => `${row.version} ${row.file}`).sort()).toEqual(
      ['0.9.0', '1.0.0'].flatMap((version) => files.map((file) => `${version} ${file.path}`)).sort(),
    )

    const complete = await h.call('POST', `${path}/1.0.0/complete`, { auth: seller.token })
    expectProblem(complete, 409, 'upload_incomplete')
    expect(complete.json.files).toHaveLength(3)

    expectProblem(await h.call('POST', `${path}/1.0.0/publish`, { auth: seller.token }), 409, 'version_not_ready')

    const stranger = await h.teamOwner('stranger')
    expectProblem(await h.call('POST', path, { auth: stranger.token, body: { version: '2.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files } }), 403, 'not_team_member')
    expectProblem(await h.call('POST', path, { body: { version: '2.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files } }), 401, 'unauthorized')
    // Unpublished versions do not exist for outsiders.
    expectProblem(await h.call('GET', `${path}/1.0.0`, { auth: stranger.token }), 404, 'not_found')
  })

  it('keeps a published version immutable', async () => {
    await createListing(h, seller, 'frozen')
    await publishFolder(h, seller, 'frozen', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const base = `/v1/adapters/${seller.team}/frozen/versions`
    expectProblem(await h.call('PATCH', `${base}/1.0.0`, { auth: seller.token, body: { changelog: 'rewritten history' } }), 409, 'version_immutable')
    expectProblem(await h.call('POST', `${base}/1.0.0/complete`, { auth: seller.token }), 409, 'version_immutable')
    const again = await h.call('POST', base, {
      auth: seller.token,
      body: { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 8 })) },
    })
    expectProblem(again, 409, 'version_exists')
    const current = await h.call('GET', `${base}/1.0.0`)
    expect(current.json).toMatchObject({ status: 'published', changelog: 'First release' })

    // A patch to an older line, published later, does not become the latest version.
    await publishFolder(h, seller, 'frozen', '0.9.1', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    await publishFolder(h, seller, 'frozen', '1.1.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    await publishFolder(h, seller, 'frozen', '1.0.1', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const listing = await h.call('GET', `/v1/adapters/${seller.team}/frozen`)
    expect(listing.json).toMatchObject({ latestVersion: '1.1.0', compatibleBases: expect.arrayContaining(['meta-llama/Llama-2-7b-hf']) })
  })

  it('rejects tensors that contradict the declared base', async () => {
    await createListing(h, seller, 'mislabelled')
    // Mistral tensors declared as Llama-2-7B: the header decides, not the label.
    const files = peftFolder({ base: 'mistralai/Mistral-7B-v0.1', modules: ['self_attn.k_proj', 'self_attn.v_proj'] })
    const { version } = await publishFolder(h, seller, 'mislabelled', '1.0.0', files, { baseModel: 'meta-llama/Llama-2-7b-hf' })
    expect(version.status).toBe('rejected')
    expect(version.findings).toContainEqual(
      expect.objectContaining({ code: 'declared_base_incompatible', actual: expect.arrayContaining(['mistralai/Mistral-7B-v0.1']) }),
    )
  })

  it('lists the versions a caller may see, highest first, and the stored compatibility matrix of each', async () => {
    await createListing(h, seller, 'listed')
    // Rank 48 needs vLLM's --max-lora-rank 64 (and stays below the 5 MiB multipart threshold).
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 48, layers: [0, 1] })
    await publishFolder(h, seller, 'listed', '1.2.0', files, { publish: true })
    await publishFolder(h, seller, 'listed', '1.10.0', files, { publish: true })
    await publishFolder(h, seller, 'listed', '2.0.0-rc.1', files)

    const anonymous = await h.call('GET', `/v1/adapters/${seller.team}/listed/versions`)
    expect(anonymous.json.items.map((item: { version: string }) => item.version)).toEqual(['1.10.0', '1.2.0'])
    expect(anonymous.json.items[0]).toMatchObject({ status: 'published', compatibleBases: expect.arrayContaining(['meta-llama/Llama-2-7b-hf']), files: expect.any(Array) })
    const own = await h.call('GET', `/v1/adapters/${seller.team}/listed/versions`, { auth: seller.token })
    expect(own.json.items.map((item: { version: string; status: string }) => [item.version, item.status])).toEqual([
      ['2.0.0-rc.1', 'ready'],
      ['1.10.0', 'published'],
      ['1.2.0', 'published'],
    ])

    const matrix = await h.call('GET', `/v1/adapters/${seller.team}/listed/versions/1.10.0/compatibility`)
    expect(matrix.status).toBe(200)
    const bases = (await h.call('GET', '/v1/base-models')).json.items as { id: string }[]
    expect(matrix.json.items).toHaveLength(bases.length)
    const row = (id: string) => matrix.json.items.find((item: { base: string }) => item.base === id)
    expect(row('meta-llama/Llama-2-7b-hf')).toMatchObject({ compatible: true, twins: expect.arrayContaining(['Qwen/Qwen1.5-7B']), findings: [] })
    expect(row('meta-llama/Llama-2-7b-hf').runtimes.vllm).toMatchObject({ compatible: true, notes: [expect.stringContaining('--max-lora-rank 64')] })
    const mistral = row('mistralai/Mistral-7B-v0.1')
    expect(mistral).toMatchObject({ compatible: false, findings: expect.arrayContaining([expect.objectContaining({ code: 'shape_mismatch', severity: 'error' })]) })
    expect(mistral.runtimes.vllm.compatible).toBe(false)
    expect(mistral.runtimes.vllm.reasons.length).toBeGreaterThan(0)
    // Compatible rows come first.
    const verdicts = matrix.json.items.map((item: { compatible: boolean }) => item.compatible)
    expect(verdicts).toEqual([...verdicts].sort((a, b) => Number(b) - Number(a)))

    expectProblem(await h.call('GET', `/v1/adapters/${seller.team}/listed/versions/2.0.0-rc.1/compatibility`), 404, 'not_found')
    expectProblem(await h.call('GET', `/v1/adapters/${seller.team}/nothing/versions`), 404, 'not_found')
  })

  it('uploads a file above the single-PUT threshold in presigned parts (S3) or one streamed PUT (local)', async () => {
    await createListing(h, seller, 'big-readme')
    const line = '# Evaluation notes\n'
    const readme = new TextEncoder().encode(line.repeat(Math.ceil((MULTIPART_ABOVE + 100_000) / line.length)))
    const files = [...peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }).slice(0, 2), { path: 'README.md', bytes: readme }]
    const path = `/v1/adapters/${seller.team}/big-readme/versions`
    const created = await h.call('POST', path, { auth: seller.token, body: { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) } })
    expect(created.status).toBe(201)
    const upload = created.json.uploads.find((candidate: { path: string }) => candidate.path === 'README.md')
    const parts: { partNumber: number; etag: string }[] = []
    if (storage === 's3') {
      expect(upload).toMatchObject({ kind: 'multipart', partSize: MULTIPART_ABOVE })
      expect(upload.parts).toHaveLength(2)
      for (const part of upload.parts) {
        const start = (part.partNumber - 1) * upload.partSize
        const response = await h.put(part.url, {}, readme.subarray(start, start + part.size))
        expect(response.status).toBe(200)
        parts.push({ partNumber: part.partNumber, etag: response.headers.get('etag')! })
      }
    } else {
      expect(upload).toMatchObject({ kind: 'single', method: 'PUT' })
      expect((await h.put(upload.url, upload.headers, readme)).status).toBe(200)
    }
    for (const file of files.slice(0, 2)) {
      const single = created.json.uploads.find((candidate: { path: string }) => candidate.path === file.path)
      expect((await h.put(single.url, single.headers, file.bytes)).status).toBe(200)
    }
    // Without its parts list, an S3 multipart upload is not complete yet.
    if (storage === 's3') expectProblem(await h.call('POST', `${path}/1.0.0/complete`, { auth: seller.token }), 409, 'upload_incomplete')
    const completed = await h.call('POST', `${path}/1.0.0/complete`, { auth: seller.token, body: storage === 's3' ? { parts: { 'README.md': parts } } : undefined })
    expect(completed.status).toBe(202)
    await h.idle()
    const version = await h.call('GET', `${path}/1.0.0`, { auth: seller.token })
    expect(version.json.status).toBe('ready')
    expect(version.json.files).toContainEqual(expect.objectContaining({ path: 'README.md', size: readme.length }))
  })
})
