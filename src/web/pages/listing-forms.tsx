import type { toAdapterView } from '../../catalog'
import type { listOffers } from '../../commerce'
import { currencies } from '../../commerce'
import type { Principal } from '../../identity'
import { formatPrice } from '../../lib/format'
import type { toVersionView } from '../../publishing'
import { Layout } from '../layout'
import { listingPath, managePath } from './paths'

export { managePath } from './paths'

type Adapter = ReturnType<typeof toAdapterView>
type Version = ReturnType<typeof toVersionView>
type Offer = Awaited<ReturnType<typeof listOffers>>['items'][number]

/** The roles that may change or withdraw offers (updateOffer); any member may create listings, versions and offers. */
export const OFFER_MANAGERS = ['owner', 'admin'] as const

/** On the team page: a new listing (createAdapter), then its own page to add versions and offers. */
export function NewListingForm({ team }: { team: string }) {
  return (
    <details class="card" id="new-listing">
      <summary>New listing</summary>
      <form class="stack" method="post" action={managePath(team)}>
        <label for="listing-slug">Address (lower-case letters, digits and dashes): /{team}/…</label>
        <input id="listing-slug" name="slug" type="text" required maxlength={50} pattern="[a-z0-9]([a-z0-9\-]*[a-z0-9])?" placeholder="legal-zh" />
        <label for="listing-title">Title</label>
        <input id="listing-title" name="title" type="text" required maxlength={200} />
        <label for="listing-summary">Summary (one line, shown in search)</label>
        <input id="listing-summary" name="summary" type="text" maxlength={500} />
        <label for="listing-description">Description (Markdown)</label>
        <textarea id="listing-description" name="description" maxlength={100000} />
        <label for="listing-tags">Task tags, separated by commas</label>
        <input id="listing-tags" name="tags" type="text" placeholder="chat, legal" />
        <label for="listing-license">Licence (SPDX id)</label>
        <input id="listing-license" name="license" type="text" required maxlength={100} placeholder="Apache-2.0" />
        <label>
          <input type="checkbox" name="commercialUse" value="true" /> Commercial use allowed
        </label>
        <label>
          <input type="checkbox" name="derivatives" value="true" /> Derivatives allowed
        </label>
        <label for="listing-visibility">Visibility</label>
        <select id="listing-visibility" name="visibility">
          <option value="draft">Draft (only your team sees it)</option>
          <option value="published">Published</option>
        </select>
        <p>
          <button type="submit">Create listing</button>
        </p>
      </form>
    </details>
  )
}

export type ListingManagePageProps = {
  principal: Principal
  team: { slug: string; name: string; role: string }
  adapter: Adapter
  versions: Version[]
  offers: Offer[]
  bases: string[]
  notice?: { text: string; error?: boolean } | undefined
}

/** `/teams/{team}/listings/{slug}`: the seller's versions (upload, publish) and offers (create, reprice, withdraw, restore). */
export function ListingManagePage(props: ListingManagePageProps) {
  const { team, adapter } = props
  return (
    <Layout title={`Manage ${adapter.title}`} principal={props.principal} notice={props.notice}>
      <p class="muted">
        <a href={`/teams/${encodeURIComponent(team.slug)}`}>{team.name}</a> · your role: {team.role}
      </p>
      <h1>{adapter.title}</h1>
      <p class="muted mono">
        <a href={listingPath(adapter)}>
          {adapter.team}/{adapter.slug}
        </a>{' '}
        · {adapter.visibility}
      </p>
      <Versions {...props} />
      <NewVersionForm {...props} />
      <Offers {...props} />
      <NewOfferForm {...props} />
      <script src="/static/upload.js" defer />
    </Layout>
  )
}

function Versions({ team, adapter, versions }: ListingManagePageProps) {
  return (
    <section aria-labelledby="versions-heading">
      <h2 id="versions-heading">Versions</h2>
      {versions.length === 0 ? (
        <p class="card">No version yet: upload the first one below.</p>
      ) : (
        <div class="scroll">
          <table id="versions">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Status</th>
                <th scope="col">Base model</th>
                <th scope="col">Files</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {versions.map((version) => (
                <tr data-version={version.version} data-status={version.status}>
                  <th scope="row">{version.version}</th>
                  <td>
                    <span class={version.status === 'published' || version.status === 'ready' ? 'badge yes' : version.status === 'rejected' ? 'badge no' : 'badge'}>{version.status}</span>
                    {version.status === 'rejected' && <RejectedReasons findings={version.findings} />}
                  </td>
                  <td class="mono">{version.baseModel}</td>
                  <td>{version.files.length}</td>
                  <td>
                    {version.status === 'ready' && (
                      <form class="inline" method="post" action={`${managePath(team.slug, adapter.slug)}/versions/${encodeURIComponent(version.version)}/publish`}>
                        <button type="submit">Publish {version.version}</button>
                      </form>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}

function RejectedReasons({ findings }: { findings: Record<string, unknown>[] }) {
  const errors = findings.filter((finding) => finding.severity === 'error').map((finding) => String(finding.message ?? finding.code ?? ''))
  if (errors.length === 0) return null
  return (
    <ul class="findings">
      {errors.slice(0, 5).map((message) => (
        <li>{message}</li>
      ))}
    </ul>
  )
}

/**
 * The version upload: the script (/static/upload.js) hashes and uploads the chosen files with
 * progress. Without JavaScript the form still posts, and the answer says how to publish instead.
 */
function NewVersionForm({ team, adapter, versions, bases }: ListingManagePageProps) {
  const base = versions[0]?.baseModel
  const action = `${managePath(team.slug, adapter.slug)}/versions`
  return (
    <section aria-labelledby="new-version-heading">
      <h2 id="new-version-heading">Upload a version</h2>
      <form id="new-version" class="card stack" method="post" enctype="multipart/form-data" action={action} data-upload="" data-done={managePath(team.slug, adapter.slug)}>
        <p class="notice" data-without-script="">
          Uploading from the browser needs JavaScript. Without it, publish from the folder with{' '}
          <code>
            refinery publish ./my-adapter --adapter {adapter.team}/{adapter.slug} --version 1.0.0
          </code>
          .
        </p>
        <label for="version-files">Files of the PEFT output folder (adapter_config.json, adapter_model.safetensors, …)</label>
        <input id="version-files" name="files" type="file" multiple required />
        <label for="version-number">Version (semantic, such as 1.0.0)</label>
        <input id="version-number" name="version" type="text" required maxlength={64} placeholder="1.0.0" />
        <label for="version-base">Base model it was trained on (read from adapter_config.json when listed)</label>
        <select id="version-base" name="baseModel">
          {bases.map((id) => (
            <option value={id} selected={id === base}>
              {id}
            </option>
          ))}
        </select>
        <label for="version-changelog">Changelog (Markdown)</label>
        <textarea id="version-changelog" name="changelog" maxlength={20000} />
        <progress hidden value={0} max={1} aria-label="Upload progress" />
        <p data-status="" role="status" hidden />
        <p>
          <button type="submit">Upload and validate</button>
        </p>
      </form>
    </section>
  )
}

const offerTerms = (offer: Offer) =>
  `${offer.kind === 'free' ? 'Free' : offer.kind === 'on_request' ? 'On request' : offer.amount !== null && offer.currency ? formatPrice(offer.amount, offer.currency) : 'Paid'} · ${offer.license} licence`

/** Major units as the form shows them ("49.00"); the API counts minor units (cents). */
const majorUnits = (amount: number | null) => (amount === null ? '' : (amount / 100).toFixed(2))

function Offers({ team, adapter, offers }: ListingManagePageProps) {
  const mayChange = (OFFER_MANAGERS as readonly string[]).includes(team.role)
  const base = `${managePath(team.slug, adapter.slug)}/offers`
  return (
    <section aria-labelledby="offers-heading">
      <h2 id="offers-heading">Offers</h2>
      {!mayChange && offers.length > 0 && <p class="muted">Team owners and admins change prices and withdraw offers.</p>}
      {offers.length === 0 && <p class="card">No offers yet: buyers cannot get this adapter until you add one below.</p>}
      {offers.map((offer) => (
        <article class="card offer" data-offer={offer.id} data-active={String(offer.active)}>
          <p>
            <strong>{offerTerms(offer)}</strong> · {offer.active ? <span class="badge yes">on sale</span> : <span class="badge no">withdrawn</span>}
          </p>
          {mayChange && (
            <>
              {offer.kind === 'one_time' && offer.active && (
                <form class="stack" method="post" action={`${base}/${offer.id}`}>
                  <input type="hidden" name="change" value="price" />
                  <label for={`price-${offer.id}`}>New price (such as 49.00)</label>
                  <input id={`price-${offer.id}`} name="price" type="text" inputmode="decimal" required value={majorUnits(offer.amount)} />
                  <input type="hidden" name="currency" value={offer.currency ?? ''} />
                  <p>
                    <button type="submit" class="secondary">
                      Change price
                    </button>
                  </p>
                </form>
              )}
              <form class="inline" method="post" action={`${base}/${offer.id}`}>
                <input type="hidden" name="change" value={offer.active ? 'withdraw' : 'restore'} />
                <button type="submit" class="secondary">
                  {offer.active ? 'Withdraw' : 'Put back on sale'}
                </button>
              </form>
            </>
          )}
        </article>
      ))}
    </section>
  )
}

function NewOfferForm({ team, adapter }: ListingManagePageProps) {
  return (
    <section aria-labelledby="new-offer-heading">
      <h2 id="new-offer-heading">Add an offer</h2>
      <form id="new-offer" class="card stack" method="post" action={`${managePath(team.slug, adapter.slug)}/offers`}>
        <label for="offer-kind">Kind</label>
        <select id="offer-kind" name="kind">
          <option value="free">Free</option>
          <option value="on_request">On request (you approve each buyer)</option>
          <option value="one_time">One-time price (needs payouts set up)</option>
        </select>
        <label for="offer-license">Licence tier</label>
        <select id="offer-license" name="license">
          <option value="research">Research and personal use</option>
          <option value="commercial">Commercial use</option>
        </select>
        <label for="offer-price">Price, for a one-time offer (such as 49.00)</label>
        <input id="offer-price" name="price" type="text" inputmode="decimal" />
        <label for="offer-currency">Currency</label>
        <select id="offer-currency" name="currency">
          {currencies.map((code) => (
            <option value={code}>{code.toUpperCase()}</option>
          ))}
        </select>
        <p>
          <button type="submit">Add offer</button>
        </p>
      </form>
    </section>
  )
}
