import { Hono } from 'hono'
import { z } from 'zod'
import { getAdapter, listTeamAdapters } from '../../catalog'
import { decideAccessRequest, listAccessRequests } from '../../commerce'
import { listEntitlements } from '../../commerce'
import { getSalesReport } from '../../downloads'
import { SalesQuerySchema } from '../../commerce'
import { getMe } from '../../identity'
import { decideInvitation, listMyInvitations } from '../../identity'
import { SlugSchema } from '../../identity'
import type { AppEnv, ServiceContext } from '../../lib/context'
import { ApiError, notFound } from '../../lib/errors'
import { listFingerprintMatches } from '../../publishing'
import { getVersion } from '../../publishing'
import { formPost, page, signedIn, webContext } from '../common'
import { BuyerPage, type Downloadable } from '../pages/buyer'
import { COPY_ATTEMPTS_SHOWN } from '../pages/copy-attempts'
import { TeamPage } from '../pages/seller'

const DAY_MS = 86_400_000
/** The sales chart draws a bar per day; a year is as many as stay readable. */
const MAX_PERIOD_DAYS = 366
const ADAPTER_REF = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\/[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/
const DECISIONS = { approve: 'approved', reject: 'rejected' } as const
const DecisionFormSchema = z.object({ note: z.string().trim().max(2000).optional() })

/** What each adapter the caller holds a live licence for offers now: the files of its latest published version. */
async function latestFiles(ctx: ServiceContext, adapters: string[]) {
  const downloads = new Map<string, Downloadable>()
  for (const ref of new Set(adapters)) {
    const [team = '', slug = ''] = ref.split('/')
    try {
      const adapter = await getAdapter(ctx, team, slug)
      if (adapter.visibility === 'archived') downloads.set(ref, { kind: 'none', reason: 'The seller withdrew this adapter; its files are no longer served.' })
      else if (!adapter.latestVersion) downloads.set(ref, { kind: 'none', reason: 'No version is published yet.' })
      else {
        const version = await getVersion(ctx, team, slug, adapter.latestVersion)
        downloads.set(ref, { kind: 'files', version: version.version, files: version.files })
      }
    } catch (error) {
      // A listing taken back to draft is hidden from buyers; the rest of the page still works.
      if (!(error instanceof ApiError) || error.status !== 404) throw error
      downloads.set(ref, { kind: 'none', reason: 'This adapter is not available right now.' })
    }
  }
  return downloads
}

/** The report's period: `from`/`to` from the query when valid (30 days up to `to` by default), else the last 30 days (UTC) up to today. */
function salesPeriod(query: Record<string, string>, now: Date) {
  const monthTo = (to: string) => ({ from: new Date(Date.parse(`${to}T00:00:00Z`) - 29 * DAY_MS).toISOString().slice(0, 10), to })
  const fallback = monthTo(now.toISOString().slice(0, 10))
  if (!query.from && !query.to) return { period: fallback, error: undefined }
  const parsed = SalesQuerySchema.safeParse({ to: query.to || fallback.to, ...(query.from && { from: query.from }) })
  const period = parsed.success ? { ...monthTo(parsed.data.to ?? fallback.to), ...(parsed.data.from && { from: parsed.data.from }) } : fallback
  const days = (Date.parse(period.to) - Date.parse(period.from)) / DAY_MS + 1
  if (!parsed.success || days < 1 || days > MAX_PERIOD_DAYS) {
    return { period: fallback, error: `Choose a period of 1 to ${MAX_PERIOD_DAYS} days (YYYY-MM-DD, first day before last); showing the last 30 days.` }
  }
  return { period, error: undefined }
}

/** `/me` (the buyer's licences and downloads) and `/teams/{team}` (the seller's listings, requests and sales). */
export const dashboardRoutes = new Hono<AppEnv>()
  .get('/me', async (c) => {
    const { ctx, principal, redirect } = await signedIn(c)
    if (redirect) return redirect
    const [me, { items }, invitations] = await Promise.all([getMe(ctx), listEntitlements(ctx), listMyInvitations(ctx)])
    const downloads = await latestFiles(
      ctx,
      items.filter((entitlement) => !entitlement.revokedAt).map((entitlement) => entitlement.adapter),
    )
    const { claimed, joined, declined } = c.req.query()
    const notice =
      claimed && ADAPTER_REF.test(claimed)
        ? `You now hold a licence for ${claimed}.`
        : joined && SlugSchema.safeParse(joined).success
          ? `You joined the team ${joined}.`
          : declined !== undefined
            ? 'Invitation declined.'
            : undefined
    return page(c, <BuyerPage principal={principal} me={me} entitlements={items} downloads={downloads} invitations={invitations.items} notice={notice} />)
  })
  .post('/me/invitations/:id/:decision', ...formPost, async (c) => {
    const ctx = await webContext(c)
    const { id, decision } = c.req.param()
    if (!(decision === 'accept' || decision === 'decline') || !z.uuid().safeParse(id).success) throw notFound('The invitation')
    if (!ctx.principal) return c.redirect('/login?next=%2Fme', 303)
    const invitation = await decideInvitation(ctx, id, decision === 'accept' ? 'accepted' : 'declined')
    return c.redirect(decision === 'accept' ? `/me?joined=${invitation.team}` : '/me?declined', 303)
  })
  .get('/teams/:team', async (c) => {
    const { ctx, principal, redirect } = await signedIn(c)
    if (redirect) return redirect
    const slug = c.req.param('team')
    const { period, error } = salesPeriod(c.req.query(), ctx.clock())
    // listAccessRequests and getSalesReport answer 404 for an unknown team and 403 for non-members.
    const [requests, sales, listings, me, attempts] = await Promise.all([
      listAccessRequests(ctx, slug, { status: 'pending' }),
      getSalesReport(ctx, slug, period),
      listTeamAdapters(ctx, slug),
      getMe(ctx),
      listFingerprintMatches(ctx, slug, { limit: COPY_ATTEMPTS_SHOWN }),
    ])
    const team = me.teams.find((membership) => membership.slug === slug) ?? { slug, name: slug, role: 'member' }
    const decided = c.req.query('decided')
    const notice = error
      ? { text: error, error: true }
      : decided === 'approved'
        ? { text: 'Request approved: the requester now holds the licence.' }
        : decided === 'rejected'
          ? { text: 'Request rejected.' }
          : undefined
    const copyAttempts = { team: slug, attempts: attempts.items, more: attempts.nextCursor !== null }
    return page(
      c,
      <TeamPage principal={principal} team={team} listings={listings.items} requests={requests.items} sales={sales} period={period} notice={notice} copyAttempts={copyAttempts} />,
    )
  })
  .post('/teams/:team/access-requests/:id/:decision', ...formPost, async (c) => {
    const ctx = await webContext(c)
    const { team, id, decision } = c.req.param()
    if (!SlugSchema.safeParse(team).success || !(decision === 'approve' || decision === 'reject') || !z.uuid().safeParse(id).success) {
      throw notFound('The access request')
    }
    if (!ctx.principal) return c.redirect(`/login?next=${encodeURIComponent(`/teams/${team}`)}`, 303)
    const form = DecisionFormSchema.safeParse(await c.req.parseBody())
    if (!form.success) throw new ApiError('validation_failed', 'Keep the note under 2,000 characters.')
    await decideAccessRequest(ctx, id, DECISIONS[decision], form.data.note || undefined)
    return c.redirect(`/teams/${team}?decided=${DECISIONS[decision]}`, 303)
  })
