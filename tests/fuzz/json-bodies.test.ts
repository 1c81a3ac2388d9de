import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { buildSafetensors, loraTensorsFor, seededBaseModels } from '../../src/compat'
import { hfConfigs } from '../compat/fixtures/hf-configs'
import { baseNamed, createListing, declare, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness } from '../helpers/harness'
import { type BodyContext, fillPath, type FuzzBody, fuzzBodies, type JsonBodyOperation, jsonBodyOperations, type OpenApiDocument } from './bodies'
import { headerObjectOf, runs, textOf } from './common'

/**
 * Every operation with an `application/json` body, found by walking the served OpenAPI document
 * (a new route is fuzzed without touching this file), gets a few hundred generated bodies as an
 * authenticated team owner, with path parameters naming real fixtures so handlers run past their
 * 404s. No answer may be a 5xx (but 503 payments_not_configured: Stripe is not set up here);
 * every 4xx is problem+json with a code.
 */

const RUNS_PER_OPERATION = runs(200)
const MAX_BODY_BYTES = 1024 * 1024
// Statuses that mean "stopped before the handler": a run that never gets past them fuzzed nothing.
const BEFORE_HANDLER = new Set([400, 413, 415, 422])

// Every fuzzing seller is an operator, so reviewBaseModel's bodies reach its rules, not only the role check.
const operators: string[] = []
const h = await createHarness({ operators })
const served = await h.call('GET', '/openapi.json')
const document = served.json as OpenApiDocument
const operations = jsonBodyOperations(document)
afterAll(() => h.close())

const base = 'meta-llama/Llama-2-7b-hf'
const folder = peftFolder({ base })
const header = headerObjectOf(folder)
const adapterConfig = JSON.parse(textOf(folder, 'adapter_config.json'))

/** A seller team with a published listing and offers, and a buyer's pending access request on it. */
async function sellerWithRequest(prefix: string) {
  const seller = await h.teamOwner(prefix)
  const slug = `${prefix}-lora`
  await createListing(h, seller, slug)
  const published = await publishFolder(h, seller, slug, '1.0.0', folder, { publish: true })
  if (published.version?.status !== 'published') throw new Error(`fixture version not published: ${JSON.stringify(published.version)}`)
  const offer = async (body: Record<string, unknown>) => {
    const response = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/offers`, { auth: seller.token, body })
    if (response.status !== 201) throw new Error(`createOffer failed: ${response.text}`)
    return response.json.id as string
  }
  const free = await offer({ kind: 'free', license: 'research' })
  const onRequest = await offer({ kind: 'on_request', license: 'commercial' })
  const buyer = await h.user(`${prefix}-buyer`)
  const requested = await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: onRequest, message: 'A law firm of twelve wants to try it.' } })
  if (requested.status !== 201 && requested.status !== 200) throw new Error(`access request failed: ${requested.text}`)
  return { seller, slug, free, onRequest, request: requested.json.accessRequest.id as string }
}

type Owner = Awaited<ReturnType<typeof sellerWithRequest>>

// Another seller whose offers the fuzzing owner may buy (a team cannot buy its own adapters).
const other = await sellerWithRequest('other')
const colleague = await h.user('colleague')

/** Fresh fixtures per operation: one operation's valid bodies (archive, approve…) never starve another's. */
async function contextFor(operation: JsonBodyOperation) {
  const own = await sellerWithRequest(operation.operationId.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 12))
  const { seller, slug } = own
  operators.push(seller.email)
  // reviewBaseModel's target: a pending registration of the seller's team.
  const pendingId = `fuzz-pending/${operation.operationId.toLowerCase().slice(0, 20)}`
  await h.call('POST', '/v1/base-models', { auth: seller.token, body: { id: pendingId, config: hfConfigs['meta-llama/Llama-2-7b-hf'], team: seller.team } })
  const [owner = '', name = ''] = pendingId.split('/')
  const pathValues: Record<string, string> = { team: seller.team, slug, version: '1.0.0', id: own.request, owner, name, userId: seller.id, offerId: own.free }
  const byName: Record<string, unknown[]> = {
    team: [seller.team, other.seller.team, 'no-such-team'],
    offerId: [other.free, other.onRequest, own.free, crypto.randomUUID()],
    email: [colleague.email, seller.email, other.seller.email],
    password: [seller.password],
    baseModel: [base, 'Qwen/Qwen-7B', 'unsloth/llama-3-8b-bnb-4bit', 'nobody/nothing'],
    base: seededBaseModels.slice(0, 5).map((model) => model.id),
    version: [`${seller.team}/${slug}@1.0.0`, `${other.seller.team}/${other.slug}@1.0.0`, '1.0.1', '2.0.0-rc.1'],
    header: [header],
    config: [adapterConfig, ...Object.values(hfConfigs).slice(0, 4)],
    files: [declare(folder)],
    message: ['We review contracts for a firm of twelve lawyers.'],
    scopes: [['read'], ['read', 'publish'], ['admin']],
  }
  const seeds: Record<string, unknown[]> = {
    login: [{ email: seller.email, password: seller.password }],
    addTeamMember: [{ email: colleague.email, role: 'member' }],
    createApiKey: [{ name: 'ci', scopes: ['read'], team: seller.team }],
    createVersion: [{ version: '1.0.1', baseModel: base, changelog: 'Second', files: declare(folder) }],
    updateVersion: [{ changelog: 'Edited', evals: [{ benchmark: 'C-Eval', score: 52.1, baseScore: 41.8 }] }],
    registerBaseModel: Object.entries(hfConfigs)
      .slice(0, 6)
      .map(([id, config]) => ({ id: `fuzz/${id.split('/')[1]}`, config })),
    checkCompatibility: [
      { base, adapter: { header, config: adapterConfig } },
      { base: { config: hfConfigs['mistralai/Mistral-7B-v0.1'] }, adapter: { version: `${seller.team}/${slug}@1.0.0` } },
    ],
    createOffer: [
      { kind: 'free', license: 'research' },
      { kind: 'one_time', license: 'commercial', amount: 4900, currency: 'usd' },
    ],
    checkout: [{ offerId: other.free }, { offerId: other.onRequest, message: 'We review contracts for a firm of twelve lawyers.' }],
    approveAccessRequest: [{ note: 'Welcome.' }, {}],
    rejectAccessRequest: [{ note: 'Not this time.' }, {}],
    reviewBaseModel: [{ decision: 'verify' }, { decision: 'merge', into: base }, { decision: 'merge', into: 'mistralai/Mistral-7B-v0.1' }, { decision: 'reject' }],
  }
  const context: BodyContext = { document, byName, seeds: seeds[operation.operationId] ?? [], maxBodyBytes: MAX_BODY_BYTES }
  return { path: fillPath(operation, pathValues), token: seller.token, context }
}

/** Sends the body exactly as generated: its own content type or none, its text or no body. */
async function send(method: string, path: string, token: string, body: FuzzBody) {
  const headers: Record<string, string> = { Authorization: `Bearer ${token}` }
  if (body.contentType !== undefined) headers['Content-Type'] = body.contentType
  const response = await h.app.request(path, { method, headers, ...(body.text === undefined ? {} : { body: body.text }) })
  const text = await response.text()
  let json: { code?: unknown } | undefined
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, text, json }
}

/** The answer contract: no 5xx but payments_not_configured, problem+json with a code on every 4xx. */
function expectContract(body: FuzzBody, response: Awaited<ReturnType<typeof send>>) {
  const where = `${body.kind} (${body.contentType ?? 'no content type'}, ${body.text?.length ?? 0} chars): ${response.status} ${response.text.slice(0, 300)}`
  if (response.status === 503) expect(response.json?.code, where).toBe('payments_not_configured')
  else expect(response.status, where).toBeLessThan(500)
  if (response.status >= 400) {
    expect(response.headers.get('content-type'), where).toBe('application/problem+json')
    expect(typeof response.json?.code === 'string' && response.json.code.length > 0, where).toBe(true)
  }
}

describe('every JSON body schema, fuzzed through the app', () => {
  it('finds the operations in the served OpenAPI document', () => {
    expect(served.status).toBe(200)
    // The routes this suite was written against; new ones join automatically.
    expect(operations.map((operation) => operation.operationId)).toEqual(
      expect.arrayContaining(['signup', 'login', 'createTeam', 'createAdapter', 'createVersion', 'registerBaseModel', 'checkCompatibility', 'createOffer', 'checkout', 'approveAccessRequest']),
    )
  })

  it.each(operations.map((operation) => [operation.operationId, operation] as const))(
    '%s never answers 5xx',
    async (_id, operation) => {
      const { path, token, context } = await contextFor(operation)
      const statuses = new Map<number, number>()
      await fc.assert(
        fc.asyncProperty(fuzzBodies(operation, context), async (body) => {
          const response = await send(operation.method, path, token, body)
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
          expectContract(body, response)
          expect(({} as Record<string, unknown>).polluted).toBeUndefined()
        }),
        { numRuns: RUNS_PER_OPERATION, timeout: 20_000 },
      )
      // Some bodies must have reached the service verb, or this operation was not really fuzzed.
      expect([...statuses.keys()].some((status) => !BEFORE_HANDLER.has(status)), JSON.stringify([...statuses])).toBe(true)
    },
    120_000,
  )
})

describe('bombs in JSON bodies', () => {
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
  const llamaConfig = JSON.stringify(hfConfigs[base])

  it.each([
    ['registerBaseModel', '/v1/base-models', `{"id":"fuzz/deep","config":{"model_type":"llama","extra":${deep}}}`, 'config'],
    ['checkCompatibility (base config)', '/v1/compat/check', `{"base":{"config":{"model_type":"llama","extra":${deep}}},"adapter":{"header":{}}}`, 'base'],
    ['checkCompatibility (adapter config)', '/v1/compat/check', `{"base":"${base}","adapter":{"header":{},"config":{"r":8,"extra":${deep}}}}`, 'adapter'],
    ['checkCompatibility (header)', '/v1/compat/check', `{"base":"${base}","adapter":{"header":{"t":{"dtype":${deep},"shape":[],"data_offsets":[0,0]}}}}`, 'adapter'],
  ])('answers JSON nested 100,000 levels deep in %s with 422', async (_case, path, body, field) => {
    const owner = await h.teamOwner('deep')
    const response = await h.call('POST', path, { auth: owner.token, body })
    expect({ status: response.status, code: response.json?.code }, response.text.slice(0, 300)).toEqual({ status: 422, code: 'validation_failed' })
    expect(response.json.errors.map((error: { path: string }) => error.path.split('.')[0])).toContain(field)
  })

  it('refuses a 100,000-tensor header sent as JSON by its size (413)', async () => {
    const tensors = Object.fromEntries(Array.from({ length: 100_000 }, (_, index) => [`t${index}`, { dtype: 'F16', shape: [0], data_offsets: [0, 0] }]))
    const response = await h.call('POST', '/v1/compat/check', { body: { base, adapter: { header: tensors } } })
    expect({ status: response.status, code: response.json?.code }).toEqual({ status: 413, code: 'payload_too_large' })
  })

  it('refuses a config whose patterns would be matched millions of times (422, not minutes of CPU)', async () => {
    // 5,000 modules against 5,000 rank_pattern keys in one 1 MiB body: 25 million regex matches.
    const header: Record<string, unknown> = {}
    let offset = 0
    for (let i = 0; i < 5000; i++) {
      for (const part of ['A', 'B']) {
        header[`base_model.model.m${i}.q.lora_${part}.weight`] = { dtype: 'F16', shape: [1, 1], data_offsets: [offset, offset + 2] }
        offset += 2
      }
    }
    const rank_pattern = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`z${i}.q`, 1]))
    const response = await h.call('POST', '/v1/compat/check', { body: { base, adapter: { header, config: { r: 1, target_modules: ['q'], rank_pattern } } } })
    expect({ status: response.status, code: response.json?.code }).toEqual({ status: 422, code: 'invalid_adapter_config' })
  })

  it('checks a target_modules regex built to backtrack for hours against matching tensor names at once', async () => {
    // `(a+)+b` against forty a's: a backtracking engine tries 2^40 ways; PEFT itself would hang on it.
    const module = `base_model.model.${'a'.repeat(40)}!`
    const header = {
      [`${module}.lora_A.weight`]: { dtype: 'F16', shape: [4, 8], data_offsets: [0, 64] },
      [`${module}.lora_B.weight`]: { dtype: 'F16', shape: [8, 4], data_offsets: [64, 128] },
    }
    for (const config of [{ r: 4, target_modules: '(a+)+b' }, { r: 4, target_modules: ['x'], rank_pattern: { '(a|a)*b': 8 } }, { r: 4, target_modules: '(.*a){30}' }]) {
      const response = await h.call('POST', '/v1/compat/check', { body: { base: { config: JSON.parse(llamaConfig) }, adapter: { header, config } } })
      expect(response.status, response.text.slice(0, 300)).toBe(200)
    }
  })
})

describe('uploads validation must settle', () => {
  it('rejects weights or a config holding NUL characters instead of retrying their storage forever', async () => {
    const seller = await h.teamOwner('nulfile')
    const withMetadata = peftFolder({ base, modules: ['self_attn.q_proj'], layers: [0] }).map((file) =>
      file.path === 'adapter_model.safetensors' ? { ...file, bytes: buildSafetensors(loraTensorsFor(baseNamed(base), { r: 4, modules: ['self_attn.q_proj'], layers: [0] }), { note: 'a\u0000b' }) } : file,
    )
    const withConfig = peftFolder({ base, modules: ['self_attn.q_proj'], layers: [0] }).map((file) =>
      file.path === 'adapter_config.json' ? { ...file, bytes: new TextEncoder().encode(JSON.stringify({ r: 4, target_modules: ['q_proj', 'x\u0000'] })) } : file,
    )
    for (const [slug, files, code] of [['nul-metadata', withMetadata, 'invalid_safetensors'], ['nul-config', withConfig, 'invalid_adapter_config']] as const) {
      await createListing(h, seller, slug)
      const { version } = await publishFolder(h, seller, slug, '1.0.0', files)
      expect(version).toMatchObject({ status: 'rejected', findings: [expect.objectContaining({ code })] })
    }
  })
})

describe('NUL characters in text the API stores', () => {
  const nul = 'a\u0000b'

  it.each([
    ['signup', async () => h.call('POST', '/v1/signup', { body: { email: `nul-${crypto.randomUUID().slice(0, 8)}@example.test`, password: 'correct horse battery', name: nul } })],
    ['createTeam', async (owner: Owner) => h.call('POST', '/v1/teams', { auth: owner.seller.token, body: { slug: `nul-${crypto.randomUUID().slice(0, 8)}`, name: nul } })],
    ['createApiKey', async (owner: Owner) => h.call('POST', '/v1/api-keys', { auth: owner.seller.token, body: { name: nul, scopes: ['read'] } })],
    ['createAdapter', async (owner: Owner) => h.call('POST', '/v1/adapters', { auth: owner.seller.token, body: { team: owner.seller.team, slug: 'nul-title', title: nul, license: { spdx: 'MIT', commercialUse: true, derivatives: true } } })],
    ['updateAdapter', async (owner: Owner) => h.call('PATCH', `/v1/adapters/${owner.seller.team}/${owner.slug}`, { auth: owner.seller.token, body: { summary: nul } })],
    ['createVersion', async (owner: Owner) => h.call('POST', `/v1/adapters/${owner.seller.team}/${owner.slug}/versions`, { auth: owner.seller.token, body: { version: '1.0.9', baseModel: base, changelog: nul, files: declare(folder) } })],
    ['checkout', async (owner: Owner) => h.call('POST', '/v1/checkout', { auth: owner.seller.token, body: { offerId: other.onRequest, message: `Twelve lawyers ${nul}` } })],
    ['approveAccessRequest', async (owner: Owner) => h.call('POST', `/v1/access-requests/${owner.request}/approve`, { auth: owner.seller.token, body: { note: nul } })],
    ['rejectAccessRequest', async (owner: Owner) => h.call('POST', `/v1/access-requests/${owner.request}/reject`, { auth: owner.seller.token, body: { note: nul } })],
  ] as const)('%s refuses a NUL in a text field with 422 before anything is written', async (_operation, request) => {
    const response = await request(await sellerWithRequest('nul'))
    expect(response.status, response.text.slice(0, 200)).toBe(422)
    expect(response.json).toMatchObject({ code: 'validation_failed', errors: [{ message: expect.stringContaining('NUL') }] })
  })
})

describe('lone surrogates in what the API stores as jsonb', () => {
  // Found by the fuzz (seed 354723407): JSON may escape half a surrogate pair, jsonb refuses it.
  it.each([
    ['a value', { architectures: '\ud800' }, 'config.architectures'],
    ['a key', { ['x\udc00']: 1 }, 'config.x\udc00'],
  ])('registerBaseModel refuses one in %s with 422 naming its path', async (_where, extra, path) => {
    const owner = await h.teamOwner('surrogate')
    const body = { id: `surrogate/${crypto.randomUUID().slice(0, 8)}`, config: { ...hfConfigs['meta-llama/Llama-2-7b-hf'], ...extra } }
    const response = await h.call('POST', '/v1/base-models', { auth: owner.token, body })
    expect(response.status, response.text.slice(0, 300)).toBe(422)
    expect(response.json).toMatchObject({ code: 'validation_failed', errors: [{ path, message: expect.stringContaining('surrogate') }] })
    // A whole pair is text like any other.
    const paired = await h.call('POST', '/v1/base-models', { auth: owner.token, body: { ...body, config: { ...hfConfigs['meta-llama/Llama-2-7b-hf'], note: '\ud83d\ude00' } } })
    expect(paired.status, paired.text.slice(0, 300)).toBe(201)
  })
})

