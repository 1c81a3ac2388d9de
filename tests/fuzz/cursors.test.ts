import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unstorable } from '../../src/lib/text'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { runs } from './common'

/**
 * Every operation that takes a cursor, fed arbitrary cursor strings and arbitrary JSON cursor
 * payloads (base64url, as the API issues them; near-valid ones too: the right shape with keys
 * of any type, dates outside Postgres's range, numbers outside a column's). A cursor is caller
 * input that reaches SQL as parameters: the answer is 200 or 400 `invalid_cursor` (422 `validation_failed` for text no parameter may hold), never a 500.
 */

const RUNS = runs(60)
const SORTS = ['relevance', 'newest', 'downloads', 'rating'] as const

const encode = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'undefined').toString('base64url')

/** Keys a cursor might carry: any JSON, numbers at every scale, timestamps of any year, strings. */
const anyKey = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.double(),
  fc.integer(),
  fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 1e308, -1e308, 1e-50, 1.5, 0, -0, 5, 5.000001),
  fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
  fc.constantFrom('1', '0', '+275760-09-13T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '2026-02-30T00:00:00.000Z', 'infinity', 'epoch', 'now'),
  fc.string(),
)
const anyId = fc.oneof({ arbitrary: fc.uuid(), weight: 4 }, fc.string(), fc.jsonValue({ maxDepth: 1 }))

/**
 * Cursors as strings: raw text, base64url of arbitrary JSON, and mostly near-valid positions
 * for the operation (its own sort name and a real-looking id, so the key is what gets tested).
 */
const cursorsFor = (sort: (typeof SORTS)[number] | undefined) =>
  fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.jsonValue({ maxDepth: 3 }).map(encode),
    fc.record({ s: fc.oneof({ arbitrary: fc.constantFrom(...SORTS), weight: 1 }, fc.jsonValue({ maxDepth: 1 })), k: anyKey, id: anyId }, { requiredKeys: [] }).map(encode),
    {
      arbitrary: sort
        ? fc.record({ s: fc.constant(sort), k: anyKey, id: anyId }).map(encode)
        : fc.record({ at: anyKey, id: anyId }).map(encode),
      weight: 6,
    },
  )

describe('cursor-taking operations on arbitrary cursors', () => {
  let h: Harness
  let reviewsPath: string
  const operators: string[] = []
  let sellerToken: string
  let sellerTeam: string
  let operatorToken: string

  beforeAll(async () => {
    h = await createHarness({ operators })
    const operator = await h.user('operator')
    operators.push(operator.email)
    operatorToken = operator.token
    const seller = await h.teamOwner('cursors')
    sellerToken = seller.token
    sellerTeam = seller.team
    for (const slug of ['contract-law', 'contract-tax']) {
      await createListing(h, seller, slug, { title: `Contract ${slug}` })
      await publishFolder(h, seller, slug, '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    }
    reviewsPath = `/v1/adapters/${seller.team}/contract-law/reviews`
  })
  afterAll(() => h.close())

  type Operation = [name: string, sort: (typeof SORTS)[number] | undefined, pathFor: (cursor: string) => string, auth?: () => string]
  const operations: Operation[] = [
    ...SORTS.map((sort): Operation => [`searchAdapters sort=${sort}`, sort, (cursor) => `/v1/adapters?q=contract&sort=${sort}&limit=1&cursor=${cursor}`]),
    ['searchAdapters (default sort)', 'newest', (cursor) => `/v1/adapters?limit=1&cursor=${cursor}`],
    ...(['newest', 'downloads', 'rating'] as const).map((sort): Operation => [
      `listCompatibleAdapters sort=${sort}`,
      sort,
      (cursor) => `/v1/base-models/meta-llama/Llama-2-7b-hf/adapters?sort=${sort}&limit=1&cursor=${cursor}`,
    ]),
    ['listReviews', undefined, (cursor) => `${reviewsPath}?limit=1&cursor=${cursor}`],
    ['the storefront search page', 'newest', (cursor) => `/?sort=newest&cursor=${cursor}`],
    ['listFingerprintMatches', undefined, (cursor) => `/v1/teams/${sellerTeam}/fingerprint-matches?limit=1&cursor=${cursor}`, () => sellerToken],
    ['listFingerprintReviews', undefined, (cursor) => `/v1/fingerprint-reviews?limit=1&cursor=${cursor}`, () => operatorToken],
  ]

  for (const [name, sort, pathFor, auth] of operations) {
    it(`${name}: 200 or 400 invalid_cursor, never a 500`, async () => {
      await fc.assert(
        fc.asyncProperty(cursorsFor(sort), async (cursor) => {
          const response = await h.app.request(pathFor(encodeURIComponent(cursor)), auth ? { headers: { Authorization: `Bearer ${auth()}` } } : {})
          const text = await response.text()
          const message = `${name} with cursor ${JSON.stringify(cursor)} answered ${response.status}: ${text.slice(0, 300)}`
          expect([200, 400, 422], message).toContain(response.status)
          if (response.status === 200 || pathFor('').startsWith('/?')) return
          // Text no query parameter may hold (NUL, half a surrogate pair; over 500 characters) is refused before any cursor is read.
          const refusedAsText = cursor.length > 500 || unstorable(cursor) !== undefined
          expect([response.status, JSON.parse(text).code], message).toEqual(refusedAsText ? [422, 'validation_failed'] : [400, 'invalid_cursor'])
        }),
        { numRuns: RUNS },
      )
    })
  }
})
