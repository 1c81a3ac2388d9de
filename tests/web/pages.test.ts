import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { formPost, ORIGIN } from '../helpers/web'

const form = (fields: Record<string, string>, origin = ORIGIN) => formPost(fields, undefined, origin)

describe('storefront: search and sign-in', () => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('web')
    await createListing(h, seller, 'legal-llama', { title: 'Legal <script>alert(1)</script> assistant' })
    await publishFolder(h, seller, 'legal-llama', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    await h.call('POST', `/v1/adapters/${seller.team}/legal-llama/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    await createListing(h, seller, 'legal-mistral', { title: 'Mistral legal helper' })
    await publishFolder(h, seller, 'legal-mistral', '1.0.0', peftFolder({ base: 'mistralai/Mistral-7B-v0.1' }), { baseModel: 'mistralai/Mistral-7B-v0.1', publish: true })
  })
  afterAll(() => h.close())

  it('renders search results by computed compatibility, escaped, with price, as a plain GET form', async () => {
    const response = await h.app.request('/?base=meta-llama/Llama-2-7b-hf&runtime=&q=legal')
    expect(response.status).toBe(200)
    expect(response.headers.get('Content-Type')).toContain('text/html')
    expect(response.headers.get('Content-Security-Policy')).toContain("default-src 'none'")
    const html = await response.text()
    // The result keeps the base the buyer searched for, so the adapter page opens on its verdict.
    expect(html).toContain(`href="/${seller.team}/legal-llama?base=meta-llama%2FLlama-2-7b-hf"`)
    expect(html).not.toContain('legal-mistral')
    expect(html).toContain('Legal &lt;script&gt;alert(1)&lt;/script&gt; assistant')
    expect(html).not.toContain('<script>')
    expect(html).toContain('free')
    expect(html).toMatch(/<option value="meta-llama\/Llama-2-7b-hf" selected="">/)

    const mistral = await (await h.app.request('/?base=mistralai/Mistral-7B-v0.1')).text()
    expect(mistral).toContain('legal-mistral')
    expect(mistral).not.toContain('legal-llama')
    const bad = await h.app.request('/?maxPrice=-5')
    expect(bad.status).toBe(422)
    expect(await bad.text()).toContain('Check these filters: maxPrice')
    expect((await h.app.request('/static/refinery.css')).headers.get('Content-Type')).toContain('text/css')
  })

  it('keeps ?base= from search to the adapter page and its check, and remembers the last base checked', async () => {
    const search = await (await h.app.request('/?base=mistralai/Mistral-7B-v0.1')).text()
    const link = /href="(\/[^"]+\/legal-mistral\?base=[^"]+)"/.exec(search)?.[1] ?? ''
    expect(link).toBe(`/${seller.team}/legal-mistral?base=mistralai%2FMistral-7B-v0.1`)

    // The page opens on the verdict for that base, in the decision area, and the check form preselects it.
    const html = await (await h.app.request(`/${seller.team}/legal-llama?base=mistralai%2FMistral-7B-v0.1`)).text()
    const decision = /<aside id="decision".*?<\/aside>/s.exec(html)?.[0] ?? ''
    expect(decision).toMatch(/<section id="base-verdict" class="verdict-box" data-verdict="incompatible"/)
    expect(decision).toContain('Incompatible with mistralai/Mistral-7B-v0.1')
    expect(decision).toContain('<option value="mistralai/Mistral-7B-v0.1" selected="">')
    expect(decision).toMatch(/<button type="submit" class="buy">Get free<\/button>/)
    // The verdict and the Buy button come before the description and the (collapsed) matrix.
    expect(html.indexOf('id="decision"')).toBeLessThan(html.indexOf('id="description-heading"'))
    expect(html).toMatch(/<details class="matrix"><summary>Every registered base model \(\d+\): \d+ compatible<\/summary>/)
    // Version links keep the base too.
    expect(html).toContain(`href="/${seller.team}/legal-llama?version=1.0.0&amp;base=mistralai%2FMistral-7B-v0.1"`)

    // An unknown base is never echoed: the page asks which base the buyer runs.
    const unknown = await (await h.app.request(`/${seller.team}/legal-llama?base=%3Cb%3Enope`)).text()
    expect(unknown).not.toContain('nope')
    expect(unknown).toContain('Which base model do you run?')

    // A check answers in the decision area and remembers the base (a cookie) for the next adapter page.
    const check = await h.app.request(`/${seller.team}/legal-llama/check`, form({ version: '1.0.0', base: 'meta-llama/Llama-2-7b-hf', config: '' }))
    expect(check.status).toBe(200)
    const checked = await check.text()
    expect(/<aside id="decision".*?<\/aside>/s.exec(checked)?.[0]).toMatch(/<section id="check-result" class="verdict-box" data-verdict="compatible"/)
    const cookie = check.headers.get('Set-Cookie') ?? ''
    expect(cookie).toMatch(/^refinery_base=meta-llama%2FLlama-2-7b-hf;.*HttpOnly/)
    const later = await (await h.app.request(`/${seller.team}/legal-mistral`, { headers: { Cookie: cookie.split(';')[0] ?? '' } })).text()
    expect(later).toContain('Incompatible with meta-llama/Llama-2-7b-hf')
    // ?base= wins over the remembered base.
    const chosen = await (await h.app.request(`/${seller.team}/legal-mistral?base=mistralai%2FMistral-7B-v0.1`, { headers: { Cookie: cookie.split(';')[0] ?? '' } })).text()
    expect(chosen).toContain('Compatible with mistralai/Mistral-7B-v0.1')
  })

  it('signs in with a cookie session (HttpOnly, SameSite=Lax), refuses cross-site posts, signs out', async () => {
    const buyer = await h.user('web-buyer')
    const wrong = await h.app.request('/login', form({ email: buyer.email, password: 'not the password', next: '/me' }))
    expect(wrong.status).toBe(401)
    expect(await wrong.text()).toContain('The email or password is wrong.')

    const forged = await h.app.request('/login', form({ email: buyer.email, password: buyer.password }, 'https://evil.example'))
    expect(forged.status).toBe(403)
    expect(forged.headers.get('Set-Cookie')).toBeNull()

    const signedIn = await h.app.request('/login', form({ email: buyer.email, password: buyer.password, next: '//evil.example/' }))
    expect(signedIn.status).toBe(303)
    expect(signedIn.headers.get('Location')).toBe('/')
    const cookie = signedIn.headers.get('Set-Cookie')!
    expect(cookie).toMatch(/^refinery_session=[^;]+; .*HttpOnly/)
    expect(cookie).toContain('SameSite=Lax')
    const session = cookie.split(';')[0]!
    expect(await (await h.app.request('/', { headers: { Cookie: session } })).text()).toContain('Sign out')
    // The cookie is for pages only: the API reads the Authorization header.
    expect((await h.app.request('/v1/me', { headers: { Cookie: session } })).status).toBe(401)

    const out = await h.app.request('/logout', { ...form({}), headers: { ...form({}).headers, Cookie: session } })
    expect(out.status).toBe(303)
    expect(out.headers.get('Set-Cookie')).toMatch(/refinery_session=;.*Max-Age=0/)
    expect(await (await h.app.request('/', { headers: { Cookie: 'refinery_session=forged' } })).text()).toContain('Sign in')

    const created = await h.app.request('/signup', form({ name: 'New', email: 'new-web@example.test', password: 'long enough password', next: '/' }))
    expect(created.status).toBe(303)
    expect(created.headers.get('Set-Cookie')).toContain('refinery_session=')
    const taken = await h.app.request('/signup', form({ name: 'New', email: 'new-web@example.test', password: 'long enough password' }))
    expect(taken.status).toBe(409)
  })

  it('sends a signed-in user back only to a path on this site, whatever `next` holds (never a 500)', async () => {
    const buyer = await h.user('web-next')
    const offSite = [
      '/\t/evil.example',
      '/\\evil.example',
      '\\\\evil.example',
      '//evil.example',
      '/\\/evil.example',
      '///evil.example',
      'https://evil.example/',
      '/\n/evil.example',
      '/\r/evil.example',
      '/.//evil.example',
      '/me/..//evil.example',
      'javascript:alert(1)',
      ' //evil.example',
      'https://localhost:8787@evil.example/',
      '',
    ]
    for (const next of offSite) {
      const response = await h.app.request('/login', form({ email: buyer.email, password: buyer.password, next }))
      expect(response.status, JSON.stringify(next)).toBe(303)
      expect(response.headers.get('Location'), JSON.stringify(next)).toBe('/')
    }
    const kept: [string, string][] = [
      ['/me', '/me'],
      ['/me?tab=downloads#top', '/me?tab=downloads'],
      ['http://localhost:8787/teams/x', '/teams/x'],
      // Same scheme, no slashes: a relative path, as a browser reads it.
      ['http:evil.example', '/evil.example'],
      // Control characters and encoded slashes stay inside the path, percent-encoded.
      ['/\v/evil.example', '/%0B/evil.example'],
      ['/a\r\nSet-Cookie: x=1', '/aSet-Cookie:%20x=1'],
      ['/%09/evil.example', '/%09/evil.example'],
      ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
      ['/%5Cevil.example', '/%5Cevil.example'],
    ]
    for (const [next, location] of kept) {
      const response = await h.app.request('/login', form({ email: buyer.email, password: buyer.password, next }))
      expect(response.status, JSON.stringify(next)).toBe(303)
      expect(response.headers.get('Location'), JSON.stringify(next)).toBe(location)
    }
    // The same rule for the sign-in and sign-up pages' hidden field and for sign-up's redirect.
    const shown = await (await h.app.request(`/login?next=${encodeURIComponent('/\t/evil.example')}`)).text()
    expect(shown).toContain('<input type="hidden" name="next" value="/"')
    const created = await h.app.request('/signup', form({ name: 'Next', email: 'next-web@example.test', password: 'long enough password', next: '/\t/evil.example' }))
    expect(created.status).toBe(303)
    expect(created.headers.get('Location')).toBe('/')
  })

  it('refuses a NUL character in any form field with an HTML 422, and creates nothing', async () => {
    const refused = await h.app.request('/signup', form({ name: 'Nul\u0000name', email: 'nul-web@example.test', password: 'long enough password' }))
    expect(refused.status).toBe(422)
    expect(refused.headers.get('Content-Type')).toContain('text/html')
    expect(await refused.text()).toContain('NUL character')
    const login = await h.call('POST', '/v1/login', { body: { email: 'nul-web@example.test', password: 'long enough password' } })
    expect(login.status).toBe(401)
  })

  it('answers unknown pages with an HTML 404 and API paths with problem+json', async () => {
    const page = await h.app.request('/nobody/nothing-here')
    expect(page.status).toBe(404)
    expect(page.headers.get('Content-Type')).toContain('text/html')
    const api = await h.app.request('/v1/nothing')
    expect(api.status).toBe(404)
    expect(api.headers.get('Content-Type')).toContain('application/problem+json')
  })
})
