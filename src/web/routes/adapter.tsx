import { type Context, Hono } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import { loadAdapter, toAdapterView } from '../../catalog'
import { reviewsOf } from '../../commerce'
import { checkout } from '../../commerce'
import { findLiveEntitlement } from '../../commerce'
import { listOffers, offersOf } from '../../commerce'
import { CheckoutSchema } from '../../commerce'
import { checkCompatibility } from '../../compat-api'
import { listRegistry } from '../../registry'
import { CheckCompatibilitySchema } from '../../compat-api'
import { downloadFile } from '../../downloads'
import { RESERVED_SLUGS } from '../../identity'
import { downloadClientOf, linkHeaders } from '../../downloads'
import type { AppEnv } from '../../lib/context'
import { ApiError, notFound } from '../../lib/errors'
import { versionCompatibilityOf, versionsOf } from '../../publishing'
import { formPost, page, signedIn, webContext } from '../common'
import { AdapterPage, type AdapterPageProps, type CheckState, listingPath } from '../pages/adapter'

type WebContext = Awaited<ReturnType<typeof webContext>>
type Extra = Pick<AdapterPageProps, 'check' | 'request' | 'notice' | 'base'>

/** The base model the buyer last checked on any adapter page: the page opens on its verdict. */
const BASE_COOKIE = 'refinery_base'
const YEAR_SECONDS = 365 * 24 * 60 * 60

/** The base the buyer runs: `?base=` (kept from a search), else their last check. Checked against the registry later. */
const wantedBase = (c: Context<AppEnv>) => c.req.query('base') || getCookie(c, BASE_COOKIE) || undefined

function rememberBase(c: Context<AppEnv>, base: string) {
  setCookie(c, BASE_COOKIE, base, { path: '/', sameSite: 'Lax', httpOnly: true, maxAge: YEAR_SECONDS, secure: c.get('deps').publicUrl.startsWith('https:') })
}

function listingParams(c: Context<AppEnv>) {
  const team = c.req.param('team') ?? ''
  if (RESERVED_SLUGS.has(team)) throw notFound(`The page ${new URL(c.req.url).pathname}`)
  return { team, slug: c.req.param('slug') ?? '' }
}

const field = (value: unknown) => (typeof value === 'string' ? value : '')

/**
 * Everything the adapter page shows, through the same verbs as the API and as the caller sees it.
 * The listing is resolved (and access-checked) once and the verified registry read once: the
 * verbs take them, already loaded. The default version is the listing's latest; the seller team
 * sees its newest, published or not.
 */
async function adapterPage(ctx: WebContext, team: string, slug: string, requested: string | undefined, extra: Extra = {}) {
  const listing = await loadAdapter(ctx, team, slug, 'read')
  const { adapter: row, team: teamRow, isMember } = listing
  // Awaited by Promise.all below whatever else fails, so it never rejects unhandled.
  const registryRead = listRegistry(ctx.db)
  const [versions, offers, reviews, registry, entitlement] = await Promise.all([
    versionsOf(ctx, listing, registryRead),
    offersOf(ctx, listing),
    reviewsOf(ctx, listing, { limit: 20 }),
    registryRead,
    ctx.principal ? findLiveEntitlement(ctx.db, ctx.principal, row.id) : undefined,
  ])
  const wanted = requested ?? (isMember ? versions.items[0]?.version : (row.latestVersion ?? undefined))
  const selected = wanted === undefined ? undefined : versions.items.find((version) => version.version === wanted)
  if (requested !== undefined && !selected) throw notFound(`Version ${requested} of '${team}/${slug}'`)
  // `selected` is one of the versions this caller may see (versionsOf listed it for them).
  const compatibility = selected ? (await versionCompatibilityOf(ctx, selected, isMember, registry)).items : null
  const bases = registry.map((base) => base.id).sort()
  // Only a registered base is ever named on the page: anything else in the query or cookie is ignored.
  const base = extra.base !== undefined && bases.includes(extra.base) ? extra.base : undefined
  return (
    <AdapterPage
      principal={ctx.principal}
      adapter={toAdapterView(row, teamRow.slug)}
      isMember={isMember}
      entitled={Boolean(entitlement)}
      versions={versions.items}
      selected={selected}
      compatibility={compatibility}
      offers={offers.items}
      reviews={reviews.items}
      bases={bases}
      hubEndpoint={`${ctx.publicUrl}/hf`}
      {...extra}
      base={base}
    />
  )
}

/** Every ApiError is a message meant for the caller (a form's mistake, payments off: 503): shown on the page. */
const shownOnPage = (error: unknown): error is ApiError => error instanceof ApiError

/** A pasted config.json read as one JSON object, or why not. */
function parseConfig(text: string): { config: Record<string, unknown> } | { error: string } {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return { error: `That config.json is not valid JSON (${error instanceof Error ? error.message : 'unreadable'}).` }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { error: 'A config.json is one JSON object, such as {"model_type": "llama", "hidden_size": 4096, …}.' }
  }
  return { config: parsed as Record<string, unknown> }
}

/** How the check names a pasted config: by the model it says it is, when it says so. */
function configLabel(config: Record<string, unknown>) {
  const name = config._name_or_path
  return typeof name === 'string' && name.trim() !== '' ? `the pasted config.json (${name.trim()})` : 'the pasted config.json'
}

/**
 * `/{team}/{slug}`: the adapter page; posts to check a base model and to get the adapter through
 * one of its offers; file links that redirect to a signed URL. Mounted last: `/:team/:slug` would
 * otherwise shadow other two-segment pages.
 */
export const adapterRoutes = new Hono<AppEnv>()
  .get('/:team/:slug', async (c) => {
    const { team, slug } = listingParams(c)
    const ctx = await webContext(c, 'public')
    const notice = c.req.query('requested')
      ? { text: 'Access requested: the seller will decide on your request. Once granted, the adapter is under My adapters.' }
      : undefined
    return page(c, await adapterPage(ctx, team, slug, c.req.query('version') || undefined, { notice, base: wantedBase(c) }))
  })
  .post('/:team/:slug/check', ...formPost, async (c) => {
    const { team, slug } = listingParams(c)
    const ctx = await webContext(c)
    const form = await c.req.parseBody()
    const version = field(form.version)
    const check: CheckState = { base: field(form.base), config: field(form.config).trim() }
    const render = async (status: 200 | ApiError['status'], notice?: string) =>
      page(c, await adapterPage(ctx, team, slug, version || undefined, { check, base: check.base || wantedBase(c), notice: notice ? { text: notice, error: true } : undefined }), status)

    let base: string | { config: Record<string, unknown> }
    let label: string
    if (check.config !== '') {
      const parsed = parseConfig(check.config)
      if ('error' in parsed) return render(422, parsed.error)
      base = parsed
      label = configLabel(parsed.config)
    } else if (check.base !== '') {
      base = check.base
      label = check.base
    } else {
      return render(422, 'Pick a base model from the list or paste its config.json.')
    }
    const input = CheckCompatibilitySchema.safeParse({ base, adapter: { version: `${team}/${slug}@${version}` } })
    if (!input.success) return render(422, 'Pick a base model from the list and a version of this adapter.')
    try {
      check.result = { label, report: await checkCompatibility(ctx, input.data) }
      if (typeof base === 'string') rememberBase(c, check.result.report.base)
      return render(200)
    } catch (error) {
      if (!shownOnPage(error)) throw error
      return render(error.status, error.message)
    }
  })
  .post('/:team/:slug/buy', ...formPost, async (c) => {
    const { team, slug } = listingParams(c)
    const path = listingPath({ team, slug })
    const ctx = await webContext(c)
    // Back to the listing after signing in, not to this form's address (there is no GET for it).
    if (!ctx.principal) return c.redirect(`/login?next=${path}`, 303)
    const form = await c.req.parseBody()
    const offerId = field(form.offerId)
    const message = field(form.message).trim()
    const failed = async (status: ApiError['status'], text: string) =>
      page(c, await adapterPage(ctx, team, slug, undefined, { request: { offerId, message }, base: wantedBase(c), notice: { text, error: true } }), status)

    const input = CheckoutSchema.safeParse({ offerId, ...(message !== '' && { message }) })
    if (!input.success) {
      const aboutMessage = input.error.issues.some((issue) => issue.path[0] === 'message')
      return failed(422, aboutMessage ? 'Say who you are and what you will use the adapter for, in 10 characters or more.' : 'Choose one of the offers on this page.')
    }
    // An offer id from another listing would buy that listing from this page.
    const offers = await listOffers(ctx, team, slug)
    if (!offers.items.some((offer) => offer.id === input.data.offerId && offer.active)) return failed(404, 'That offer is not available on this listing any more.')
    try {
      const { body } = await checkout(ctx, input.data)
      if ('checkoutUrl' in body && body.checkoutUrl) return c.redirect(body.checkoutUrl, 303)
      if ('accessRequest' in body) return c.redirect(`${path}?requested=1`, 303)
      return c.redirect(`/me?claimed=${path.slice(1)}`, 303)
    } catch (error) {
      if (!shownOnPage(error)) throw error
      return failed(error.status, error.message)
    }
  })
  .get('/:team/:slug/versions/:version/files/:path', async (c) => {
    const { team, slug } = listingParams(c)
    const { ctx, redirect } = await signedIn(c)
    if (redirect) return redirect
    const link = await downloadFile(ctx, { team, slug, version: c.req.param('version'), path: c.req.param('path') }, downloadClientOf(c))
    return c.body(null, 302, { ...linkHeaders(link), Location: link.url })
  })
