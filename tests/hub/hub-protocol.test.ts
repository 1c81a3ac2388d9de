import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createListing, peftFolder, publishFolder, sha256 } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

/**
 * huggingface_hub's download protocol, replayed step by step as its source does it
 * (huggingface_hub 1.33 / 2.0: `file_download.py` `hf_hub_download` → `get_hf_file_metadata` →
 * `_httpx_follow_hub_redirects_with_backoff` → `http_get`; `utils/_http.py` `hf_raise_for_status`;
 * `_snapshot_download.py`), against the app serving real HTTP. Python itself runs in
 * tests/hub/hub-python.test.ts when its environment exists.
 */

/** `hf_hub_url`: `{endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}`. */
const hfHubUrl = (endpoint: string, repoId: string, filename: string, revision: string) =>
  `${endpoint}/${repoId}/resolve/${encodeURIComponent(revision)}/${filename.split('/').map(encodeURIComponent).join('/')}`

/** `build_hf_headers`: the token as a Bearer credential and a user agent. */
const buildHfHeaders = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}`, 'user-agent': 'huggingface_hub/1.33.0; python/3.11.7' })

class HubError extends Error {
  constructor(
    readonly kind: string,
    readonly response: Response,
  ) {
    super(kind)
  }
}

/** `hf_raise_for_status`: the error type follows `X-Error-Code` (and, for a 401, `X-Error-Message`). */
function hfRaiseForStatus(response: Response, requestUrl: string) {
  if (response.ok || (response.status >= 300 && response.status < 400)) return
  const code = response.headers.get('x-error-code')
  const message = response.headers.get('x-error-message')
  if (code === 'RevisionNotFound') throw new HubError('RevisionNotFoundError', response)
  if (code === 'EntryNotFound') throw new HubError('RemoteEntryNotFoundError', response)
  if (code === 'GatedRepo') throw new HubError('GatedRepoError', response)
  if (message === 'Access to this resource is disabled.') throw new HubError('DisabledRepoError', response)
  if (code === 'RepoNotFound' || (response.status === 401 && message !== 'Invalid credentials in Authorization header' && /\/resolve\/|\/api\/models\//.test(requestUrl))) {
    throw new HubError('RepositoryNotFoundError', response)
  }
  throw new HubError('HfHubHTTPError', response)
}

/** `_is_same_or_hub_host`: the host name alone decides; the port is ignored. */
const sameHost = (url: string, target: string) => new URL(target).hostname.toLowerCase() === new URL(url).hostname.toLowerCase()

/**
 * `get_hf_file_metadata`: HEAD with `Accept-Encoding: identity`, redirects followed one by one
 * only while they stay on the same host name, metadata read from the last response.
 */
async function getHfFileMetadata(url: string, token: string) {
  const headers = { ...buildHfHeaders(token), 'accept-encoding': 'identity' }
  let current = url
  let response: Response | undefined
  let hops = 0
  for (; hops < 5; hops++) {
    response = await fetch(current, { method: 'HEAD', headers, redirect: 'manual' })
    hfRaiseForStatus(response, current)
    const location = response.headers.get('location')
    if (!(response.status >= 300 && response.status < 400 && location)) break
    const target = new URL(location, current).href
    if (!sameHost(current, target)) break
    current = target
  }
  if (!response) throw new Error('no response')
  const isRedirect = response.status >= 300 && response.status < 400
  const etag = response.headers.get('x-linked-etag') ?? response.headers.get('etag')
  const size = response.headers.get('x-linked-size') ?? (isRedirect ? null : response.headers.get('content-length'))
  return {
    commitHash: response.headers.get('x-repo-commit'),
    // `_normalize_etag`
    etag: etag === null ? null : etag.replace(/^W\//, '').replace(/^"|"$/g, ''),
    location: response.headers.get('location') ?? current,
    size: size === null ? null : Number(size),
    hops,
  }
}

/** `hf_hub_download`'s network part: metadata, then `http_get` on the location, resuming from `resumeFrom` bytes. */
async function hfHubDownload(endpoint: string, repoId: string, filename: string, revision: string, token: string, options: { partial?: Uint8Array } = {}) {
  const url = hfHubUrl(endpoint, repoId, filename, revision)
  const metadata = await getHfFileMetadata(url, token)
  // `_get_metadata_or_catch_error`: both must be there, or the endpoint "does not seem to be a Hub".
  if (metadata.commitHash === null) throw new Error('FileMetadataError: missing X-Repo-Commit')
  if (metadata.etag === null) throw new Error('FileMetadataError: missing ETag')
  const headers: Record<string, string> = buildHfHeaders(token)
  // The token never leaves the Hub's host for a signed URL.
  if (url !== metadata.location && !sameHost(url, metadata.location)) delete headers.authorization
  const resumeSize = options.partial?.length ?? 0
  if (resumeSize > 0) headers.range = `bytes=${resumeSize}-`
  const response = await fetch(metadata.location, { headers })
  hfRaiseForStatus(response, metadata.location)
  let body = new Uint8Array(await response.arrayBuffer())
  // A 200 to a Range request means the server ignored it: start over.
  if (resumeSize > 0 && response.status === 206) body = new Uint8Array([...options.partial!, ...body])
  // "Consistency check failed: file should be of size …"
  if (metadata.size !== null && body.length !== metadata.size) throw new Error(`Consistency check failed: ${body.length} != ${metadata.size}`)
  return { metadata, body, status: response.status, sentAuthorization: 'authorization' in headers }
}

type Person = Awaited<ReturnType<Harness['teamOwner']>>

describe.each(['local', 's3'] as const)('huggingface_hub’s download protocol against /hf (%s store)', (storage) => {
  let h: Harness
  let seller: Person
  let endpoint: string
  let key: string
  let repo: string
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 16 })
  const weights = files.find((file) => file.path === 'adapter_model.safetensors')!

  beforeAll(async () => {
    h = await createHarness({ storage, listen: true })
    endpoint = `${h.url}/hf`
    seller = await h.teamOwner('py-seller')
    await createListing(h, seller, 'legal-zh')
    repo = `${seller.team}/legal-zh`
    await publishFolder(h, seller, 'legal-zh', '1.0.0', files, { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${repo}/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    const buyer = await h.user('py-buyer')
    await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id } })
    key = (await h.call('POST', '/v1/api-keys', { auth: buyer.token, body: { name: 'py', scopes: ['read'] } })).json.key
  })
  afterAll(() => h?.close())

  it('finds the commit, ETag (sha256) and size where huggingface_hub looks for them, then downloads the bytes', async () => {
    const commit = (await h.call('GET', `/v1/adapters/${repo}/versions/1.0.0`)).json.commit
    for (const token of [key, `hf_${key}`]) {
      const { metadata, body, sentAuthorization } = await hfHubDownload(endpoint, repo, weights.path, 'main', token)
      expect(metadata).toMatchObject({ commitHash: commit, etag: sha256(weights.bytes), size: weights.bytes.length })
      // The local store's URL is on the API's own host: followed, and answered with the same headers.
      // S3 is another host: the metadata comes from the 302 itself and the token stays home.
      expect(metadata.hops).toBe(storage === 'local' ? 1 : 0)
      expect(sentAuthorization).toBe(storage === 'local')
      expect(sha256(body)).toBe(sha256(weights.bytes))
    }
  })

  it('resumes an interrupted download with a Range request', async () => {
    const partial = weights.bytes.slice(0, 100_000)
    const { status, body } = await hfHubDownload(endpoint, repo, weights.path, '1.0.0', key, { partial })
    expect(status).toBe(206)
    expect(sha256(body)).toBe(sha256(weights.bytes))
  })

  it('replays snapshot_download: model info at a revision, the recursive tree at its sha, each file at that sha', async () => {
    const headers = buildHfHeaders(key)
    const info = await fetch(`${endpoint}/api/models/${repo}/revision/main`, { headers })
    expect(info.status).toBe(200)
    const { sha, siblings } = (await info.json()) as { sha: string; siblings: { rfilename: string; lfs: { sha256: string; size: number; pointerSize: number } }[] }
    expect(siblings.map((sibling) => sibling.rfilename).sort()).toEqual(files.map((file) => file.path).sort())
    // httpx sends booleans as true/false.
    const tree = await fetch(`${endpoint}/api/models/${repo}/tree/${sha}?recursive=true&expand=false`, { headers })
    const entries = (await tree.json()) as { type: string; path: string; oid: string; size: number; lfs?: { oid: string; size: number; pointerSize: number } }[]
    expect(entries.every((entry) => entry.type === 'file' && entry.lfs && entry.lfs.pointerSize > 0)).toBe(true)
    for (const entry of entries) {
      const { body, metadata } = await hfHubDownload(endpoint, repo, entry.path, sha, key)
      expect(metadata.commitHash).toBe(sha)
      expect(sha256(body)).toBe(entry.lfs?.oid)
    }
  })

  it('raises the error types huggingface_hub tells apart', async () => {
    const kind = (promise: Promise<unknown>) => promise.then(() => 'no error', (error: unknown) => (error instanceof HubError ? error.kind : String(error)))
    expect(await kind(hfHubDownload(endpoint, repo, 'missing.bin', 'main', key))).toBe('RemoteEntryNotFoundError')
    expect(await kind(hfHubDownload(endpoint, repo, weights.path, '7.7.7', key))).toBe('RevisionNotFoundError')
    expect(await kind(hfHubDownload(endpoint, `${seller.team}/nothing-here`, weights.path, 'main', key))).toBe('RepositoryNotFoundError')
    const stranger = await h.user('py-stranger')
    const strangerKey = (await h.call('POST', '/v1/api-keys', { auth: stranger.token, body: { name: 'py', scopes: ['read'] } })).json.key
    expect(await kind(hfHubDownload(endpoint, repo, weights.path, 'main', strangerKey))).toBe('GatedRepoError')
    expect(await kind(hfHubDownload(endpoint, repo, weights.path, 'main', 'rfy_not_a_key'))).toBe('HfHubHTTPError')
    // A missing file still names the commit: huggingface_hub caches the absence under it.
    const missing = await fetch(hfHubUrl(endpoint, repo, 'missing.bin', 'main'), { method: 'HEAD', headers: buildHfHeaders(key), redirect: 'manual' })
    expect(missing.headers.get('x-repo-commit')).toMatch(/^[0-9a-f]{40}$/)
    await h.call('PATCH', `/v1/adapters/${repo}`, { auth: seller.token, body: { visibility: 'archived' } })
    expect(await kind(hfHubDownload(endpoint, repo, weights.path, 'main', key))).toBe('DisabledRepoError')
    await h.call('PATCH', `/v1/adapters/${repo}`, { auth: seller.token, body: { visibility: 'published' } })
  })
})
