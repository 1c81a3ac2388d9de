import { type Context, Hono } from 'hono'
import { createMiddleware } from 'hono/factory'
import { z } from 'zod'
import { createAdapter, loadAdapter, toAdapterView } from '../../catalog'
import { CompleteVersionSchema, CreateVersionSchema, SemverSchema } from '../../publishing'
import { CreateAdapterSchema } from '../../catalog'
import { createOffer, offersOf, updateOffer } from '../../commerce'
import { CreateOfferSchema, UpdateOfferSchema } from '../../commerce'
import { listRegistry } from '../../registry'
import { SlugSchema } from '../../identity'
import { loadTeamAs } from '../../identity'
import type { AppEnv } from '../../lib/context'
import { ApiError, notFound } from '../../lib/errors'
import { parseMajorUnits } from '../../lib/format'
import { unstorablePath } from '../../lib/openapi'
import { completeVersion, createVersion, getVersion, publishVersion, versionsOf } from '../../publishing'
import { errorPage, formPost, page, scriptAnswer, scriptPost, signedIn, webContext } from '../common'
import { ListingManagePage, managePath } from '../pages/listing-forms'
import { UPLOAD_SCRIPT } from '../upload-script'

type Schema<T> = { safeParse(value: unknown): { success: true; data: T } | { success: false; error: z.ZodError } }

/** A form's or script's input through the API's own schema: 422 naming every failing field, and text Postgres could not store refused. */
function parse<T>(schema: Schema<T>, input: unknown): T {
  const result = schema.safeParse(input)
  if (!result.success) {
    const fields = [...new Set(result.error.issues.map((issue) => `${issue.path.join('.') || 'form'}: ${issue.message}`))].join('; ')
    throw new ApiError('validation_failed', `Check these fields: ${fields}.`)
  }
  const refused = unstorablePath(result.data)
  if (refused) throw new ApiError('validation_failed', `The field ${refused.path} ${refused.message}.`)
  return result.data
}

const field = (value: unknown) => (typeof value === 'string' ? value.trim() : '')

/** The team and listing in the path, shaped like slugs (else 404, as for any unknown page). */
function listingParams(c: Context<AppEnv>) {
  const team = c.req.param('team') ?? ''
  const slug = c.req.param('slug') ?? ''
  if (!SlugSchema.safeParse(team).success || (slug !== '' && !SlugSchema.safeParse(slug).success)) throw notFound(`The page ${new URL(c.req.url).pathname}`)
  return { team, slug }
}

/** The version in the path, shaped like a semantic version (else 404). */
function versionParam(c: Context<AppEnv>) {
  const version = c.req.param('version') ?? ''
  if (!SemverSchema.safeParse(version).success) throw notFound(`The version ${version}`)
  return version
}

/** A form post needs a session; without one, sign in and come back to where the form was. */
async function formCaller(c: Context<AppEnv>, back: string) {
  const ctx = await webContext(c)
  return { ctx, redirect: ctx.principal ? undefined : c.redirect(`/login?next=${encodeURIComponent(back)}`, 303) }
}

/** The upload script's calls need a session too; it is told so as a problem it can show. */
async function scriptCaller(c: Context<AppEnv>) {
  const ctx = await webContext(c)
  if (!ctx.principal) throw new ApiError('unauthenticated', 'Your session has ended: sign in again, then upload.')
  return ctx
}

/**
 * The version form posted without the script (JavaScript off): files go to signed storage URLs,
 * never through this form, so the answer says how to publish instead, before any body is read.
 */
const uploadNeedsScript = createMiddleware<AppEnv>(async (c, next) => {
  if ((c.req.header('Content-Type') ?? '').startsWith('application/json')) return next()
  const { team, slug } = listingParams(c)
  return errorPage(
    c,
    422,
    'Uploading needs JavaScript',
    `Uploading a version from the browser needs JavaScript. Publish from the PEFT folder instead: refinery publish ./my-adapter --adapter ${team}/${slug} --version 1.0.0`,
  )
})

const NOTICES: Record<string, string> = {
  created: 'Listing created. Upload its first version and add an offer below.',
  uploaded: 'Version uploaded and validated: see its status below.',
  published: 'Version published: buyers see it now.',
  'offer-created': 'Offer added.',
  'offer-updated': 'Offer updated.',
}

/**
 * The seller's forms: `POST /teams/{team}/listings` (createAdapter), `/teams/{team}/listings/{slug}`
 * (versions and offers), its offer posts (createOffer, updateOffer), and the JSON calls of the
 * upload script (createVersion, completeVersion, the version's status). Every one calls the API's
 * verb as the signed-in user: the verb checks the team, the membership and the role.
 */
export const listingRoutes = new Hono<AppEnv>()
  .get('/static/upload.js', (c) =>
    c.body(UPLOAD_SCRIPT, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=3600', 'X-Content-Type-Options': 'nosniff' }),
  )
  .post('/teams/:team/listings', ...formPost, async (c) => {
    const { team } = listingParams(c)
    const { ctx, redirect } = await formCaller(c, `/teams/${team}`)
    if (redirect) return redirect
    const form = await c.req.parseBody()
    const tags = field(form.tags)
      .split(',')
      .map((tag) => tag.trim().toLowerCase())
      .filter(Boolean)
    const input = parse(CreateAdapterSchema, {
      team,
      slug: field(form.slug),
      title: field(form.title),
      summary: field(form.summary),
      description: typeof form.description === 'string' ? form.description : '',
      tags: { task: tags },
      license: { spdx: field(form.license) || undefined, commercialUse: form.commercialUse === 'true', derivatives: form.derivatives === 'true' },
      visibility: field(form.visibility) || 'draft',
    })
    const adapter = await createAdapter(ctx, input)
    return c.redirect(`${managePath(team, adapter.slug)}?done=created`, 303)
  })
  .get('/teams/:team/listings/:slug', async (c) => {
    const { team, slug } = listingParams(c)
    const { ctx, principal, redirect } = await signedIn(c)
    if (redirect) return redirect
    // The seller's view: members only (403 for anyone else, 404 for an unknown listing).
    const loaded = await loadAdapter(ctx, team, slug, 'write')
    const [{ role }, versions, offers, registry] = await Promise.all([
      loadTeamAs(ctx.db, principal, team),
      // The listing loaded above, not resolved again by each verb.
      versionsOf(ctx, loaded),
      offersOf(ctx, loaded),
      listRegistry(ctx.db),
    ])
    const done = c.req.query('done') ?? (c.req.query('uploaded') ? 'uploaded' : undefined)
    const notice = done && NOTICES[done] ? { text: NOTICES[done] } : undefined
    return page(
      c,
      <ListingManagePage
        principal={principal}
        team={{ slug: loaded.team.slug, name: loaded.team.name, role }}
        adapter={toAdapterView(loaded.adapter, loaded.team.slug)}
        versions={versions.items}
        offers={offers.items}
        bases={registry.map((base) => base.id).sort()}
        notice={notice}
      />,
      200,
      { script: true },
    )
  })
  .post('/teams/:team/listings/:slug/offers', ...formPost, async (c) => {
    const { team, slug } = listingParams(c)
    const { ctx, redirect } = await formCaller(c, managePath(team, slug))
    if (redirect) return redirect
    const form = await c.req.parseBody()
    const kind = field(form.kind)
    const priced = kind === 'one_time'
    const amount = priced ? parseMajorUnits(field(form.price)) : undefined
    if (priced && amount === undefined) throw new ApiError('validation_failed', 'Give the price in the form 49.00 (at most two decimals).')
    const input = parse(CreateOfferSchema, { kind, license: field(form.license), ...(priced && { amount, currency: field(form.currency) }) })
    await createOffer(ctx, team, slug, input)
    return c.redirect(`${managePath(team, slug)}?done=offer-created#offers-heading`, 303)
  })
  .post('/teams/:team/listings/:slug/offers/:offerId', ...formPost, async (c) => {
    const { team, slug } = listingParams(c)
    const offerId = c.req.param('offerId')
    if (!z.uuid().safeParse(offerId).success) throw notFound('The offer')
    const { ctx, redirect } = await formCaller(c, managePath(team, slug))
    if (redirect) return redirect
    const form = await c.req.parseBody()
    const change = field(form.change)
    let patch: z.infer<typeof UpdateOfferSchema>
    if (change === 'withdraw' || change === 'restore') patch = { active: change === 'restore' }
    else if (change === 'price') {
      const amount = parseMajorUnits(field(form.price))
      if (amount === undefined) throw new ApiError('validation_failed', 'Give the price in the form 49.00 (at most two decimals).')
      patch = parse(UpdateOfferSchema, { amount, currency: field(form.currency) })
    } else throw new ApiError('validation_failed', 'Choose to change the price, withdraw the offer or put it back on sale.')
    await updateOffer(ctx, team, slug, offerId, patch)
    return c.redirect(`${managePath(team, slug)}?done=offer-updated#offers-heading`, 303)
  })
  .post('/teams/:team/listings/:slug/versions/:version/publish', ...formPost, async (c) => {
    const { team, slug } = listingParams(c)
    const version = versionParam(c)
    const { ctx, redirect } = await formCaller(c, managePath(team, slug))
    if (redirect) return redirect
    await publishVersion(ctx, team, slug, version)
    return c.redirect(`${managePath(team, slug)}?done=published#versions-heading`, 303)
  })
  // The upload script's calls: JSON in, JSON (or problem+json) out.
  .post('/teams/:team/listings/:slug/versions', uploadNeedsScript, ...scriptPost, async (c) => {
    const { team, slug } = listingParams(c)
    return scriptAnswer(c, async () => {
      const ctx = await scriptCaller(c)
      const input = parse(CreateVersionSchema, await jsonBody(c))
      return { status: 201, body: await createVersion(ctx, team, slug, input) }
    })
  })
  .post('/teams/:team/listings/:slug/versions/:version/complete', ...scriptPost, async (c) => {
    const { team, slug } = listingParams(c)
    const version = versionParam(c)
    return scriptAnswer(c, async () => {
      const ctx = await scriptCaller(c)
      const input = parse(CompleteVersionSchema, await jsonBody(c))
      return { status: 200, body: await completeVersion(ctx, team, slug, version, input) }
    })
  })
  .get('/teams/:team/listings/:slug/versions/:version', async (c) => {
    const { team, slug } = listingParams(c)
    const version = versionParam(c)
    return scriptAnswer(c, async () => {
      const ctx = await scriptCaller(c)
      const { status, findings } = await getVersion(ctx, team, slug, version)
      return { status: 200, body: { version, status, findings } }
    })
  })

async function jsonBody(c: Context<AppEnv>): Promise<unknown> {
  try {
    return await c.req.json()
  } catch {
    throw new ApiError('invalid_json', 'The request body is not valid JSON.')
  }
}
