import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createListing, peftFolder, publishFolder } from './helpers/adapters'
import { createHarness, type Harness } from './helpers/harness'
import { expectProblem } from './helpers/problems'
import { EVERY_ROUTE_PROBLEMS } from '../src/lib/openapi'
import { PROBLEMS, problemCodes } from '../src/lib/problems'

/**
 * What generated clients, validators and gateways read from /openapi.json: patterns that are
 * regular expressions, security on every operation, answers typed as they are sent, and request
 * bodies that refuse what they do not know. `npm run openapi:lint` (in .ci/run) lints the same
 * document with Redocly's recommended rules.
 */

type Schema = Record<string, any>
type Operation = { operationId: string; security?: Record<string, string[]>[]; requestBody?: any; responses: Record<string, any>; parameters?: any[] }

let h: Harness
let document: { info: Record<string, any>; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, Schema> } }
const operations = () => Object.values(document.paths).flatMap((item) => Object.values(item))
const operation = (id: string) => operations().find((candidate) => candidate.operationId === id)!
const resolve = (schema: Schema): Schema => (schema.$ref ? resolve(document.components.schemas[schema.$ref.split('/').at(-1)]!) : schema)

beforeAll(async () => {
  h = await createHarness()
  document = (await h.call('GET', '/openapi.json')).json
})
afterAll(() => h.close())

/** Every schema node under `schema`, with where it is, following $refs once each. */
function* nodes(schema: Schema, where: string, seen = new Set<string>()): Generator<[Schema, string]> {
  if (schema.$ref) {
    if (seen.has(schema.$ref)) return
    seen.add(schema.$ref)
    yield* nodes(resolve(schema), `${where}<${schema.$ref.split('/').at(-1)}>`, seen)
    return
  }
  yield [schema, where]
  for (const [name, child] of Object.entries<Schema>(schema.properties ?? {})) yield* nodes(child, `${where}.${name}`, seen)
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) for (const [index, child] of (schema[key] ?? []).entries()) yield* nodes(child, `${where}|${index}`, seen)
  if (schema.items && typeof schema.items === 'object') yield* nodes(schema.items, `${where}[]`, seen)
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') yield* nodes(schema.additionalProperties, `${where}{}`, seen)
}

describe('the OpenAPI document as a contract', () => {
  it('writes every pattern as an ECMA-262 regular expression that matches its own examples', () => {
    const patterns = [...nodes({ properties: document.components.schemas }, '#')]
      .concat(operations().flatMap((op) => [...nodes({ properties: Object.fromEntries((op.parameters ?? []).map((p: any) => [p.name, p.schema ?? {}])) }, op.operationId)]))
      .filter(([schema]) => typeof schema.pattern === 'string')
    expect(patterns.length).toBeGreaterThan(5)
    for (const [schema, where] of patterns) {
      expect(() => new RegExp(schema.pattern, 'u'), where).not.toThrow()
      expect(schema.pattern, where).not.toMatch(/\/[gimsuyv]*$/)
    }
    const tag = [...nodes(document.components.schemas.AdapterTags!, 'tags')].find(([schema]) => typeof schema.pattern === 'string')![0]
    for (const good of ['chat', 'zh', 'c++', '中文', 'llama-2']) expect(new RegExp(tag.pattern, 'u').test(good), good).toBe(true)
    for (const bad of ['Chat', '-x', 'two words']) expect(new RegExp(tag.pattern, 'u').test(bad), bad).toBe(false)
  })

  it('declares security on every operation: a scope, none, or optional ([{}, {bearerAuth: []}])', () => {
    expect(document.info.license?.name).toEqual(expect.any(String))
    for (const op of operations()) expect(Array.isArray(op.security), op.operationId).toBe(true)
    // Public reads accept a credential (it shows the caller's own drafts): optional, not absent.
    for (const id of ['searchAdapters', 'getAdapter', 'listVersions', 'getVersion', 'listOffers', 'listReviews', 'checkCompatibility']) {
      expect(operation(id).security, id).toEqual([{}, { bearerAuth: [] }])
    }
    for (const id of ['signup', 'login', 'getHealth', 'stripeWebhook']) expect(operation(id).security, id).toEqual([])
  })

  it('declares 400, 401, 403, 429, 500 and 503 problems on every /v1 operation, and only statuses the registry answers with', () => {
    expect([...EVERY_ROUTE_PROBLEMS]).toEqual([400, 401, 403, 429, 500, 503])
    const registryStatuses = new Set<number>(problemCodes.map((code) => PROBLEMS[code].status))
    const problem = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } }
    for (const [path, item] of Object.entries(document.paths)) {
      for (const op of Object.values(item)) {
        const errors = Object.entries(op.responses).filter(([status]) => Number(status) >= 400)
        if (path.startsWith('/v1/')) for (const status of EVERY_ROUTE_PROBLEMS) expect(op.responses[status]?.content, `${op.operationId} ${status}`).toEqual(problem)
        for (const [status, response] of errors) {
          expect(registryStatuses.has(Number(status)), `${op.operationId} declares ${status}, which no problem code has`).toBe(true)
          expect(response.content, `${op.operationId} ${status}`).toEqual(problem)
        }
      }
    }
    // The login limiter's 429 and the outage 503s, which few routes declared by hand before.
    expect(Object.keys(operation('login').responses)).toEqual(expect.arrayContaining(['401', '422', '429', '503']))
  })

  it('types the download answers as sent: a redirect or bytes from downloadFile, the JSON link from getDownloadLink', () => {
    const download = operation('downloadFile')
    expect(Object.keys(download.responses['200']?.content ?? {})).not.toContain('application/json')
    expect(download.responses['302']).toBeDefined()
    const link = operation('getDownloadLink')
    expect(link.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/DownloadLink' })
    expect(link.security).toEqual([{ bearerAuth: ['read'] }])
    for (const op of [download, link]) expect(op.responses['410'].content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' })
  })

  it('types commercial as a boolean and CheckoutResult as a union on kind', () => {
    const commercial = operation('searchAdapters').parameters!.find((p: any) => p.name === 'commercial')
    expect(commercial.schema.type).toBe('boolean')
    const result = document.components.schemas.CheckoutResult!
    const variants = (result.oneOf ?? result.anyOf) as Schema[]
    expect(result.discriminator?.propertyName ?? 'kind').toBe('kind')
    expect(variants.map((variant) => resolve(variant).properties.kind.const ?? resolve(variant).properties.kind.enum?.[0]).sort()).toEqual(['access_request', 'checkout', 'entitlement'])
  })

  it('closes every request body object: additionalProperties false (maps of foreign documents aside)', () => {
    const open: string[] = []
    for (const op of operations()) {
      const schema = op.requestBody?.content?.['application/json']?.schema
      if (!schema) continue
      for (const [node, where] of nodes(schema, op.operationId)) if (node.properties && node.additionalProperties !== false) open.push(where)
    }
    expect(open).toEqual([])
  })
})

describe('request bodies with fields the API does not know', () => {
  it('refuses a review sent with "body" instead of "text" (422 naming the field) and stores nothing', async () => {
    const seller = await h.teamOwner('strict')
    await createListing(h, seller, 'strict-lora')
    await publishFolder(h, seller, 'strict-lora', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/strict-lora/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    const buyer = await h.user('strict-buyer')
    await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id } })
    const path = `/v1/adapters/${seller.team}/strict-lora/versions/1.0.0/reviews`

    const wrong = await h.call('POST', path, { auth: buyer.token, body: { rating: 5, body: 'Great on contracts.' } })
    expectProblem(wrong, 422, 'validation_failed')
    expect(wrong.json.errors).toContainEqual({ path: 'body', message: expect.stringContaining('unknown field') })
    expect(wrong.json.detail).toContain('body')
    expect((await h.call('GET', `/v1/adapters/${seller.team}/strict-lora/reviews`)).json.items).toEqual([])

    // The retry with the right field is the first review, not a 409.
    const right = await h.call('POST', path, { auth: buyer.token, body: { rating: 5, text: 'Great on contracts.' } })
    expect(right.status).toBe(201)
  })

  it('names a nested unknown field with its path', async () => {
    const seller = await h.teamOwner('strict-nested')
    const response = await h.call('POST', '/v1/adapters', {
      auth: seller.token,
      body: { team: seller.team, slug: 'nested', title: 'Nested', license: { spdx: 'MIT', commercialUse: true, comercial: true } },
    })
    expectProblem(response, 422, 'validation_failed')
    expect(response.json.errors).toContainEqual({ path: 'license.comercial', message: expect.stringContaining('unknown field') })
  })
})
