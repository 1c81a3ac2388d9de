import { and, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapters } from '../../src/catalog/tables'
import { offers } from '../../src/commerce/tables'
import { createListing, declare, peftFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { formPost, ORIGIN, signIn } from '../helpers/web'


type Person = { email: string; password: string; token: string; id: string }

/** The upload script's JSON call (fetch from our page: our Origin, the session cookie). */
const scriptPost = (body: unknown, cookie?: string, origin: string | null = ORIGIN) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...(origin && { Origin: origin }), ...(cookie && { Cookie: cookie }) },
  body: JSON.stringify(body),
})

const LISTING = { title: 'Tax law LoRA', summary: 'Answers tax questions', license: 'Apache-2.0', commercialUse: 'true', visibility: 'published', tags: 'chat, Legal' }

describe('storefront: the seller dashboard forms', () => {
  let h: Harness
  let owner: Person & { team: string }
  let member: Person
  let outsider: Person & { team: string }
  const cookies = new Map<string, string>()
  const files = peftFolder({ base: 'meta-llama/Llama-2-7b-hf' })

  const cookie = (person: Person) => cookies.get(person.email) ?? ''
  const listingRow = async (team: string, slug: string) => {
    const rows = await h.db.select({ id: adapters.id, title: adapters.title, tags: adapters.taskTags }).from(adapters).where(eq(adapters.slug, slug))
    const shown = await h.call('GET', `/v1/adapters/${team}/${slug}`, { auth: owner.token })
    return { rows, status: shown.status }
  }
  const offersOf = async (slug: string) => {
    const [row] = await h.db.select({ id: adapters.id }).from(adapters).where(eq(adapters.slug, slug))
    return row ? h.db.select().from(offers).where(eq(offers.adapterId, row.id)) : []
  }

  beforeAll(async () => {
    h = await createHarness()
    owner = await h.teamOwner('desk')
    member = await h.user('desk-member')
    await h.addMember(owner, owner.team, member, 'member')
    outsider = await h.teamOwner('other')
    for (const person of [owner, member, outsider]) cookies.set(person.email, await signIn(h, person))
  })
  afterAll(() => h.close())

  it('creates a listing from the team page, through createAdapter, and opens its page', async () => {
    const teamPage = await (await h.app.request(`/teams/${owner.team}`, { headers: { Cookie: cookie(owner) } })).text()
    expect(teamPage).toContain(`<form class="stack" method="post" action="/teams/${owner.team}/listings">`)

    const created = await h.app.request(`/teams/${owner.team}/listings`, formPost({ ...LISTING, slug: 'tax-lora' }, cookie(owner)))
    expect(created.status).toBe(303)
    expect(created.headers.get('Location')).toBe(`/teams/${owner.team}/listings/tax-lora?done=created`)
    const listing = await h.call('GET', `/v1/adapters/${owner.team}/tax-lora`)
    expect(listing.json).toMatchObject({ title: 'Tax law LoRA', visibility: 'published', tags: { task: ['chat', 'legal'] }, license: { spdx: 'Apache-2.0', commercialUse: true, derivatives: false } })

    const manage = await h.app.request(created.headers.get('Location') ?? '', { headers: { Cookie: cookie(owner) } })
    expect(manage.status).toBe(200)
    // The page runs our upload script file, and nothing inline.
    const csp = manage.headers.get('Content-Security-Policy') ?? ''
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-inline')
    const html = await manage.text()
    expect(html).toContain('Listing created.')
    expect(html).toContain('<script src="/static/upload.js" defer=""></script>')
    expect(html).not.toMatch(/<script>/)
    expect(html).toMatch(/<form id="new-version" class="card stack" method="post" enctype="multipart\/form-data" action="\/teams\/[^/]+\/listings\/tax-lora\/versions"/)
    const script = await h.app.request('/static/upload.js')
    expect(script.headers.get('Content-Type')).toContain('text/javascript')
    expect(await script.text()).toContain('XMLHttpRequest')

    // The slug is taken now: the verb's 409, as a page, and nothing more is written.
    const again = await h.app.request(`/teams/${owner.team}/listings`, formPost({ ...LISTING, slug: 'tax-lora' }, cookie(owner)))
    expect(again.status).toBe(409)
    expect(await again.text()).toContain('already has an adapter')
    const bad = await h.app.request(`/teams/${owner.team}/listings`, formPost({ ...LISTING, slug: 'Not A Slug', license: '' }, cookie(owner)))
    expect(bad.status).toBe(422)
    expect(await bad.text()).toContain('Check these fields: slug')
    expect((await listingRow(owner.team, 'tax-lora')).rows).toHaveLength(1)
  })

  it('refuses the forms to anonymous visitors, other origins and other teams, writing nothing', async () => {
    await createListing(h, owner, 'guarded')
    const [offer] = await Promise.all([h.call('POST', `/v1/adapters/${owner.team}/guarded/offers`, { auth: owner.token, body: { kind: 'free', license: 'research' } })])
    const offerId = offer?.json.id as string
    const paths = {
      listing: `/teams/${owner.team}/listings`,
      offers: `/teams/${owner.team}/listings/guarded/offers`,
      offer: `/teams/${owner.team}/listings/guarded/offers/${offerId}`,
      versions: `/teams/${owner.team}/listings/guarded/versions`,
    }
    const fields = { listing: { ...LISTING, slug: 'stolen' }, offers: { kind: 'on_request', license: 'commercial' }, offer: { change: 'withdraw' } }

    // Anonymous: sent to sign in (forms) or told to (the script), nothing written.
    for (const name of ['listing', 'offers', 'offer'] as const) {
      const response = await h.app.request(paths[name], formPost(fields[name]))
      expect(response.status, name).toBe(303)
      expect(response.headers.get('Location'), name).toMatch(/^\/login\?next=/)
    }
    const anonymousScript = await h.app.request(paths.versions, scriptPost({ version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) }))
    expect(anonymousScript.status).toBe(401)
    expect(anonymousScript.headers.get('Content-Type')).toContain('application/problem+json')
    expect((await h.app.request(`/teams/${owner.team}/listings/guarded`)).status).toBe(303)

    // Another origin: refused before the verb runs, form or JSON, with the owner's own cookie.
    for (const name of ['listing', 'offers', 'offer'] as const) {
      expect((await h.app.request(paths[name], formPost(fields[name], cookie(owner), 'https://evil.example'))).status, name).toBe(403)
    }
    const forgedJson = await h.app.request(paths.versions, scriptPost({ version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) }, cookie(owner), 'https://evil.example'))
    expect(forgedJson.status).toBe(403)
    const noOrigin = await h.app.request(paths.versions, scriptPost({ version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) }, cookie(owner), null))
    expect(noOrigin.status).toBe(403)

    // A member of another team: the verbs refuse (403 not a member), as the API does.
    for (const name of ['listing', 'offers', 'offer'] as const) {
      expect((await h.app.request(paths[name], formPost(fields[name], cookie(outsider)))).status, name).toBe(403)
    }
    const crossTeam = await h.app.request(paths.versions, scriptPost({ version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', files: declare(files) }, cookie(outsider)))
    expect(crossTeam.status).toBe(403)
    expect((await crossTeam.json()).code).toBe('not_team_member')
    expect((await h.app.request(`/teams/${owner.team}/listings/guarded`, { headers: { Cookie: cookie(outsider) } })).status).toBe(403)
    const versionStatus = await h.app.request(`/teams/${owner.team}/listings/guarded/versions/1.0.0`, { headers: { Cookie: cookie(outsider) } })
    expect(versionStatus.status).toBe(404)

    // Nothing was written by any of them.
    expect((await listingRow(owner.team, 'stolen')).rows).toHaveLength(0)
    const rows = await offersOf('guarded')
    expect(rows.map((row) => [row.kind, row.active])).toEqual([['free', true]])
    const versions = await h.call('GET', `/v1/adapters/${owner.team}/guarded/versions`, { auth: owner.token })
    expect(versions.json.items).toEqual([])
  })

  it('adds offers, withdraws and restores them (owners and admins only), and refuses a price on a free offer', async () => {
    await createListing(h, owner, 'offered')
    const base = `/teams/${owner.team}/listings/offered`
    const added = await h.app.request(`${base}/offers`, formPost({ kind: 'free', license: 'research', price: '', currency: 'usd' }, cookie(member)))
    expect(added.status).toBe(303)
    const [offer] = await offersOf('offered')
    expect(offer).toMatchObject({ kind: 'free', license: 'research', active: true, amount: null })
    const duplicate = await h.app.request(`${base}/offers`, formPost({ kind: 'free', license: 'research' }, cookie(owner)))
    expect(duplicate.status).toBe(409)
    const unpriced = await h.app.request(`${base}/offers`, formPost({ kind: 'one_time', license: 'commercial', price: 'lots', currency: 'usd' }, cookie(owner)))
    expect(unpriced.status).toBe(422)

    // A plain member sees the offers but not the buttons, and the verb refuses the post.
    const memberPage = await (await h.app.request(base, { headers: { Cookie: cookie(member) } })).text()
    expect(memberPage).toContain('Team owners and admins change prices and withdraw offers.')
    expect(memberPage).not.toContain(`action="${base}/offers/${offer?.id}"`)
    const refused = await h.app.request(`${base}/offers/${offer?.id}`, formPost({ change: 'withdraw' }, cookie(member)))
    expect(refused.status).toBe(403)
    expect(await refused.text()).toContain('does not allow you to change offers')
    expect((await offersOf('offered'))[0]?.active).toBe(true)

    const ownerPage = await (await h.app.request(base, { headers: { Cookie: cookie(owner) } })).text()
    expect(ownerPage).toContain(`action="${base}/offers/${offer?.id}"`)
    const withdrawn = await h.app.request(`${base}/offers/${offer?.id}`, formPost({ change: 'withdraw' }, cookie(owner)))
    expect(withdrawn.status).toBe(303)
    expect(withdrawn.headers.get('Location')).toBe(`${base}?done=offer-updated#offers-heading`)
    expect((await offersOf('offered'))[0]?.active).toBe(false)
    expect(await (await h.app.request(`${base}?done=offer-updated`, { headers: { Cookie: cookie(owner) } })).text()).toContain('Put back on sale')
    expect((await h.app.request(`${base}/offers/${offer?.id}`, formPost({ change: 'restore' }, cookie(owner)))).status).toBe(303)
    expect((await offersOf('offered'))[0]?.active).toBe(true)

    const priced = await h.app.request(`${base}/offers/${offer?.id}`, formPost({ change: 'price', price: '49.00', currency: 'usd' }, cookie(owner)))
    expect(priced.status).toBe(422)
    expect(await priced.text()).toContain('has no price')
    expect((await h.app.request(`${base}/offers/not-a-uuid`, formPost({ change: 'withdraw' }, cookie(owner)))).status).toBe(404)
    expect((await h.app.request(`${base}/offers/${crypto.randomUUID()}`, formPost({ change: 'withdraw' }, cookie(owner)))).status).toBe(404)
  })

  it("creates, uploads, completes and publishes a version through the script's calls; without the script the form says what to do", async () => {
    await createListing(h, owner, 'uploaded', { visibility: 'published' })
    const base = `/teams/${owner.team}/listings/uploaded`
    const noScript = await h.app.request(`${base}/versions`, {
      method: 'POST',
      headers: { 'Content-Type': 'multipart/form-data; boundary=x', Origin: ORIGIN, Cookie: cookie(owner) },
      body: '--x\r\nContent-Disposition: form-data; name="version"\r\n\r\n1.0.0\r\n--x--\r\n',
    })
    expect(noScript.status).toBe(422)
    expect(noScript.headers.get('Content-Type')).toContain('text/html')
    expect(await noScript.text()).toContain('refinery publish ./my-adapter --adapter')

    const invalid = await h.app.request(`${base}/versions`, scriptPost({ version: 'one', baseModel: 'meta-llama/Llama-2-7b-hf', files: [] }, cookie(owner)))
    expect(invalid.status).toBe(422)
    expect((await invalid.json()).detail).toMatch(/version: .*files: /)
    const nul = await h.app.request(`${base}/versions`, scriptPost({ version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', changelog: 'a\u0000b', files: declare(files) }, cookie(owner)))
    expect(nul.status).toBe(422)
    const broken = await h.app.request(`${base}/versions`, { ...scriptPost({}, cookie(owner)), body: '{"version": ' })
    expect(broken.status).toBe(400)

    // What /static/upload.js does: create, PUT each file to its signed URL, complete, poll, publish.
    const created = await h.app.request(`${base}/versions`, scriptPost({ version: '1.0.0', baseModel: 'meta-llama/Llama-2-7b-hf', changelog: 'From the browser', files: declare(files) }, cookie(member)))
    expect(created.status).toBe(201)
    const { uploads } = (await created.json()) as { uploads: { path: string; kind: string; url: string; headers: Record<string, string> }[] }
    for (const upload of uploads) {
      expect(upload.kind).toBe('single')
      const file = files.find((candidate) => candidate.path === upload.path)
      expect((await h.put(upload.url, upload.headers, file?.bytes ?? new Uint8Array())).ok).toBe(true)
    }
    const completed = await h.app.request(`${base}/versions/1.0.0/complete`, scriptPost({ parts: {} }, cookie(member)))
    expect(completed.status).toBe(200)
    expect((await completed.json()).status).toBe('validating')
    await h.idle()
    const status = await h.app.request(`${base}/versions/1.0.0`, { headers: { Cookie: cookie(member), Accept: 'application/json' } })
    expect(await status.json()).toMatchObject({ version: '1.0.0', status: 'ready' })

    const page = await (await h.app.request(`${base}?uploaded=1.0.0`, { headers: { Cookie: cookie(member) } })).text()
    expect(page).toContain('Version uploaded and validated')
    expect(page).toContain('<tr data-version="1.0.0" data-status="ready">')
    const published = await h.app.request(`${base}/versions/1.0.0/publish`, formPost({}, cookie(member)))
    expect(published.status).toBe(303)
    const version = await h.call('GET', `/v1/adapters/${owner.team}/uploaded/versions/1.0.0`)
    expect(version.json).toMatchObject({ status: 'published', changelog: 'From the browser' })

    // The outsider cannot publish or complete it.
    expect((await h.app.request(`${base}/versions/1.0.0/publish`, formPost({}, cookie(outsider)))).status).toBe(403)
    expect((await h.app.request(`${base}/versions/1.0.0/complete`, scriptPost({ parts: {} }, cookie(outsider)))).status).toBe(403)
    const [row] = await h.db.select().from(adapters).where(and(eq(adapters.slug, 'uploaded')))
    expect(row?.latestVersion).toBe('1.0.0')
  })
})
