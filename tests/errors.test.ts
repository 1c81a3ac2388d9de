import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERRORS_DOC_PATH, errorsDocSource } from '../scripts/errors-doc'
import { ApiError, toProblem } from '../src/lib/errors'
import { PROBLEMS, type ProblemCode, problemCodes } from '../src/lib/problems'
import { createListing, peftFolder, publishFolder } from './helpers/adapters'
import { createHarness, type Harness } from './helpers/harness'
import { expectProblem } from './helpers/problems'
import { formPost } from './helpers/web'

/**
 * The error contract: one registry (src/lib/problems.ts) gives each code its status, title and
 * when; the API answers with them, and docs/errors.md is the registry as a table. That every
 * code the app throws is in the registry is the compiler's job (`ApiError` takes a `ProblemCode`).
 */

/** The committed table's rows: code → status and title. */
function committedTable(markdown: string) {
  const rows = new Map<string, { status: number; title: string; when: string }>()
  for (const line of markdown.split('\n')) {
    const match = /^\| `([a-z0-9_]+)` \| (\d{3}) \| (.+?) \| (.+) \|$/.exec(line)
    if (match) rows.set(match[1]!, { status: Number(match[2]), title: match[3]!, when: match[4]! })
  }
  return rows
}

describe('the problem registry', () => {
  it('gives every code an error status, a title, and a "when" of one sentence', () => {
    expect(problemCodes.length).toBeGreaterThan(90)
    for (const code of problemCodes) {
      const { status, title, when } = PROBLEMS[code]
      expect(code, code).toMatch(/^[a-z][a-z0-9_]*$/)
      expect(status >= 400 && status <= 599, code).toBe(true)
      expect(title.length, code).toBeGreaterThan(2)
      expect(when, code).toMatch(/^[^\n]+\.$/)
      expect(when.slice(0, -1), `${code}: one sentence`).not.toMatch(/[.!?] [A-Z]/)
    }
  })

  it('is the committed docs/errors.md (run npm run docs:errors after changing the registry)', async () => {
    expect(await readFile(ERRORS_DOC_PATH, 'utf8')).toBe(errorsDocSource())
  })

  it('lists every code in the committed table with its status, title and when, and nothing else', async () => {
    const table = committedTable(await readFile(ERRORS_DOC_PATH, 'utf8'))
    expect([...table.keys()].sort()).toEqual([...problemCodes].sort())
    for (const code of problemCodes) expect(table.get(code), code).toEqual({ ...PROBLEMS[code] })
  })

  it('makes every ApiError a problem with the status and title of its code', () => {
    for (const code of problemCodes) {
      const problem = toProblem(new ApiError(code, 'detail'), 'req-1')
      expect(problem, code).toMatchObject({ type: `urn:refinery:problem:${code}`, code, status: PROBLEMS[code].status, title: PROBLEMS[code].title, detail: 'detail', requestId: 'req-1' })
    }
  })
})

describe('problems as the API answers them', () => {
  let h: Harness
  beforeAll(async () => {
    h = await createHarness()
  })
  afterAll(() => h.close())

  it('answers the shared refusals of every route with the registry status and title', async () => {
    const cases: [Awaited<ReturnType<Harness['call']>>, ProblemCode][] = [
      [await h.call('GET', '/v1/me?token=abc'), 'credentials_in_query'],
      [await h.call('GET', '/v1/me'), 'unauthorized'],
      [await h.call('GET', '/v1/me', { auth: 'rfy_not-a-key' }), 'invalid_api_key'],
      [await h.call('GET', '/v1/me', { headers: { Authorization: 'Basic abc' } }), 'invalid_authorization'],
      [await h.call('GET', '/v1/no-such-route'), 'not_found'],
      [await h.call('POST', '/v1/login', { body: '{"email":' }), 'invalid_json'],
      [await h.call('POST', '/v1/login', { body: { email: 'nobody@example.test' } }), 'validation_failed'],
      [await h.call('POST', '/v1/login', { body: { email: 'nobody@example.test', password: 'not the password' } }), 'invalid_credentials'],
      [await h.call('POST', '/v1/compat/inspect', { body: { not: 'a file' } }), 'unsupported_media_type'],
      [await h.call('GET', '/v1/adapters?cursor=not-ours'), 'invalid_cursor'],
    ]
    for (const [response, code] of cases) expectProblem(response, PROBLEMS[code].status, code)
  })

  it('keeps one status per code: a base named in a body or query is 422 unknown_base_model, one named in the path 404 not_found', async () => {
    const seller = await h.teamOwner('one-meaning')
    await createListing(h, seller, 'one-meaning')
    await publishFolder(h, seller, 'one-meaning', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const adapter = { version: `${seller.team}/one-meaning@1.0.0` }
    // POST /v1/compat/check answered 404 here before the registry; the other two were 422 already.
    expectProblem(await h.call('POST', '/v1/compat/check', { body: { base: 'nobody/nothing', adapter } }), 422, 'unknown_base_model')
    expectProblem(await h.call('GET', '/v1/adapters?base=nobody/nothing'), 422, 'unknown_base_model')
    const declared = await h.call('POST', `/v1/adapters/${seller.team}/one-meaning/versions`, {
      auth: seller.token,
      body: { version: '2.0.0', baseModel: 'nobody/nothing', files: [{ path: 'adapter_model.safetensors', size: 10, sha256: 'a'.repeat(64) }] },
    })
    expectProblem(declared, 422, 'unknown_base_model')
    expectProblem(await h.call('GET', '/v1/base-models/nobody/nothing'), 404, 'not_found')
  })

  it('keeps the Hub its own shape for the same codes, and titles the storefront error pages from the registry', async () => {
    const hub = await h.call('GET', '/hf/api/models/nobody/nothing')
    expect(hub.status).toBe(PROBLEMS.repo_not_found.status)
    expect(hub.headers.get('content-type')).toContain('application/json')
    expect(hub.headers.get('x-error-code')).toBe('RepoNotFound')
    expect(hub.json).toEqual({ error: expect.stringContaining('Repository Not Found'), code: 'repo_not_found' })

    const page = await h.call('GET', '/nobody-here/nothing-here')
    expect(page.status).toBe(404)
    expect(page.headers.get('content-type')).toContain('text/html')
    expect(page.text).toContain(PROBLEMS.not_found.title)

    // hono/csrf's refusal (an HTTPException with no message) is the registry's cross_origin_post, explained.
    const forged = await h.app.request('/login', formPost({ email: 'a@example.test', password: 'whatever it is' }, undefined, 'https://evil.example'))
    expect(forged.status).toBe(PROBLEMS.cross_origin_post.status)
    const html = await forged.text()
    expect(html).toContain(PROBLEMS.cross_origin_post.title)
    expect(html).toContain('own pages only')
  })
})
