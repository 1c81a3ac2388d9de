import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildSafetensors } from '../../src/compat'
import { createRateLimiter } from '../../src/lib/rate-limit'
import { type AdapterFile, baseNamed, createListing, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { type LoraModule, loraFolder, padRank, randomLora, rescale, rotate, type SaveOptions } from '../helpers/lora-weights'

const llama = baseNamed('meta-llama/Llama-2-7b-hf')
const ALL_LAYERS = [...Array(32).keys()]

describe('seller protection: copies of a published adapter are recognised by the function they compute', () => {
  let h: Harness
  const operators: string[] = []
  let operator: Awaited<ReturnType<Harness['user']>>
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  let copier: Awaited<ReturnType<Harness['teamOwner']>>
  let other: Awaited<ReturnType<Harness['teamOwner']>>
  // Full Llama-2-7B geometry: q_proj and v_proj (4096 × 4096) in all 32 layers, r = 8, F16.
  const original = randomLora(llama, { r: 8, modules: ['self_attn.q_proj', 'self_attn.v_proj'], layers: ALL_LAYERS, seed: 42 })
  let originalRef: string
  let slugs = 0

  const folder = (modules: LoraModule[], options: SaveOptions = {}) => loraFolder(llama, modules, { r: modules[0]!.a.rows, dtype: 'F16', ...options })

  /** Uploads a version as a new listing of `who`, waits for validation; returns the version. */
  async function upload(who: { token: string; team: string }, files: AdapterFile[], options: { publish?: boolean } = {}) {
    const slug = `adapter-${++slugs}`
    await createListing(h, who, slug)
    const { version } = await publishFolder(h, who, slug, '1.0.0', files, options)
    return { slug, version, ref: `${who.team}/${slug}@1.0.0` }
  }

  const getVersion = (who: { token: string; team: string } | undefined, team: string, slug: string) =>
    h.call('GET', `/v1/adapters/${team}/${slug}/versions/1.0.0`, { auth: who?.token })

  beforeAll(async () => {
    h = await createHarness({ operators, fingerprintCheckLimiter: createRateLimiter({ limit: 6, windowSeconds: 3600 }) })
    operator = await h.user('operator')
    operators.push(operator.email)
    seller = await h.teamOwner('seller')
    copier = await h.teamOwner('copier')
    other = await h.teamOwner('other')
    const published = await upload(seller, folder(original), { publish: true })
    expect(published.version.status).toBe('published')
    originalRef = published.ref
  }, 120_000)
  afterAll(async () => {
    await h.close()
  })

  const copies: [string, () => AdapterFile[]][] = [
    ['re-saved in BF16', () => folder(original, { dtype: 'BF16' })],
    ['re-saved in F16 with other metadata (an exact copy)', () => folder(original, { metadata: { format: 'pt', author: 'me' } })],
    ['A·c and B/c', () => folder(rescale(original, 8))],
    ['a random orthogonal R (A → RA, B → BRᵀ)', () => folder(rotate(original, 3))],
    ['rank padded with zeros (8 → 16)', () => folder(padRank(original, 16))],
    ['tensor order and metadata changed', () => folder(original, { order: 'b-first', metadata: {} })],
    ['every transformation combined', () => folder(padRank(rotate(rescale(original, 0.25), 9), 16), { dtype: 'BF16', order: 'reversed', metadata: { note: 'x' } })],
  ]

  it.each(copies)('rejects a copy %s as duplicate_of the published listing', async (_name, files) => {
    const copy = await upload(copier, files())
    expect(copy.version.status).toBe('rejected')
    expect(copy.version.findings).toEqual([expect.objectContaining({ code: 'duplicate_of', expected: originalRef })])
    const seen = await getVersion(copier, copier.team, copy.slug)
    expect(seen.json.fingerprint).toMatchObject({ status: 'duplicate', modules: 64 })
  }, 60_000)

  it('flags a copy of half of the modules for operators without rejecting it', async () => {
    const half = await upload(copier, folder(original.slice(0, 32), { dtype: 'BF16' }))
    expect(half.version.status).toBe('ready')
    expect((await getVersion(copier, copier.team, half.slug)).json.fingerprint).toMatchObject({ status: 'flagged', modules: 32 })
    const reviews = await h.call('GET', '/v1/fingerprint-reviews', { auth: operator.token })
    const entry = reviews.json.items.find((item: { version: string }) => item.version === half.ref)
    expect(entry).toMatchObject({ verdict: 'flagged', status: 'ready', matches: [expect.objectContaining({ version: originalRef, matchedModules: 32, totalModules: 64, share: 0.5 })] })
  }, 60_000)

  it('never takes the same team re-publishing its own adapter, or an unrelated adapter, for a duplicate', async () => {
    const own = await upload(seller, folder(rotate(original, 17), { dtype: 'BF16' }))
    expect(own.version.status).toBe('ready')
    expect((await getVersion(seller, seller.team, own.slug)).json.fingerprint).toMatchObject({ status: 'unique' })
    const unrelated = await upload(copier, folder(randomLora(llama, { r: 8, modules: ['self_attn.q_proj', 'self_attn.v_proj'], layers: ALL_LAYERS, seed: 43 })))
    expect(unrelated.version.status).toBe('ready')
    expect((await getVersion(copier, copier.team, unrelated.slug)).json.fingerprint).toMatchObject({ status: 'unique' })
  }, 60_000)

  it('never names an unpublished version: a copy of one is flagged, not rejected, and its owner stays hidden', async () => {
    const secret = randomLora(llama, { r: 16, modules: ['self_attn.q_proj'], layers: [0, 1, 2, 3], seed: 77 })
    const unpublished = await upload(other, folder(secret))
    expect(unpublished.version.status).toBe('ready')
    const copy = await upload(copier, folder(rotate(secret, 5), { dtype: 'BF16' }))
    expect(copy.version.status).toBe('ready')
    expect(JSON.stringify(copy.version)).not.toContain(other.team)
    expect((await getVersion(copier, copier.team, copy.slug)).json.fingerprint).toMatchObject({ status: 'flagged' })
    // The check endpoint compares with published versions of public listings only.
    const checked = await check(copier.token, folder(rotate(secret, 6))[1]!.bytes)
    expect(checked.json).toMatchObject({ verdict: 'unique', matches: [] })
  }, 60_000)

  it("shows the original's seller every attempt, and nobody else", async () => {
    const attempts = await h.call('GET', `/v1/teams/${seller.team}/fingerprint-matches`, { auth: seller.token })
    expect(attempts.status).toBe(200)
    const rejected = attempts.json.items.filter((item: { outcome: string }) => item.outcome === 'rejected')
    expect(rejected).toHaveLength(copies.length)
    for (const item of attempts.json.items) expect(item).toMatchObject({ original: originalRef, attemptedBy: copier.team })
    expect(attempts.json.items.some((item: { verdict: string; share: number }) => item.verdict === 'flagged' && item.share === 0.5)).toBe(true)
    // The same team's own re-upload is not an attempt.
    expect(attempts.json.items.every((item: { attemptedBy: string }) => item.attemptedBy !== seller.team)).toBe(true)
    // Another team cannot read the seller's list.
    expect((await h.call('GET', `/v1/teams/${seller.team}/fingerprint-matches`, { auth: copier.token })).status).toBe(403)
    expect((await h.call('GET', `/v1/teams/${seller.team}/fingerprint-matches`)).status).toBe(401)
    // The fingerprint of a version is the seller team's to see.
    expect((await getVersion(undefined, seller.team, originalRef.split('/')[1]!.split('@')[0]!)).json.fingerprint).toBeUndefined()
  })

  it('pages both lists with keyset cursors: every row once, in order; a forged cursor is a 400', async () => {
    type Page = { items: { id?: string; version?: string; at: string }[]; nextCursor: string | null }
    const pageAll = async (path: string, token: string, limit: number) => {
      const seen: Page['items'] = []
      let cursor: string | null = null
      do {
        const page: { status: number; json: Page } = await h.call('GET', `${path}?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { auth: token })
        expect(page.status).toBe(200)
        expect(page.json.items.length).toBeLessThanOrEqual(limit)
        seen.push(...page.json.items)
        cursor = page.json.nextCursor
      } while (cursor)
      return seen
    }
    const matchesPath = `/v1/teams/${seller.team}/fingerprint-matches`
    const whole = (await h.call('GET', `${matchesPath}?limit=100`, { auth: seller.token })).json as Page
    expect(whole.items.length).toBeGreaterThan(copies.length)
    expect(whole.nextCursor).toBeNull()
    expect(await pageAll(matchesPath, seller.token, 3)).toEqual(whole.items)
    const reviews = (await h.call('GET', '/v1/fingerprint-reviews?limit=100', { auth: operator.token })).json as Page
    expect(reviews.items.length).toBeGreaterThan(copies.length)
    expect(await pageAll('/v1/fingerprint-reviews', operator.token, 2)).toEqual(reviews.items)
    for (const cursor of ['nope', Buffer.from(JSON.stringify({ at: '2026-02-30T00:00:00.000Z', id: whole.items[0]!.id })).toString('base64url')]) {
      expect((await h.call('GET', `${matchesPath}?cursor=${cursor}`, { auth: seller.token })).json.code).toBe('invalid_cursor')
      expect((await h.call('GET', `/v1/fingerprint-reviews?cursor=${cursor}`, { auth: operator.token })).json.code).toBe('invalid_cursor')
    }
    expect((await h.call('GET', `${matchesPath}?limit=101`, { auth: seller.token })).json.code).toBe('validation_failed')
  })

  it('lets only an operator overrule a rejection; the version is then validated without the duplicate rule', async () => {
    const copy = await upload(copier, folder(original, { dtype: 'BF16', metadata: { licence: 'granted by the seller' } }))
    expect(copy.version.status).toBe('rejected')
    const path = `/v1/adapters/${copier.team}/${copy.slug}/versions/1.0.0/fingerprint/overrule`
    expect((await h.call('POST', path, { auth: copier.token })).json.code).toBe('not_operator')
    expect((await h.call('POST', path, { auth: seller.token })).status).toBe(403)
    expect((await h.call('GET', '/v1/fingerprint-reviews', { auth: copier.token })).status).toBe(403)
    const overruled = await h.call('POST', path, { auth: operator.token })
    expect(overruled.json).toMatchObject({ verdict: 'overruled', status: 'validating' })
    await h.idle()
    const after = await getVersion(copier, copier.team, copy.slug)
    expect(after.json).toMatchObject({ status: 'ready', findings: [], fingerprint: { status: 'overruled' } })
    expect(after.json.compatibleBases).toContain('meta-llama/Llama-2-7b-hf')
    // Overruling again is a conflict, not a second decision.
    expect((await h.call('POST', path, { auth: operator.token })).json.code).toBe('not_flagged')
  }, 60_000)

  it('refuses weights it cannot fingerprint, naming the tensor', async () => {
    const weights = buildSafetensors([
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', dtype: 'F8_E4M3', shape: [8, 4096] },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', dtype: 'F8_E4M3', shape: [4096, 8] },
    ])
    const refused = await upload(copier, [{ path: 'adapter_model.safetensors', bytes: weights }])
    expect(refused.version.status).toBe('rejected')
    expect(refused.version.findings).toEqual([expect.objectContaining({ code: 'unsupported_dtype', tensor: expect.stringContaining('lora_A') })])
  })

  async function check(token: string | undefined, bytes: Uint8Array, size: number | null = bytes.length) {
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' }
    if (token) headers.Authorization = `Bearer ${token}`
    if (size !== null) headers['X-File-Size'] = String(size)
    const response = await h.app.request('/v1/compat/fingerprint', { method: 'POST', headers, body: bytes as Uint8Array<ArrayBuffer> })
    return { status: response.status, json: await response.json() }
  }

  it('checkFingerprint: a seller checks a file before uploading; the flood is bounded per user', async () => {
    const copy = folder(padRank(original, 16), { dtype: 'BF16' })[1]!.bytes
    const duplicate = await check(copier.token, copy)
    expect(duplicate.status).toBe(200)
    expect(duplicate.json).toMatchObject({ verdict: 'duplicate', modules: 64, matches: [expect.objectContaining({ version: originalRef, matchedModules: 64 })] })
    // The caller's own teams are never a duplicate of themselves.
    expect((await check(seller.token, copy)).json).toMatchObject({ verdict: 'unique', matches: [] })
    expect((await check(undefined, copy)).status).toBe(401)
    expect((await check(copier.token, copy, null)).json.code).toBe('file_size_required')
    // A size that disagrees with the header's layout is refused before any weight is read.
    expect((await check(copier.token, copy, copy.length + 1)).json.code).toBe('invalid_safetensors')
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) statuses.push((await check(copier.token, copy)).status)
    expect(statuses).toContain(429)
  }, 60_000)
})
