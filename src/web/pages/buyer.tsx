import type { listEntitlements } from '../../commerce'
import type { getMe } from '../../identity'
import type { listMyInvitations } from '../../identity'
import type { Principal } from '../../identity'
import { formatBytes } from '../../lib/format'
import { Layout } from '../layout'

type Me = Awaited<ReturnType<typeof getMe>>
type Entitlement = Awaited<ReturnType<typeof listEntitlements>>['items'][number]
type Invitation = Awaited<ReturnType<typeof listMyInvitations>>['items'][number]

/** What a live entitlement lets the holder download now: the latest published version's files, or why not. */
export type Downloadable =
  | { kind: 'files'; version: string; files: { path: string; size: number; sha256: string }[] }
  | { kind: 'none'; reason: string }

export type BuyerPageProps = {
  principal: Principal
  me: Me
  entitlements: Entitlement[]
  downloads: Map<string, Downloadable>
  invitations: Invitation[]
  notice?: string | undefined
}

const SOURCES: Record<Entitlement['source'], string> = {
  free: 'a free offer',
  order: 'a purchase',
  access_request: 'an approved request',
}

const day = (iso: string) => iso.slice(0, 10)

export const downloadHref = (adapter: string, version: string, path: string) => `/${adapter}/versions/${version}/files/${encodeURIComponent(path)}`

/** `/me`: who you are, your teams, and every licence you hold with its files to download. */
export function BuyerPage({ principal, me, entitlements, downloads, invitations, notice }: BuyerPageProps) {
  return (
    <Layout title="My adapters" principal={principal} notice={notice ? { text: notice } : undefined}>
      <h1>My adapters</h1>
      {invitations.length > 0 && (
        <section aria-labelledby="invitations">
          <h2 id="invitations">Team invitations</h2>
          {invitations.map((invitation) => (
            <InvitationCard invitation={invitation} />
          ))}
        </section>
      )}
      <section class="card" aria-labelledby="account">
        <h2 id="account">{me.user.name}</h2>
        <p class="muted">{me.user.email}</p>
        {me.teams.length === 0 ? (
          <p>You are not in a team yet. Teams sell adapters and may buy for all their members.</p>
        ) : (
          <>
            <p>Your teams:</p>
            <ul class="teams">
              {me.teams.map((team) => (
                <li>
                  <a href={`/teams/${team.slug}`}>{team.name}</a> <span class="muted">({team.slug}, {team.role})</span>
                </li>
              ))}
            </ul>
          </>
        )}
      </section>

      <h2>Licences</h2>
      {entitlements.length === 0 && (
        <p class="card">
          You hold no licences yet. <a href="/">Find an adapter</a> for the base model you run.
        </p>
      )}
      {holdings(entitlements).map(([adapter, held]) => {
        const live = held.some((entitlement) => !entitlement.revokedAt)
        return (
          <article class="card entitlement">
            <h3>
              <a href={`/${adapter}`}>{adapter}</a> {!live && <span class="badge no">Revoked</span>}
            </h3>
            {held.map((entitlement) => (
              <p class="muted">
                {entitlement.license === 'commercial' ? 'Commercial' : 'Research'} licence · from {SOURCES[entitlement.source]} · granted {day(entitlement.grantedAt)}
                {entitlement.holder.kind === 'team' && ` · held by the team ${entitlement.holder.team ?? ''}`}
                {entitlement.revokedAt && ` · revoked on ${day(entitlement.revokedAt)}${entitlement.revokeReason ? `: ${entitlement.revokeReason}` : ''}.`}
              </p>
            ))}
            {live ? <Files adapter={adapter} downloadable={downloads.get(adapter)} /> : <p>Its files can no longer be downloaded.</p>}
          </article>
        )
      })}
    </Layout>
  )
}

/** One entry per adapter, with every licence held for it (personally, through teams, research and commercial). */
function holdings(entitlements: Entitlement[]) {
  const byAdapter = new Map<string, Entitlement[]>()
  for (const entitlement of entitlements) byAdapter.set(entitlement.adapter, [...(byAdapter.get(entitlement.adapter) ?? []), entitlement])
  return [...byAdapter.entries()]
}

/** An invitation waits for the invitee's answer: nobody joins a team without accepting. */
function InvitationCard({ invitation }: { invitation: Invitation }) {
  const action = (decision: 'accept' | 'decline') => `/me/invitations/${invitation.id}/${decision}`
  return (
    <article class="card invitation">
      <h3>
        {invitation.teamName} <span class="muted">({invitation.team})</span>
      </h3>
      <p>
        {invitation.invitedBy ?? 'A team owner'} invited you to join as {invitation.role === 'member' ? 'a member' : `an ${invitation.role}`}. The invitation expires on {day(invitation.expiresAt)}.
      </p>
      <form class="inline" method="post" action={action('accept')}>
        <button type="submit">Accept</button>
      </form>{' '}
      <form class="inline" method="post" action={action('decline')}>
        <button class="secondary" type="submit">
          Decline
        </button>
      </form>
    </article>
  )
}

function Files({ adapter, downloadable }: { adapter: string; downloadable: Downloadable | undefined }) {
  if (!downloadable || downloadable.kind === 'none') return <p class="muted">{downloadable?.reason ?? 'Nothing to download yet.'}</p>
  return (
    <table>
      <caption class="sr-only">
        Files of {adapter} version {downloadable.version}
      </caption>
      <thead>
        <tr>
          <th scope="col">Version {downloadable.version}</th>
          <th scope="col">Size</th>
          <th scope="col">SHA-256</th>
        </tr>
      </thead>
      <tbody>
        {downloadable.files.map((file) => (
          <tr>
            <td>
              <a class="download" href={downloadHref(adapter, downloadable.version, file.path)}>
                Download {file.path}
              </a>
            </td>
            <td>{formatBytes(file.size)}</td>
            <td class="mono">{file.sha256}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
