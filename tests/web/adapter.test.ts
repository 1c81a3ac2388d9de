import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AdapterFile, createListing, peftFolder, publishFolder, sha256 } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { formPost, signIn } from '../helpers/web'

const post = formPost

/** The `<tr>` of one base in the compatibility table. */
const rowOf = (html: string, base: string) => new RegExp(`<tr data-base="${base.replace(/[.]/g, '\\.')}" data-verdict="(\\w+)">(.*?)</tr>`, 's').exec(html)

/** The check result section and its verdict. */
const checkResultOf = (html: string) => /<section id="check-result"[^>]*data-verdict="(\w+)"[^>]*>(.*?)<\/section>/s.exec(html)

// Like mistralai/Mistral-7B-v0.1's config.json: grouped-query attention makes v_proj 1024 wide, not 4096.
const MISTRAL_CONFIG = {
  architectures: ['MistralForCausalLM'],
  model_type: 'mistral',
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  vocab_size: 32000,
}

describe('storefront: the adapter page', () => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  let files: AdapterFile[]
  let listing: string
  let freeOffer: string
  let requestOffer: string

  const get = (path: string, cookie?: string) => h.app.request(path, cookie ? { headers: { Cookie: cookie } } : {})

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('page')
    listing = `/${seller.team}/legal-llama`
    await createListing(h, seller, 'legal-llama', {
      title: 'Contract law assistant',
      description: '# Contract law\n\nTrained on **court rulings**.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n',
    })
    files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })
    await publishFolder(h, seller, 'legal-llama', '1.0.0', files)
    const evals = [{ benchmark: 'C-Eval', score: 61.5, baseScore: 55.25, metric: 'accuracy' }]
    expect((await h.call('PATCH', `/v1/adapters${listing}/versions/1.0.0`, { auth: seller.token, body: { evals } })).status).toBe(200)
    expect((await h.call('POST', `/v1/adapters${listing}/versions/1.0.0/publish`, { auth: seller.token })).status).toBe(200)
    // A newer version validated but not published: the seller team's draft (rank 32: vLLM needs a flag).
    await publishFolder(h, seller, 'legal-llama', '1.1.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf', r: 32 }))
    const free = await h.call('POST', `/v1/adapters${listing}/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    const onRequest = await h.call('POST', `/v1/adapters${listing}/offers`, { auth: seller.token, body: { kind: 'on_request', license: 'commercial' } })
    expect([free.status, onRequest.status]).toEqual([201, 201])
    freeOffer = free.json.id
    requestOffer = onRequest.json.id
  })
  afterAll(() => h.close())

  it('shows the listing, its files and the compatibility matrix with visible reasons', async () => {
    const response = await get(listing)
    expect(response.status).toBe(200)
    expect(response.headers.get('Content-Type')).toContain('text/html')
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    const html = await response.text()
    expect(html).toContain('<h1>Contract law assistant</h1>')
    expect(html).toContain(`${seller.team}/legal-llama`)
    expect(html).toContain('Answers questions about contract law')
    expect(html).toContain('Apache-2.0')
    expect(html).toMatch(/<dt>Commercial use<\/dt>\s*<dd>yes<\/dd>/)

    const llama = rowOf(html, 'meta-llama/Llama-2-7b-hf')
    expect(llama?.[1]).toBe('compatible')
    expect(llama?.[2]).toContain('Compatible')
    expect(llama?.[2]).toContain('vLLM: yes')
    const mistral = rowOf(html, 'mistralai/Mistral-7B-v0.1')
    expect(mistral?.[1]).toBe('incompatible')
    expect(mistral?.[2]).toContain('Incompatible')
    // The reason is text, not only colour: the engines say no and why, and the first error is spelled out.
    expect(mistral?.[2]).toContain('vLLM: no')
    expect(mistral?.[2]).toContain('the tensors do not fit mistralai/Mistral-7B-v0.1')
    expect(mistral?.[2]).toMatch(/v_proj/)
    expect(html).toContain('<th scope="col">Base model</th>')

    const weights = files.find((file) => file.path === 'adapter_model.safetensors')
    expect(html).toContain(`<code>${sha256(weights?.bytes ?? new Uint8Array())}</code>`)
    expect(html).not.toContain('/versions/1.0.0/files/') // no download links before getting the adapter
    expect(html).toMatch(/<th scope="row">C-Eval<span class="muted"> \(accuracy\)<\/span><\/th>\s*<td>61\.5<\/td>\s*<td>55\.25<\/td>\s*<td>\+6\.25<\/td>/)

    expect(html).toMatch(/<button type="submit" class="buy">Get free<\/button>/)
    expect(html).toMatch(/<button type="submit" class="buy">Request access<\/button>/)
    expect(html).toMatch(new RegExp(`<label for="message-${requestOffer}">`))
    expect(html).toMatch(/<form id="check" class="stack" method="post" action="[^"]+\/legal-llama\/check"/)
    expect(html).toContain('<input type="hidden" name="version" value="1.0.0"/>')
    // The check box starts on the base the version declares.
    expect(html).toContain('<option value="meta-llama/Llama-2-7b-hf" selected="">')
    expect(html).toContain('<option value="mistralai/Mistral-7B-v0.1">')
  })

  it('renders the description as markdown without live script or javascript: links', async () => {
    const html = await (await get(listing)).text()
    expect(html).toContain('<h1>Contract law</h1>')
    expect(html).toContain('<strong>court rulings</strong>')
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(html).not.toMatch(/<script/i)
    expect(html).not.toMatch(/href="javascript:/i)
  })

  it('checks a base picked from the list, or a pasted config.json, and re-renders the page with the verdict', async () => {
    const compatible = await h.app.request(`${listing}/check`, post({ version: '1.0.0', base: 'meta-llama/Llama-2-7b-hf', config: '' }))
    expect(compatible.status).toBe(200)
    const good = checkResultOf(await compatible.text())
    expect(good?.[1]).toBe('compatible')
    expect(good?.[2]).toContain('Compatible with meta-llama/Llama-2-7b-hf')
    expect(good?.[2]).toContain('vLLM: yes')

    const incompatible = await h.app.request(`${listing}/check`, post({ version: '1.0.0', base: 'mistralai/Mistral-7B-v0.1', config: '' }))
    expect(incompatible.status).toBe(200)
    const incompatibleHtml = await incompatible.text()
    const bad = checkResultOf(incompatibleHtml)
    expect(bad?.[1]).toBe('incompatible')
    expect(bad?.[2]).toContain('Incompatible with mistralai/Mistral-7B-v0.1')
    expect(bad?.[2]).toContain('Error:')
    // The form keeps the base that was checked.
    expect(incompatibleHtml).toContain('<option value="mistralai/Mistral-7B-v0.1" selected="">')

    // The pasted config wins over the picked base.
    const pasted = await h.app.request(`${listing}/check`, post({ version: '1.0.0', base: 'meta-llama/Llama-2-7b-hf', config: JSON.stringify(MISTRAL_CONFIG) }))
    expect(pasted.status).toBe(200)
    const fromConfig = checkResultOf(await pasted.text())
    expect(fromConfig?.[1]).toBe('incompatible')
    expect(fromConfig?.[2]).toContain('Incompatible with the pasted config.json')
  })

  it('answers a malformed or unusable config.json with the page and a 422 notice, never a 500', async () => {
    for (const config of ['{"model_type": "llama", ', '[1, 2, 3]', '"llama"', JSON.stringify({ model_type: 'no-such-architecture', hidden_size: 'big' })]) {
      const response = await h.app.request(`${listing}/check`, post({ version: '1.0.0', base: 'meta-llama/Llama-2-7b-hf', config }))
      expect(response.status, config).toBe(422)
      const html = await response.text()
      expect(html).toMatch(/<p class="notice error" role="alert">[^<]+<\/p>/)
      expect(html).toContain('<table id="compatibility">')
      expect(html).not.toContain('id="check-result"')
    }
    const nothing = await h.app.request(`${listing}/check`, post({ version: '1.0.0', base: '', config: '' }))
    expect(nothing.status).toBe(422)
    expect(await nothing.text()).toContain('Pick a base model from the list or paste its config.json.')
    const forged = await h.app.request(`${listing}/check`, post({ version: '1.0.0', base: 'meta-llama/Llama-2-7b-hf' }, undefined, 'https://evil.example'))
    expect(forged.status).toBe(403)
  })

  it('sends an anonymous buyer to sign in, grants a free offer and lets the buyer download with a checksum', async () => {
    const anonymous = await h.app.request(`${listing}/buy`, post({ offerId: freeOffer }))
    expect(anonymous.status).toBe(303)
    expect(anonymous.headers.get('Location')).toBe(`/login?next=${listing}`)

    const buyer = await h.user('page-buyer')
    const cookie = await signIn(h, buyer)
    const claimed = await h.app.request(`${listing}/buy`, post({ offerId: freeOffer }, cookie))
    expect(claimed.status).toBe(303)
    expect(claimed.headers.get('Location')).toBe(`/me?claimed=${seller.team}/legal-llama`)
    const entitlements = await h.call('GET', '/v1/me/entitlements', { auth: buyer.token })
    expect(entitlements.json.items).toEqual([expect.objectContaining({ adapter: `${seller.team}/legal-llama`, license: 'research', source: 'free' })])

    const html = await (await get(listing, cookie)).text()
    const link = `${listing}/versions/1.0.0/files/adapter_model.safetensors`
    expect(html).toContain(`href="${link}"`)
    const download = await get(link, cookie)
    expect(download.status).toBe(302)
    expect(download.headers.get('Cache-Control')).toBe('no-store')
    const weights = files.find((file) => file.path === 'adapter_model.safetensors')?.bytes ?? new Uint8Array()
    expect(download.headers.get('X-Checksum-SHA256')).toBe(sha256(weights))
    expect(download.headers.get('X-File-Size')).toBe(String(weights.length))
    const stored = await h.fetchUrl(download.headers.get('Location') ?? '')
    // Saved under the name PEFT and every engine load, not a slug-version-prefixed one.
    expect(stored.headers.get('content-disposition')).toBe('attachment; filename="adapter_model.safetensors"')
    const bytes = new Uint8Array(await stored.arrayBuffer())
    expect(sha256(bytes)).toBe(sha256(weights))

    const stranger = await signIn(h, await h.user('page-stranger'))
    const refused = await get(link, stranger)
    expect(refused.status).toBe(403)
    expect(refused.headers.get('Content-Type')).toContain('text/html')
    expect(await refused.text()).toContain('Get ')
    const signedOut = await get(link)
    expect(signedOut.status).toBe(303)
    expect(signedOut.headers.get('Location')).toBe(`/login?next=${encodeURIComponent(link)}`)
  })

  it('asks for a message on an on-request offer, then files the request', async () => {
    const buyer = await h.user('page-requester')
    const cookie = await signIn(h, buyer)
    const missing = await h.app.request(`${listing}/buy`, post({ offerId: requestOffer, message: '' }, cookie))
    expect(missing.status).toBe(422)
    expect(missing.headers.get('Content-Type')).toContain('text/html')
    expect(await missing.text()).toMatch(/<p class="notice error" role="alert">Say who you are/)

    const short = await h.app.request(`${listing}/buy`, post({ offerId: requestOffer, message: 'hi' }, cookie))
    expect(short.status).toBe(422)
    expect(await short.text()).toContain('10 characters or more')

    const elsewhere = await h.app.request(`${listing}/buy`, post({ offerId: crypto.randomUUID() }, cookie))
    expect(elsewhere.status).toBe(404)

    const requested = await h.app.request(`${listing}/buy`, post({ offerId: requestOffer, message: 'A law firm in Shanghai; contract review for clients.' }, cookie))
    expect(requested.status).toBe(303)
    expect(requested.headers.get('Location')).toBe(`${listing}?requested=1`)
    expect(await (await get(`${listing}?requested=1`, cookie)).text()).toContain('Access requested')

    const again = await h.app.request(`${listing}/buy`, post({ offerId: requestOffer, message: 'A law firm in Shanghai; contract review for clients.' }, cookie))
    expect(again.status).toBe(409)
    expect(await again.text()).toContain('already have a pending request')
  })

  it('hides unpublished versions from the public and shows them, with their status, to the seller team', async () => {
    const publicHtml = await (await get(listing)).text()
    expect(publicHtml).toContain(`href="${listing}?version=1.0.0"`)
    expect(publicHtml).not.toContain('1.1.0')
    expect((await get(`${listing}?version=1.1.0`)).status).toBe(404)

    const cookie = await signIn(h, seller)
    const sellerHtml = await (await get(listing, cookie)).text()
    expect(sellerHtml).toContain(`href="${listing}?version=1.1.0"`)
    expect(sellerHtml).toContain('status: ready')
    expect(sellerHtml).toContain('status: published')
    // Their newest version is shown by default, with download links for the team.
    expect(sellerHtml).toContain('<input type="hidden" name="version" value="1.1.0"/>')
    expect(sellerHtml).toContain(`href="${listing}/versions/1.1.0/files/adapter_model.safetensors"`)
    expect(sellerHtml).toContain('start vLLM with --max-lora-rank 32')
    expect(sellerHtml).not.toContain('<button type="submit" class="buy">Get free</button>')
    expect(sellerHtml).not.toContain('/legal-llama/buy')
    const older = await (await get(`${listing}?version=1.0.0`, cookie)).text()
    expect(older).toContain('<input type="hidden" name="version" value="1.0.0"/>')
  })

  it('leaves reserved and unknown paths to the 404 page', async () => {
    const unknown = await get(`/${seller.team}/no-such-adapter`)
    expect(unknown.status).toBe(404)
    expect(unknown.headers.get('Content-Type')).toContain('text/html')
    expect((await get('/login/legal-llama')).status).toBe(404)
    expect((await get('/static/legal-llama')).status).toBe(404)
    const api = await get('/v1/nothing/here')
    expect(api.status).toBe(404)
    expect(api.headers.get('Content-Type')).toContain('application/problem+json')
  })
})
