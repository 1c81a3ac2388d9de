import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 as sha256Hash } from '@noble/hashes/sha2.js'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hexToBase64 } from '../../src/storage/types'
import { declare, peftFolder, sha256 } from '../helpers/adapters'
import { createPostgresDatabase } from '../helpers/database'
import { freePort } from '../helpers/server'
import { type RunningWorker, startWorker, wranglerEnv, workerCaller } from '../helpers/workerd'

const serverUrl = process.env.DATABASE_URL
const JWT_SECRET = 'r2-worker-test-secret-that-is-at-least-32-characters'
const PART_BYTES = 5 * 1024 * 1024

type Upload =
  | { path: string; kind: 'single'; url: string; headers: Record<string, string> }
  | { path: string; kind: 'multipart'; partSize: number; parts: { partNumber: number; url: string; size: number }[] }

/**
 * The Worker with the R2 binding of wrangler.toml and no S3 settings: files go through the
 * Worker into workerd's local R2, on the app's own signed URLs. Runs in the Postgres pass.
 */
describe.runIf(serverUrl)('the API on workerd with R2 through its binding', () => {
  let worker: RunningWorker | undefined
  let api = ''
  let drop: (() => Promise<void>) | undefined
  let scratch = ''

  beforeAll(async () => {
    const database = await createPostgresDatabase(serverUrl!, { migrated: true })
    drop = database.drop
    scratch = await mkdtemp(join(tmpdir(), 'refinery-r2-'))
    const port = await freePort()
    api = `http://127.0.0.1:${port}`
    const vars = { JWT_SECRET, PUBLIC_URL: api, R2_PART_BYTES: String(PART_BYTES) }
    const args = ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()), '--persist-to', join(scratch, 'state')]
    for (const [name, value] of Object.entries(vars)) args.push('--var', `${name}:${value}`)
    worker = await startWorker('npx', args, {
      url: api,
      env: { ...process.env, ...wranglerEnv({ configHome: join(scratch, 'config'), hyperdriveUrl: database.url }) },
    })
  }, 150_000)

  afterAll(async () => {
    await worker?.stop()
    await drop?.()
    if (scratch) await rm(scratch, { recursive: true, force: true })
  })

  const call = workerCaller(() => api)

  const put = (url: string, bytes: Uint8Array, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'PUT', headers, body: bytes as Uint8Array<ArrayBuffer> })

  it('publishes a multipart upload into R2, validates it through the queue, sells it and serves ranged downloads', { timeout: 180_000 }, async () => {
    const seller = (await call('POST', '/v1/signup', undefined, { email: 'seller@r2.test', password: 'correct horse battery', name: 'S' })).json.token
    expect((await call('POST', '/v1/teams', seller, { slug: 'edge', name: 'Edge' })).status).toBe(201)
    const license = { spdx: 'Apache-2.0', commercialUse: true, derivatives: true }
    expect((await call('POST', '/v1/adapters', seller, { team: 'edge', slug: 'big', title: 'Big', license, visibility: 'published' })).status).toBe(201)

    // 12 MiB of weights: three parts of the 5 MiB test part size.
    const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 16, layers: Array.from({ length: 24 }, (_, layer) => layer) })
    const weights = files.find((file) => file.path === 'adapter_model.safetensors')!
    expect(weights.bytes.length).toBeGreaterThan(2 * PART_BYTES)
    const created = await call('POST', '/v1/adapters/edge/big/versions', seller, { version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) })
    expect(created.status).toBe(201)
    const uploads = created.json.uploads as Upload[]

    const parts: Record<string, { partNumber: number; etag: string }[]> = {}
    for (const upload of uploads) {
      const file = files.find((candidate) => candidate.path === upload.path)!
      if (upload.kind === 'single') {
        // The app's own URL, not a bucket's; R2 refuses bytes that are not the declared ones and keeps nothing.
        expect(upload.url.startsWith(`${api}/v1/storage/local/`)).toBe(true)
        const wrong = file.bytes.map((byte) => byte ^ 1)
        const refused = await put(upload.url, wrong, upload.headers)
        expect(refused.status).toBe(422)
        expect(await refused.json()).toMatchObject({ code: 'checksum_mismatch', actual: sha256(wrong) })
        expect((await put(upload.url, file.bytes, upload.headers)).status).toBe(200)
        continue
      }
      expect(upload.path).toBe('adapter_model.safetensors')
      expect(upload.parts.map((part) => part.size)).toEqual([PART_BYTES, PART_BYTES, file.bytes.length - 2 * PART_BYTES])
      let offset = 0
      parts[upload.path] = []
      for (const part of upload.parts) {
        const bytes = file.bytes.subarray(offset, offset + part.size)
        offset += part.size
        if (part.partNumber === 1) {
          // A part whose bytes are not the sha256 sent with it is refused, and gets no ETag to complete with.
          const refused = await put(part.url, bytes, { 'x-amz-checksum-sha256': hexToBase64(sha256(bytes.subarray(1))) })
          expect(refused.status).toBe(422)
          expect(await refused.json()).toMatchObject({ code: 'checksum_mismatch', actual: sha256(bytes) })
          // More bytes than the part was planned with are refused too.
          const oversized = await put(part.url, file.bytes.subarray(0, part.size + 1))
          expect(oversized.status).toBe(422)
        }
        const stored = await put(part.url, bytes, { 'x-amz-checksum-sha256': hexToBase64(sha256(bytes)) })
        expect(stored.status).toBe(200)
        parts[upload.path]!.push({ partNumber: part.partNumber, etag: stored.headers.get('etag')! })
      }
    }
    // An ETag the Worker did not sign for this upload cannot assemble it.
    const forged = { 'adapter_model.safetensors': parts['adapter_model.safetensors']!.map((part, index) => (index === 0 ? { ...part, etag: '"0123456789abcdef"' } : part)) }
    const refusedCompletion = await call('POST', '/v1/adapters/edge/big/versions/1.0.0/complete', seller, { parts: forged })
    expect(refusedCompletion).toMatchObject({ status: 422, json: { code: 'invalid_multipart_parts' } })
    expect((await call('POST', '/v1/adapters/edge/big/versions/1.0.0/complete', seller, { parts })).status).toBe(202)

    let version
    for (let attempt = 0; attempt < 120; attempt++) {
      version = (await call('GET', '/v1/adapters/edge/big/versions/1.0.0', seller)).json
      if (version.status !== 'validating') break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(version).toMatchObject({ status: 'ready', compatibleBases: expect.arrayContaining(['meta-llama/Llama-2-7b-hf']) })
    expect((await call('POST', '/v1/adapters/edge/big/versions/1.0.0/publish', seller)).json.status).toBe('published')

    const offer = await call('POST', '/v1/adapters/edge/big/offers', seller, { kind: 'free', license: 'research' })
    const buyer = (await call('POST', '/v1/signup', undefined, { email: 'buyer@r2.test', password: 'another good passphrase', name: 'B' })).json.token
    expect((await call('POST', '/v1/checkout', buyer, { offerId: offer.json.id })).status).toBe(201)
    const redirect = await fetch(`${api}/v1/adapters/edge/big/versions/1.0.0/files/adapter_model.safetensors`, {
      headers: { Authorization: `Bearer ${buyer}` },
      redirect: 'manual',
    })
    expect(redirect.status).toBe(302)
    expect(redirect.headers.get('x-checksum-sha256')).toBe(sha256(weights.bytes))
    const location = redirect.headers.get('location')!
    expect(location.startsWith(`${api}/v1/storage/local/`)).toBe(true)

    const whole = await fetch(location)
    expect(whole.status).toBe(200)
    expect(whole.headers.get('content-disposition')).toBe('attachment; filename="adapter_model.safetensors"')
    expect(whole.headers.get('content-length')).toBe(String(weights.bytes.length))
    expect(sha256(new Uint8Array(await whole.arrayBuffer()))).toBe(sha256(weights.bytes))

    // The Hugging Face protocol on workerd: model info, then resolve → the same signed R2 URL,
    // whose own answer carries the commit and the checksum (Hub clients read them there).
    const hub = { Authorization: `Bearer hf_${buyer}` }
    const info = await fetch(`${api}/hf/api/models/edge/big`, { headers: hub })
    expect(info.status).toBe(200)
    const model = (await info.json()) as { id: string; sha: string; siblings: { rfilename: string }[] }
    expect(model).toMatchObject({ id: 'edge/big', sha: expect.stringMatching(/^[0-9a-f]{40}$/) })
    expect(model.siblings.map((sibling) => sibling.rfilename)).toContain('adapter_model.safetensors')
    const resolved = await fetch(`${api}/hf/edge/big/resolve/main/adapter_model.safetensors`, { method: 'HEAD', headers: { ...hub, 'Accept-Encoding': 'identity' }, redirect: 'manual' })
    expect(resolved.status).toBe(302)
    expect(resolved.headers.get('x-repo-commit')).toBe(model.sha)
    expect(resolved.headers.get('x-linked-size')).toBe(String(weights.bytes.length))
    const viaHub = await fetch(resolved.headers.get('location')!, { headers: hub })
    expect(viaHub.headers.get('x-repo-commit')).toBe(model.sha)
    expect(sha256(new Uint8Array(await viaHub.arrayBuffer()))).toBe(sha256(weights.bytes))
    const stranger = (await call('POST', '/v1/signup', undefined, { email: 'stranger@r2.test', password: 'a third good passphrase', name: 'X' })).json.token
    const gated = await fetch(`${api}/hf/edge/big/resolve/main/adapter_model.safetensors`, { headers: { Authorization: `Bearer ${stranger}` }, redirect: 'manual' })
    expect(gated.status).toBe(403)
    expect(gated.headers.get('x-error-code')).toBe('GatedRepo')

    // Resuming across a part boundary.
    const start = PART_BYTES - 100
    const ranged = await fetch(location, { headers: { Range: `bytes=${start}-${start + 199}` } })
    expect(ranged.status).toBe(206)
    expect(ranged.headers.get('content-range')).toBe(`bytes ${start}-${start + 199}/${weights.bytes.length}`)
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(weights.bytes.subarray(start, start + 200))
    expect((await fetch(location, { headers: { Range: `bytes=${weights.bytes.length}-` } })).status).toBe(416)

    // A tampered URL, an expired one and an upload URL used to download are all refused.
    const token = location.split('/').at(-1)!
    const tampered = `${location.slice(0, -token.length)}${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`
    expect(await problemOf(fetch(tampered))).toMatchObject({ status: 403, code: 'invalid_download_token' })
    const key = hmac(sha256Hash, new TextEncoder().encode(JWT_SECRET), new TextEncoder().encode('refinery r2 store'))
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>
    const expired = await new SignJWT({ op: 'get', key: claims.key })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(key)
    expect(await problemOf(fetch(`${api}/v1/storage/local/${expired}`))).toMatchObject({ status: 403, code: 'download_url_expired' })
    const single = uploads.find((upload) => upload.kind === 'single')!
    expect(await problemOf(fetch(single.kind === 'single' ? single.url : ''))).toMatchObject({ status: 403, code: 'invalid_download_token' })
  })

  async function problemOf(response: Promise<Response>) {
    const answered = await response
    return { status: answered.status, ...((await answered.json()) as { code: string }) }
  }
})
