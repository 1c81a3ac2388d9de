import type { toAdapterView } from '../../catalog'
import type { listOffers } from '../../commerce'
import type { CompatReport } from '../../compat'
import { formatPrice } from '../../lib/format'
import type { toVersionView } from '../../publishing'
import { type CompatRow, Engines, Findings, yesNo } from './compatibility'
import { listingPath, managePath } from './paths'

type Adapter = ReturnType<typeof toAdapterView>
type Version = ReturnType<typeof toVersionView>
type Offer = Awaited<ReturnType<typeof listOffers>>['items'][number]

/** What the "Check my base model" form sent, and what the check found. */
export type CheckState = { base: string; config: string; result?: { label: string; report: CompatReport } | undefined }

export type DecisionProps = {
  adapter: Adapter
  version: Version | undefined
  /** The base model the buyer runs: the one just checked, `?base=`, or their last check (cookie). */
  base: string | undefined
  compatibility: CompatRow[] | null
  bases: string[]
  check: CheckState | undefined
  offers: Offer[]
  isMember: boolean
  entitled: boolean
  canDownload: boolean
  request: { offerId: string; message: string } | undefined
}

const offerPrice = (offer: Offer) =>
  offer.kind === 'free' ? 'Free' : offer.kind === 'on_request' ? 'On request' : offer.amount !== null && offer.currency ? formatPrice(offer.amount, offer.currency) : 'Paid'

function offerButton(offer: Offer) {
  if (offer.kind === 'free') return 'Get free'
  if (offer.kind === 'on_request') return 'Request access'
  return offer.amount !== null && offer.currency ? `Buy for ${formatPrice(offer.amount, offer.currency)}` : 'Buy'
}

/**
 * The buyer's decision, at the top of the page (a sidebar on wide screens, first on phones): the
 * verdict for their base model and its serving engines, the offers with their buttons, the
 * licence, and the form to check another base. Plain forms: it works without JavaScript.
 */
export function Decision(props: DecisionProps) {
  const { adapter, version } = props
  return (
    <aside id="decision" class="decision card" aria-label="Your base model and how to get this adapter">
      <BaseVerdict {...props} />
      <Offers {...props} />
      <p class="licence-line">
        Licence <strong>{adapter.license.spdx ?? 'custom'}</strong> · commercial use {yesNo(adapter.license.commercialUse)} · derivatives{' '}
        {yesNo(adapter.license.derivatives)}
      </p>
      {version && <CheckForm adapter={adapter} version={version} bases={props.bases} base={props.base} check={props.check} />}
    </aside>
  )
}

function BaseVerdict({ version, base, compatibility, check }: DecisionProps) {
  if (check?.result) return <VerdictBox id="check-result" label={check.result.label} report={check.result.report} />
  if (!version) return <p class="muted">No version is published yet.</p>
  const row = base ? compatibility?.find((candidate) => candidate.base === base) : undefined
  if (row) return <VerdictBox id="base-verdict" label={row.base} report={{ ...row, checks: row.findings }} />
  return (
    <p>
      Made for <span class="mono">{version.baseModel}</span>.{' '}
      {base ? (
        <span class="muted">
          Version {version.version} has no verdict for <span class="mono">{base}</span> yet: check it below.
        </span>
      ) : (
        'Which base model do you run? Pick it below for a verdict.'
      )}
    </p>
  )
}

/** The verdict of one base, from a check or from the matrix; engines as badges, reasons and findings on demand. */
function VerdictBox({ id, label, report }: { id: string; label: string; report: Pick<CompatReport, 'compatible' | 'twins' | 'runtimes' | 'checks'> }) {
  const firstError = report.checks.find((finding) => finding.severity === 'error')
  const shown = report.checks.filter((finding) => finding.severity !== 'info')
  return (
    <section id={id} class="verdict-box" data-verdict={report.compatible ? 'compatible' : 'incompatible'} aria-labelledby={`${id}-heading`} role="status">
      <h2 id={`${id}-heading`} class={`verdict ${yesNo(report.compatible)}`}>
        {report.compatible ? 'Compatible' : 'Incompatible'} with {label}
      </h2>
      {firstError && <p class="reason">{firstError.message}</p>}
      {report.twins.length > 0 && (
        <p class="muted">
          Also fits its shape twins: <span class="mono">{report.twins.join(', ')}</span>
        </p>
      )}
      <h3 class="sr-only">Serving engines</h3>
      <Engines runtimes={report.runtimes} fits={false} />
      {shown.length > 0 && (
        <details>
          <summary>All findings ({shown.length})</summary>
          <Findings findings={report.checks} />
        </details>
      )}
    </section>
  )
}

function Offers({ adapter, offers, isMember, entitled, canDownload, request }: DecisionProps) {
  const onSale = offers.filter((offer) => offer.active)
  return (
    <section aria-labelledby="offers-heading" class="offers">
      <h2 id="offers-heading" class="sr-only">
        Get this adapter
      </h2>
      {isMember && (
        <p class="muted">
          You are a member of {adapter.team}: its adapters are already yours. <a href={managePath(adapter.team, adapter.slug)}>Manage versions and offers</a>
        </p>
      )}
      {entitled && !isMember && <p class="notice">You already have this adapter{canDownload && <>: <a href="#files">download its files</a></>}.</p>}
      {onSale.length === 0 && !isMember && <p class="muted">Not offered yet.</p>}
      {(isMember ? offers : onSale).map((offer) => {
        const terms = (
          <p class="terms">
            <strong class="price">{offerPrice(offer)}</strong> · {offer.license} licence
            <span class="muted">{offer.license === 'commercial' ? ' (commercial use allowed)' : ' (research and personal use)'}</span>
            {!offer.active && ' · withdrawn: not on sale'}
          </p>
        )
        // The seller team cannot buy its own adapter: it sees the terms only (withdrawn offers too).
        if (isMember) return <div class="offer">{terms}</div>
        return (
          <form class="stack offer" method="post" action={`${listingPath(adapter)}/buy`}>
            <input type="hidden" name="offerId" value={offer.id} />
            {terms}
            {offer.kind === 'on_request' && (
              <>
                <label for={`message-${offer.id}`}>Who you are and what you will use it for (10 characters or more)</label>
                <textarea id={`message-${offer.id}`} name="message" minlength={10} maxlength={5000}>
                  {request?.offerId === offer.id ? request.message : ''}
                </textarea>
              </>
            )}
            <button type="submit" class="buy">
              {offerButton(offer)}
            </button>
          </form>
        )
      })}
    </section>
  )
}

function CheckForm({ adapter, version, bases, base, check }: { adapter: Adapter; version: Version; bases: string[]; base: string | undefined; check: CheckState | undefined }) {
  const picked = check?.base || base || version.baseModel
  return (
    <form id="check" class="stack" method="post" action={`${listingPath(adapter)}/check`} aria-labelledby="check-heading">
      <h2 id="check-heading">Check my base model</h2>
      <input type="hidden" name="version" value={version.version} />
      <label for="check-base">Base model you run</label>
      <select id="check-base" name="base">
        {bases.map((id) => (
          <option value={id} selected={picked === id}>
            {id}
          </option>
        ))}
      </select>
      <details open={Boolean(check?.config)}>
        <summary>Or paste its config.json</summary>
        <label for="check-config">config.json (used instead of the list when filled in)</label>
        <textarea id="check-config" name="config" spellcheck={false} placeholder='{"model_type": "llama", "hidden_size": 4096, …}'>
          {check?.config ?? ''}
        </textarea>
      </details>
      <button type="submit" class="secondary">
        Check version {version.version}
      </button>
    </form>
  )
}
