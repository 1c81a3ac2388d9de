import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { revokeEntitlement } from '../../src/commerce/entitlements'
import { entitlements, offers, orders } from '../../src/commerce/tables'
import { rollupDownloads } from '../../src/downloads'
import { teams } from '../../src/identity/tables'
import { formatBytes } from '../../src/lib/format'
import { createListing, peftFolder, publishFolder, sha256 } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { formPost, ORIGIN, signIn } from '../helpers/web'

type Person = { email: string; password: string; token: string; id: string }

const post = (cookie: string, fields: Record<string, string> = {}, origin = ORIGIN) => formPost(fields, cookie, origin)

/** The `<article>` of a page that names `text`, so assertions about one card do not match another. */
const cardNaming = (html: string, text: string) =>
  html
    .split('<article')
    .slice(1)
    .find((chunk) => chunk.includes(text)) ?? ''

describe('storefront: my adapters and the team page', () => {
  let h: Harness
  let seller: Person & { team: string }
  let buyer: Person
  let sellerCookie: string
  let buyerCookie: string
  let freeOffer: string
  let requestOffer: string
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })


  const get = (path: string, cookie?: string) => h.app.request(path, cookie ? { headers: { Cookie: cookie } } : {})

  async function offer(slug: string, body: Record<string, unknown>) {
    const response = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/offers`, { auth: seller.token, body })
    if (response.status !== 201) throw new Error(`createOffer failed: ${response.text}`)
    return response.json.id as string
  }

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('dash')
    buyer = await h.user('dash-buyer')
    await createListing(h, seller, 'free-lora', { title: 'Free <b>legal</b> LoRA' })
    await publishFolder(h, seller, 'free-lora', '1.0.0', files, { publish: true })
    freeOffer = await offer('free-lora', { kind: 'free', license: 'research' })
    requestOffer = await offer('free-lora', { kind: 'on_request', license: 'commercial' })
    await createListing(h, seller, 'draft-lora', { visibility: 'draft', title: 'Unfinished LoRA' })
    sellerCookie = await signIn(h, seller)
    buyerCookie = await signIn(h, buyer)
  })
  afterAll(() => h.close())

  it('sends anonymous visitors to sign in and back', async () => {
    const me = await get('/me')
    expect(me.status).toBe(303)
    expect(me.headers.get('Location')).toBe('/login?next=%2Fme')
    const team = await get(`/teams/${seller.team}`)
    expect(team.status).toBe(303)
    expect(team.headers.get('Location')).toBe(`/login?next=${encodeURIComponent(`/teams/${seller.team}`)}`)
  })

  it('shows a claimed free licence with a download link, size and checksum for each file of the latest version', async () => {
    const claimed = await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: freeOffer } })
    expect(claimed.status).toBe(201)

    const response = await get(`/me?claimed=${seller.team}/free-lora`, buyerCookie)
    expect(response.status).toBe(200)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    const html = await response.text()
    expect(html).toContain(`You now hold a licence for ${seller.team}/free-lora.`)
    expect(html).toContain(buyer.email)
    const card = cardNaming(html, `${seller.team}/free-lora`)
    expect(card).toContain(`<a href="/${seller.team}/free-lora">${seller.team}/free-lora</a>`)
    expect(card).toContain('Research licence')
    expect(card).toContain('free offer')
    expect(card).toContain(`granted ${new Date().toISOString().slice(0, 10)}`)
    expect(card).not.toContain('Revoked')
    for (const file of files) {
      expect(card).toContain(`<a class="download" href="/${seller.team}/free-lora/versions/1.0.0/files/${encodeURIComponent(file.path)}">Download ${file.path}</a>`)
      expect(card).toContain(sha256(file.bytes))
      expect(card).toContain(formatBytes(file.bytes.length))
    }

    // The notice only ever names something shaped like team/slug, and is escaped.
    const odd = await (await get('/me?claimed=%3Cscript%3Ealert(1)%3C/script%3E', buyerCookie)).text()
    expect(odd).not.toContain('You now hold a licence')
    expect(odd).not.toContain('<script>')
  })

  it('marks a revoked licence with its reason and offers no download', async () => {
    await createListing(h, seller, 'refunded-lora')
    await publishFolder(h, seller, 'refunded-lora', '1.0.0', files, { publish: true })
    const claimed = await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: await offer('refunded-lora', { kind: 'free', license: 'research' }) } })
    expect(claimed.status).toBe(201)
    // What a refund or chargeback does (tests/commerce covers the webhooks that do it).
    const [row] = await h.db.select().from(entitlements).where(eq(entitlements.id, claimed.json.entitlement.id))
    await revokeEntitlement(h.deps.db, row!.source, row!.sourceId, 'refunded', new Date())

    const html = await (await get('/me', buyerCookie)).text()
    const card = cardNaming(html, `${seller.team}/refunded-lora`)
    expect(card).toContain('<span class="badge no">Revoked</span>')
    expect(card).toContain(': refunded.')
    expect(card).not.toContain('class="download"')
    expect(card).not.toContain('/versions/')
    // The live licence next to it still has its links.
    expect(cardNaming(html, `${seller.team}/free-lora`)).toContain('class="download"')
  })

  it('shows the team its draft and published listings, and refuses strangers', async () => {
    const response = await get(`/teams/${seller.team}`, sellerCookie)
    expect(response.status).toBe(200)
    const html = await response.text()
    expect(html).toContain(`<h1>Team ${seller.team}</h1>`)
    expect(html).toContain(`<a href="/${seller.team}/draft-lora">Unfinished LoRA</a>`)
    expect(html).toMatch(/draft-lora<\/div><\/td><td><span class="badge">draft<\/span><\/td><td><span class="muted">none published<\/span><\/td>/)
    expect(html).toContain(`<a href="/${seller.team}/free-lora">Free &lt;b&gt;legal&lt;/b&gt; LoRA</a>`)
    expect(html).toMatch(/free-lora<\/div><\/td><td><span class="badge yes">published<\/span><\/td><td>1\.0\.0<\/td>/)

    const stranger = await get(`/teams/${seller.team}`, buyerCookie)
    expect(stranger.status).toBe(403)
    expect(stranger.headers.get('Content-Type')).toContain('text/html')
    expect(await stranger.text()).not.toContain('draft-lora')
    const unknown = await get('/teams/no-such-team-here', sellerCookie)
    expect(unknown.status).toBe(404)
  })

  it('approves an access request from the page, and refuses a cross-site post', async () => {
    const requested = await h.call('POST', '/v1/checkout', {
      auth: buyer.token,
      body: { offerId: requestOffer, message: 'Contract review for our <firm>' },
    })
    expect(requested.status).toBe(201)
    const id = requested.json.accessRequest.id as string
    const action = `/teams/${seller.team}/access-requests/${id}/approve`
    const pending = async () => (await h.call('GET', `/v1/teams/${seller.team}/access-requests?status=pending`, { auth: seller.token })).json.items.map((item: { id: string }) => item.id)
    const commercial = async () =>
      (await h.call('GET', '/v1/me/entitlements', { auth: buyer.token })).json.items.filter((item: { license: string; revokedAt: string | null }) => item.license === 'commercial' && !item.revokedAt)

    const html = await (await get(`/teams/${seller.team}`, sellerCookie)).text()
    const card = cardNaming(html, action)
    expect(card).toContain(buyer.email)
    expect(card).toContain('Contract review for our &lt;firm&gt;')
    expect(card).toContain(`<form class="stack decision" method="post" action="${action}">`)
    expect(card).toContain(`action="/teams/${seller.team}/access-requests/${id}/reject"`)

    const forged = await h.app.request(action, post(sellerCookie, { note: 'welcome' }, 'https://evil.example'))
    expect(forged.status).toBe(403)
    expect(await pending()).toContain(id)
    expect(await commercial()).toEqual([])
    // A signed-in stranger gets the verb's answer.
    expect((await h.app.request(action, post(buyerCookie))).status).toBe(403)
    expect(await pending()).toContain(id)

    const approved = await h.app.request(action, post(sellerCookie, { note: 'welcome' }))
    expect(approved.status).toBe(303)
    expect(approved.headers.get('Location')).toBe(`/teams/${seller.team}?decided=approved`)
    expect(await pending()).not.toContain(id)
    expect(await commercial()).toEqual([expect.objectContaining({ adapter: `${seller.team}/free-lora`, source: 'access_request' })])
    const after = await (await get(`/teams/${seller.team}?decided=approved`, sellerCookie)).text()
    expect(after).toContain('Request approved')
    expect(after).not.toContain(action)
    // A decision is final.
    expect((await h.app.request(action, post(sellerCookie))).status).toBe(409)

    // The buyer's page shows the adapter once, with both licences, in plain English.
    const mine = await (await get('/me', buyerCookie)).text()
    expect(mine.split(`<a href="/${seller.team}/free-lora">`).length - 1).toBe(1)
    const held = cardNaming(mine, `${seller.team}/free-lora`)
    expect(held).toContain('Commercial licence · from an approved request')
    expect(held).toContain('Research licence · from a free offer')
    expect(mine).not.toContain('from a approved')
  })

  it('rejects an access request with a note', async () => {
    const other = await h.user('dash-other')
    const requested = await h.call('POST', '/v1/checkout', { auth: other.token, body: { offerId: requestOffer, message: 'We would like to resell it' } })
    expect(requested.status).toBe(201)
    const id = requested.json.accessRequest.id as string
    const rejected = await h.app.request(`/teams/${seller.team}/access-requests/${id}/reject`, post(sellerCookie, { note: 'Not for resale' }))
    expect(rejected.status).toBe(303)
    expect(rejected.headers.get('Location')).toBe(`/teams/${seller.team}?decided=rejected`)
    const all = (await h.call('GET', `/v1/teams/${seller.team}/access-requests`, { auth: seller.token })).json.items
    expect(all.find((item: { id: string }) => item.id === id)).toMatchObject({ status: 'rejected', decisionNote: 'Not for resale' })
    expect((await h.call('GET', '/v1/me/entitlements', { auth: other.token })).json.items).toEqual([])
    expect((await h.app.request(`/teams/${seller.team}/access-requests/not-an-id/reject`, post(sellerCookie))).status).toBe(404)
  })

  it('charts sales and downloads per day as an accessible SVG with the numbers in a table', async () => {
    const today = new Date().toISOString().slice(0, 10)
    const downloaded = await h.call('GET', `/v1/adapters/${seller.team}/free-lora/versions/1.0.0/files/adapter_config.json`, { auth: buyer.token })
    expect(downloaded.status).toBe(302)
    await h.deps.downloadLog?.flush()
    await rollupDownloads(h.db)
    // A paid order as Stripe's webhook leaves it (tests/commerce drives the real webhook).
    const [team] = await h.db.select().from(teams).where(eq(teams.slug, seller.team))
    const adapter = (await h.call('GET', `/v1/adapters/${seller.team}/free-lora`)).json
    const [paidOffer] = await h.db.insert(offers).values({ adapterId: adapter.id, kind: 'one_time', license: 'commercial', amount: 4900, currency: 'usd' }).returning()
    await h.db.insert(orders).values({
      offerId: paidOffer!.id,
      adapterId: adapter.id,
      sellerTeamId: team!.id,
      buyerUserId: buyer.id,
      holder: `user:${buyer.id}`,
      license: 'commercial',
      amount: 4900,
      currency: 'usd',
      feeAmount: 490,
      status: 'paid',
      paidAt: new Date(),
    })

    const sales = await h.call('GET', `/v1/teams/${seller.team}/sales`, { auth: seller.token })
    expect(sales.json.downloadsByDay).toEqual([{ day: today, downloads: 1 }])

    const html = await (await get(`/teams/${seller.team}`, sellerCookie)).text()
    expect(html).toMatch(/<svg class="chart" role="img" aria-label="Orders and downloads per day from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d: 1 orders and 1 downloads in all\./)
    expect(html).toMatch(/<svg[^>]*role="img"[^>]*><title>Orders and downloads per day/)
    expect(html).toContain(`<title>${today}: 1 orders</title>`)
    expect(html).toContain(`<title>${today}: 1 downloads</title>`)
    // Thirty day rows, today's with the order, its gross and the download.
    expect(html.match(/<tr><th scope="row">\d{4}-\d\d-\d\d<\/th>/g)).toHaveLength(30)
    expect(html).toContain(`<tr><th scope="row">${today}</th><td>1</td><td>$49.00</td><td>1</td></tr>`)
    expect(html).toContain('<tr><th scope="row">USD</th><td>1</td><td>$49.00</td><td>$4.90</td><td>$0.00</td><td>$44.10</td></tr>')
    // The listing's download counter, rolled up.
    expect(html).toMatch(/free-lora<\/div><\/td><td><span class="badge yes">published<\/span><\/td><td>1\.0\.0<\/td><td>1<\/td>/)

    const week = await (await get(`/teams/${seller.team}?from=2020-01-01&to=2020-01-07`, sellerCookie)).text()
    expect(week).toContain('Sales and downloads, 2020-01-01 to 2020-01-07')
    expect(week.match(/<tr><th scope="row">\d{4}-\d\d-\d\d<\/th>/g)).toHaveLength(7)
    expect(week).toContain('No paid orders in this period.')
    const month = await (await get(`/teams/${seller.team}?to=2020-01-31`, sellerCookie)).text()
    expect(month).toContain('Sales and downloads, 2020-01-02 to 2020-01-31')
    const bad = await (await get(`/teams/${seller.team}?from=2020-01-07&to=2020-01-01`, sellerCookie)).text()
    expect(bad).toContain('Choose a period of 1 to 366 days')
    expect(await (await get(`/teams/${seller.team}?from=yesterday`, sellerCookie)).text()).toContain('Choose a period of 1 to 366 days')
  })
})
