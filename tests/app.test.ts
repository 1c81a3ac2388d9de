import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness } from './helpers/harness'
import type { Harness } from './helpers/harness'
import { expectProblem } from './helpers/problems'
import { loadDocsAssets } from '../src/node/docs-assets'

let h: Harness
beforeAll(async () => {
  h = await createHarness()
})
afterAll(() => h.close())

const STABLE_OPERATIONS = ['signup', 'login', 'getMe', 'createTeam', 'addTeamMember', 'createApiKey', 'revokeApiKey']

describe('the app shell', () => {
  it('answers /health', async () => {
    const response = await h.call('GET', '/health')
    expect(response.status).toBe(200)
    expect(response.json).toEqual({ status: 'ok' })
  })

  it('serves an OpenAPI 3.1 document in which every operation has a unique operationId', async () => {
    const { json } = await h.call('GET', '/openapi.json')
    expect(json.openapi).toBe('3.1.0')
    const operations = Object.values(json.paths as Record<string, Record<string, { operationId?: string }>>).flatMap((item) =>
      Object.values(item),
    )
    const ids = operations.map((operation) => operation.operationId)
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toEqual(expect.arrayContaining(STABLE_OPERATIONS))
    expect(json.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
  })

  it('serves the docs UI pointing at the OpenAPI document', async () => {
    const response = await h.call('GET', '/docs')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toContain('text/html')
    const init = await h.call('GET', '/docs/assets/init.js')
    expect(init.headers.get('content-type')).toContain('text/javascript')
    expect(init.text).toContain("url: '/openapi.json'")
    expect(response.text).toContain('src="/docs/assets/init.js"')
  })

  it('sends /docs with a CSP that admits only its own files and forbids framing (clickjacking)', async () => {
    const selfHosted = await createHarness({ docsAssets: await loadDocsAssets() })
    try {
      for (const [harness, assetSource] of [[selfHosted, "'self'"], [h, 'https://cdn.jsdelivr.net']] as const) {
        const response = await harness.call('GET', '/docs')
        expect(response.headers.get('X-Frame-Options')).toBe('DENY')
        expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff')
        const csp = Object.fromEntries(
          (response.headers.get('Content-Security-Policy') ?? '').split(';').map((directive) => {
            const [name = '', ...values] = directive.trim().split(/\s+/)
            return [name, values]
          }),
        )
        expect(csp['frame-ancestors']).toEqual(["'none'"])
        expect(csp['default-src']).toEqual(["'none'"])
        expect(csp['script-src']).toEqual(["'self'", ...(assetSource === "'self'" ? [] : [assetSource])])
        expect(csp['style-src']).toEqual(["'self'", ...(assetSource === "'self'" ? [] : [assetSource])])
        expect(csp['connect-src']).toEqual(["'self'", 'http://localhost:8787'])
        // No inline code for the CSP to have to allow: every script is a file.
        expect(response.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
        expect(response.text).not.toMatch(/\son\w+=/)
        expect(response.text).not.toContain('<style')
      }
      const page = await selfHosted.call('GET', '/docs')
      // Every file the page loads is served here (the icon is an empty data: URL, so the browser asks for no /favicon.ico).
      for (const [, asset] of page.text.matchAll(/(?:src|href)="(\/[^"]+)"/g)) {
        const served = await selfHosted.app.request(asset!)
        expect(served.status, asset).toBe(200)
        expect(served.headers.get('X-Content-Type-Options'), asset).toBe('nosniff')
      }
    } finally {
      await selfHosted.close()
    }
  })

  it('answers unknown routes with a 404 problem', async () => {
    expectProblem(await h.call('GET', '/v1/nothing-here'), 404, 'not_found')
    expectProblem(await h.call('PATCH', '/v1/signup', { body: {} }), 404, 'not_found')
  })

  it('keeps a valid incoming request id and makes one otherwise', async () => {
    const kept = await h.call('GET', '/v1/nothing', { headers: { 'X-Request-Id': 'trace-abc-123' } })
    expect(kept.headers.get('x-request-id')).toBe('trace-abc-123')
    expect(kept.json.requestId).toBe('trace-abc-123')
    const made = await h.call('GET', '/v1/nothing', { headers: { 'X-Request-Id': 'bad id <script>' } })
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('unexpected failures', () => {
  it('answer a generic 500 problem that leaks nothing', async () => {
    const broken = await createHarness()
    await broken.close() // the database is gone: every query now fails inside the driver
    const response = await broken.call('POST', '/v1/login', { body: { email: 'a@example.test', password: 'whatever1' } })
    expectProblem(response, 500, 'internal_error')
    expect(response.json.detail).toContain(response.json.requestId)
    expect(response.text).not.toMatch(/pglite|postgres|select|stack|at /i)
  })
})
