import { downloadFile, fileDownloadInfo, HubApiError, listFiles, modelInfo } from '@huggingface/hub'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { downloads } from '../../src/downloads/tables'
import { createListing, peftFolder, publishFolder, sha256 } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

type Person = Awaited<ReturnType<Harness['teamOwner']>>

/**
 * The real @huggingface/hub client, pointed (`hubUrl`) at the app serving real HTTP: what a buyer
 * with only an API key does. The client insists on tokens starting `hf_`: `hf_` + the key.
 */
describe.each(['local', 's3'] as const)('@huggingface/hub against /hf (%s store)', (storage) => {
  let h: Harness
  let seller: Person
  let hubUrl: string
  let buyerToken: string
  let strangerToken: string
  let repo: string
  const first = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 8 })
  const weights = first.find((file) => file.path === 'adapter_model.safetensors')!
  const readme = (files: typeof first) => files.find((file) => file.path === 'README.md')!

  const hfKey = async (person: { token: string }, body: Record<string, unknown> = { name: 'hub', scopes: ['read'] }) => {
    const created = await h.call('POST', '/v1/api-keys', { auth: person.token, body })
    expect(created.status).toBe(201)
    return `hf_${created.json.key as string}`
  }

  beforeAll(async () => {
    h = await createHarness({ storage, listen: true })
    hubUrl = `${h.url}/hf`
    seller = await h.teamOwner('hub-seller')
    await createListing(h, seller, 'legal-zh')
    repo = `${seller.team}/legal-zh`
    await publishFolder(h, seller, 'legal-zh', '1.0.0', first, { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${repo}/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    const buyer = await h.user('hub-buyer')
    expect((await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id } })).status).toBe(201)
    buyerToken = await hfKey(buyer)
    strangerToken = await hfKey(await h.user('hub-stranger'))
  })
  afterAll(() => h?.close())

  it('describes the repo (modelInfo) and lists its files (listFiles) with sizes and sha256', async () => {
    const version = (await h.call('GET', `/v1/adapters/${repo}/versions/1.0.0`)).json
    expect(version.commit).toMatch(/^[0-9a-f]{40}$/)
    const info = await modelInfo({ name: repo, hubUrl, accessToken: buyerToken, additionalFields: ['sha', 'cardData', 'library_name', 'tags'] })
    expect(info).toMatchObject({ name: repo, private: false, gated: 'auto', sha: version.commit, library_name: 'peft' })
    expect(info.cardData).toMatchObject({ base_model: 'meta-llama/Llama-2-7b-hf', license: 'apache-2.0', library_name: 'peft' })

    const files = []
    for await (const entry of listFiles({ repo, hubUrl, accessToken: buyerToken, recursive: true })) files.push(entry)
    expect(files.map((file) => file.path).sort()).toEqual(first.map((file) => file.path).sort())
    const listed = files.find((file) => file.path === weights.path)
    expect(listed).toMatchObject({ type: 'file', size: weights.bytes.length, lfs: { oid: sha256(weights.bytes), size: weights.bytes.length } })
    expect(listed?.oid).toMatch(/^[0-9a-f]{40}$/)
  })

  it('downloads a file an entitled buyer holds, byte for byte, through the same audited check as downloadFile', async () => {
    const before = await h.db.$count(downloads)
    const info = await fileDownloadInfo({ repo, path: weights.path, hubUrl, accessToken: buyerToken })
    expect(info?.size).toBe(weights.bytes.length)
    // The local store answers with the sha256 as ETag; S3 with its own.
    if (storage === 'local') expect(info?.etag).toBe(`"${sha256(weights.bytes)}"`)
    const blob = await downloadFile({ repo, path: weights.path, hubUrl, accessToken: buyerToken })
    expect(blob).not.toBeNull()
    expect(sha256(new Uint8Array(await blob!.arrayBuffer()))).toBe(sha256(weights.bytes))
    expect(await h.db.$count(downloads)).toBeGreaterThan(before)
  })

  it('answers a non-buyer with the client’s own gated-repo error naming the listing page', async () => {
    const refused = await downloadFile({ repo, path: weights.path, hubUrl, accessToken: strangerToken }).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(HubApiError)
    expect((refused as HubApiError).statusCode).toBe(403)
    expect((refused as HubApiError).message).toContain(`Get access at ${h.url}/${repo}`)
    // Anyone may read the description, as on the Hub.
    expect((await modelInfo({ name: repo, hubUrl, accessToken: strangerToken })).name).toBe(repo)
    // No token at all: 401.
    const anonymous = await downloadFile({ repo, path: weights.path, hubUrl }).catch((error: unknown) => error)
    expect((anonymous as HubApiError).statusCode).toBe(401)
  })

  it('resolves main to the newest version while a pinned version or commit keeps its bytes', async () => {
    const oldCommit = (await h.call('GET', `/v1/adapters/${repo}/versions/1.0.0`)).json.commit
    const second = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 8, declaredBase: 'meta-llama/Llama-2-7b-hf' }).map((file) =>
      file.path === 'README.md' ? { ...file, bytes: new TextEncoder().encode('# Version 1.1.0\n') } : file,
    )
    await publishFolder(h, seller, 'legal-zh', '1.1.0', second, { publish: true })
    const newCommit = (await h.call('GET', `/v1/adapters/${repo}/versions/1.1.0`)).json.commit
    expect(newCommit).not.toBe(oldCommit)

    const text = async (revision?: string) => {
      const blob = await downloadFile({ repo, path: 'README.md', hubUrl, accessToken: buyerToken, ...(revision ? { revision } : {}) })
      return blob!.text()
    }
    expect(await text()).toBe('# Version 1.1.0\n')
    expect(await text('1.0.0')).toBe(new TextDecoder().decode(readme(first).bytes))
    expect(await text(oldCommit)).toBe(new TextDecoder().decode(readme(first).bytes))
    expect((await modelInfo({ name: repo, hubUrl, accessToken: buyerToken, additionalFields: ['sha'] })).sha).toBe(newCommit)
    expect((await modelInfo({ name: repo, hubUrl, accessToken: buyerToken, revision: oldCommit, additionalFields: ['sha'] })).sha).toBe(oldCommit)
  })

  it('tells a missing file, revision and repo apart, and shows a draft exactly as a missing repo', async () => {
    expect(await fileDownloadInfo({ repo, path: 'nope.bin', hubUrl, accessToken: buyerToken })).toBeNull()
    const missingRevision = await modelInfo({ name: repo, hubUrl, revision: '9.9.9' }).catch((error: unknown) => error)
    expect((missingRevision as HubApiError).statusCode).toBe(404)

    await createListing(h, seller, 'secret-draft', { visibility: 'draft' })
    await publishFolder(h, seller, 'secret-draft', '1.0.0', first, { publish: true })
    const raw = (path: string, token = strangerToken) => fetch(`${hubUrl}${path}`, { headers: { Authorization: `Bearer ${token}` } })
    const draft = await raw(`/api/models/${seller.team}/secret-draft`)
    const missing = await raw(`/api/models/${seller.team}/never-made`)
    expect([draft.status, draft.headers.get('x-error-code')]).toEqual([404, 'RepoNotFound'])
    expect([missing.status, missing.headers.get('x-error-code')]).toEqual([404, 'RepoNotFound'])
    const shape = async (response: Response) => Object.keys(await response.json()).sort()
    expect(await shape(draft)).toEqual(await shape(missing))
    const draftFile = await raw(`/${seller.team}/secret-draft/resolve/main/README.md`)
    const missingFile = await raw(`/${seller.team}/never-made/resolve/main/README.md`)
    expect([draftFile.status, draftFile.headers.get('x-error-code')]).toEqual([404, 'RepoNotFound'])
    expect([missingFile.status, missingFile.headers.get('x-error-code')]).toEqual([404, 'RepoNotFound'])
    // The seller team sees its draft.
    const own = await raw(`/api/models/${seller.team}/secret-draft`, `hf_${(await h.call('POST', '/v1/api-keys', { auth: seller.token, body: { name: 'own', scopes: ['read'] } })).json.key}`)
    expect(own.status).toBe(200)
    // An unpublished version of a published listing is a missing revision to outsiders.
    await publishFolder(h, seller, 'legal-zh', '2.0.0', first)
    const unpublished = await raw(`/${repo}/resolve/2.0.0/README.md`, buyerToken)
    expect([unpublished.status, unpublished.headers.get('x-error-code')]).toEqual([404, 'RevisionNotFound'])
  })

  it('shows the pull commands for its repo id on the listing page', async () => {
    const page = await h.app.request(`/${repo}`)
    const html = await page.text()
    expect(html).toContain(`export HF_ENDPOINT=${hubUrl}`)
    expect(html).toMatch(new RegExp(`hf download ${repo} --revision \\d+\\.\\d+\\.\\d+`))
    expect(html).toContain(`PeftModel.from_pretrained(base_model, &quot;${repo}&quot;`)
  })
})
