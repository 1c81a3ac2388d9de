import type { listTeamAdapters } from '../../catalog'
import type { listAccessRequests } from '../../commerce'
import type { getSalesReport } from '../../downloads'
import type { Principal } from '../../identity'
import { formatPrice } from '../../lib/format'
import { Layout } from '../layout'
import { managePath, NewListingForm } from './listing-forms'
import { CopyAttempts } from './copy-attempts'

type Listing = Awaited<ReturnType<typeof listTeamAdapters>>['items'][number]
type AccessRequest = Awaited<ReturnType<typeof listAccessRequests>>['items'][number]
type SalesReport = Awaited<ReturnType<typeof getSalesReport>>

export type TeamPageProps = {
  principal: Principal
  team: { slug: string; name: string; role: string }
  listings: Listing[]
  requests: AccessRequest[]
  sales: SalesReport
  period: { from: string; to: string }
  notice?: { text: string; error?: boolean } | undefined
  copyAttempts?: Parameters<typeof CopyAttempts>[0] | undefined
}

type Day = { day: string; orders: number; gross: { currency: string; amount: number }[]; downloads: number }

const DAY_MS = 86_400_000

/** One entry per day of the period (days without sales or downloads included), from the report's sparse rows. */
export function dailySeries(sales: SalesReport, period: { from: string; to: string }): Day[] {
  const days: Day[] = []
  for (let time = Date.parse(`${period.from}T00:00:00Z`); time <= Date.parse(`${period.to}T00:00:00Z`); time += DAY_MS) {
    const day = new Date(time).toISOString().slice(0, 10)
    const sold = sales.byDay.filter((row) => row.day === day)
    days.push({
      day,
      orders: sold.reduce((sum, row) => sum + row.orders, 0),
      gross: sold.map((row) => ({ currency: row.currency, amount: row.gross })),
      downloads: sales.downloadsByDay.find((row) => row.day === day)?.downloads ?? 0,
    })
  }
  return days
}

/** `/teams/{team}`: the team's listings, the access requests waiting for a decision, and what it sold. */
export function TeamPage({ principal, team, listings, requests, sales, period, notice, copyAttempts }: TeamPageProps) {
  const days = dailySeries(sales, period)
  return (
    <Layout title={team.name} principal={principal} notice={notice}>
      <h1>{team.name}</h1>
      <p class="muted">
        {team.slug} · your role: {team.role}
      </p>

      <h2 id="listings">Listings</h2>
      <NewListingForm team={team.slug} />
      {listings.length === 0 ? (
        <p class="card">
          No listings yet. Create one above, with <code>refinery adapter create</code> or with <code>POST /v1/adapters</code>.
        </p>
      ) : (
        <table aria-labelledby="listings">
          <thead>
            <tr>
              <th scope="col">Listing</th>
              <th scope="col">Visibility</th>
              <th scope="col">Latest version</th>
              <th scope="col">Downloads</th>
              <th scope="col">Versions and offers</th>
            </tr>
          </thead>
          <tbody>
            {listings.map((listing) => (
              <tr>
                <td>
                  <a href={`/${listing.team}/${listing.slug}`}>{listing.title}</a>
                  <div class="muted mono">
                    {listing.team}/{listing.slug}
                  </div>
                </td>
                <td>
                  <span class={listing.visibility === 'published' ? 'badge yes' : 'badge'}>{listing.visibility}</span>
                </td>
                <td>{listing.latestVersion ?? <span class="muted">none published</span>}</td>
                <td>{listing.downloads}</td>
                <td>
                  <a href={managePath(listing.team, listing.slug)}>
                    Manage<span class="sr-only"> {listing.title}</span>
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>Access requests waiting for you</h2>
      {requests.length === 0 && <p class="card">No pending requests.</p>}
      {requests.map((request) => (
        <AccessRequestCard team={team.slug} request={request} />
      ))}

      {copyAttempts && <CopyAttempts {...copyAttempts} />}

      <h2 id="sales">
        Sales and downloads, {period.from} to {period.to}
      </h2>
      <form class="period" method="get" action={`/teams/${team.slug}`} aria-label="Report period">
        <label for="from">From</label> <input id="from" name="from" type="date" value={period.from} /> <label for="to">to</label>{' '}
        <input id="to" name="to" type="date" value={period.to} />{' '}
        <button class="secondary" type="submit">
          Show
        </button>
      </form>
      <SalesChart days={days} period={period} />
      <DailyTable days={days} />
      <h3>Revenue</h3>
      {sales.totals.length === 0 ? (
        <p class="muted">No paid orders in this period.</p>
      ) : (
        <table class="revenue">
          <thead>
            <tr>
              <th scope="col">Currency</th>
              <th scope="col">Orders</th>
              <th scope="col">Gross</th>
              <th scope="col">Platform fees</th>
              <th scope="col">Refunds</th>
              <th scope="col">Net</th>
            </tr>
          </thead>
          <tbody>
            {sales.totals.map((total) => (
              <tr>
                <th scope="row">{total.currency.toUpperCase()}</th>
                <td>{total.orders}</td>
                <td>{formatPrice(total.gross, total.currency)}</td>
                <td>{formatPrice(total.fees, total.currency)}</td>
                <td>{formatPrice(total.refunds, total.currency)}</td>
                <td>{formatPrice(total.net, total.currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="muted">
        Licences granted so far: {sales.entitlements.free} free, {sales.entitlements.accessRequests} on request, {sales.entitlements.orders} paid.
      </p>
    </Layout>
  )
}

function AccessRequestCard({ team, request }: { team: string; request: AccessRequest }) {
  const action = (decision: 'approve' | 'reject') => `/teams/${team}/access-requests/${request.id}/${decision}`
  return (
    <article class="card access-request">
      <h3>
        <a href={`/${request.adapter}`}>{request.adapter}</a> · {request.license === 'commercial' ? 'commercial' : 'research'} licence
      </h3>
      <p class="muted">
        From {request.requester.name} ({request.requester.email}){request.requester.team && ` for the team ${request.requester.team}`} on{' '}
        {request.createdAt.slice(0, 10)}
      </p>
      {request.message ? <blockquote>{request.message}</blockquote> : <p class="muted">No message.</p>}
      {(['approve', 'reject'] as const).map((decision) => (
        <form class="stack decision" method="post" action={action(decision)}>
          <label for={`note-${decision}-${request.id}`}>{decision === 'approve' ? 'Note with the approval (optional)' : 'Reason for rejecting (optional)'}</label>
          <input id={`note-${decision}-${request.id}`} name="note" type="text" maxlength={2000} />
          <p>
            <button class={decision === 'approve' ? '' : 'secondary'} type="submit">
              {decision === 'approve' ? 'Approve' : 'Reject'}
            </button>
          </p>
        </form>
      ))}
    </article>
  )
}

const WIDTH = 720
const LEFT = 44
const RIGHT = 8
const PANEL = 80
const PANELS = [
  { key: 'orders', label: 'Orders', top: 22, color: '#2457c5' },
  { key: 'downloads', label: 'Downloads', top: 134, color: '#1b7a3d' },
] as const
const HEIGHT = 250

/** Orders and downloads per day as two bar panels: plain SVG (no script), its numbers repeated in the table below. */
function SalesChart({ days, period }: { days: Day[]; period: { from: string; to: string } }) {
  const step = (WIDTH - LEFT - RIGHT) / Math.max(days.length, 1)
  const totals = { orders: days.reduce((sum, day) => sum + day.orders, 0), downloads: days.reduce((sum, day) => sum + day.downloads, 0) }
  const summary = `Orders and downloads per day from ${period.from} to ${period.to}: ${totals.orders} orders and ${totals.downloads} downloads in all. The table below has each day's numbers.`
  return (
    <svg class="chart" role="img" aria-label={summary} viewBox={`0 0 ${WIDTH} ${HEIGHT}`} xmlns="http://www.w3.org/2000/svg">
      <title>{summary}</title>
      {PANELS.map((panel) => {
        const max = Math.max(1, ...days.map((day) => day[panel.key]))
        const baseline = panel.top + PANEL
        return (
          <g>
            <text x={LEFT} y={panel.top - 8} font-size="12" font-weight="600" fill="#1d2330">
              {panel.label} per day
            </text>
            <text x={LEFT - 6} y={panel.top + 4} font-size="11" text-anchor="end" fill="#5b6472">
              {max}
            </text>
            <text x={LEFT - 6} y={baseline} font-size="11" text-anchor="end" fill="#5b6472">
              0
            </text>
            <line x1={LEFT} y1={baseline} x2={WIDTH - RIGHT} y2={baseline} stroke="#dfe3ea" />
            {days.map((day, index) =>
              day[panel.key] > 0 ? (
                <rect
                  x={(LEFT + index * step + step * 0.15).toFixed(1)}
                  y={(baseline - (day[panel.key] / max) * PANEL).toFixed(1)}
                  width={(step * 0.7).toFixed(1)}
                  height={((day[panel.key] / max) * PANEL).toFixed(1)}
                  fill={panel.color}
                >
                  <title>{`${day.day}: ${day[panel.key]} ${panel.label.toLowerCase()}`}</title>
                </rect>
              ) : null,
            )}
          </g>
        )
      })}
      {days.map((day, index) =>
        // A label every week and on the last day, none crowding it.
        index === days.length - 1 || (index % 7 === 0 && days.length - 1 - index >= 4) ? (
          <text x={(LEFT + index * step + step / 2).toFixed(1)} y={HEIGHT - 4} font-size="11" text-anchor="middle" fill="#5b6472">
            {day.day.slice(5)}
          </text>
        ) : null,
      )}
    </svg>
  )
}

function DailyTable({ days }: { days: Day[] }) {
  return (
    <table class="daily">
      <caption class="muted">Orders, gross revenue and downloads per day (UTC)</caption>
      <thead>
        <tr>
          <th scope="col">Day</th>
          <th scope="col">Orders</th>
          <th scope="col">Gross</th>
          <th scope="col">Downloads</th>
        </tr>
      </thead>
      <tbody>
        {days.map((day) => (
          <tr>
            <th scope="row">{day.day}</th>
            <td>{day.orders}</td>
            <td>{day.gross.length === 0 ? '—' : day.gross.map((gross) => formatPrice(gross.amount, gross.currency)).join(', ')}</td>
            <td>{day.downloads}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
