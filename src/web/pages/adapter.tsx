import type { toAdapterView } from '../../catalog/adapters'
import type { listReviews } from '../../catalog/reviews'
import type { listOffers } from '../../commerce/offers'
import type { CompatReport, Finding, RuntimeVerdict, Runtimes } from '../../compat/index'
import type { Principal } from '../../identity/principal'
import { formatBytes, formatPrice } from '../../lib/format'
import type { getVersionCompatibility, toVersionView } from '../../publishing/versions'
import { Layout } from '../layout'
import { renderMarkdown } from '../markdown'

type Adapter = ReturnType<typeof toAdapterView>
type Version = ReturnType<typeof toVersionView>
type CompatRow = Awaited<ReturnType<typeof getVersionCompatibility>>['items'][number]
type Offer = Awaited<ReturnType<typeof listOffers>>['items'][number]
type Review = Awaited<ReturnType<typeof listReviews>>['items'][number]

/** What the "Check my base model" form sent, and what the check found. */
export type CheckState = { base: string; config: string; result?: { label: string; report: CompatReport } | undefined }

export type AdapterPageProps = {
  principal: Principal | null
  adapter: Adapter
  isMember: boolean
  /** The signed-in user holds a live entitlement (directly or through a team). */
  entitled: boolean
  versions: Version[]
  selected: Version | undefined
  compatibility: CompatRow[] | null
  offers: Offer[]
  reviews: Review[]
  bases: string[]
  /** Where Hugging Face tools point HF_ENDPOINT (`<PUBLIC_URL>/hf`). */
  hubEndpoint: string
  check?: CheckState | undefined
  /** What the buyer typed into an on-request offer's message, kept when the page comes back with an error. */
  request?: { offerId: string; message: string } | undefined
  notice?: { text: string; error?: boolean } | undefined
}

/** The lines that pull this listing with the Hugging Face tools a buyer already runs (README: "Use it from Hugging Face tools"). */
function HubSnippet(props: { endpoint: string; repo: string; version: string }) {
  return (
    <section aria-labelledby="hub-heading">
      <h2 id="hub-heading">Use it from Hugging Face tools</h2>
      <p>
        With an API key (<code>rfy_…</code>, read scope) of an account or team that holds it, any Hugging Face Hub client pulls it as the model
        repo <code>{props.repo}</code>; <code>main</code> is the newest version.
      </p>
      <pre id="hub-snippet">
        {`export HF_ENDPOINT=${props.endpoint}
export HF_TOKEN=rfy_…
hf download ${props.repo} --revision ${props.version}

# PEFT
PeftModel.from_pretrained(base_model, "${props.repo}", revision="${props.version}")
# vLLM
vllm serve <base model> --enable-lora --lora-modules ${props.repo.split('/')[1]}=${props.repo}
# @huggingface/hub (its tokens must start with hf_)
downloadFile({ repo: "${props.repo}", path: "adapter_model.safetensors", revision: "${props.version}", hubUrl: "${props.endpoint}", accessToken: "hf_rfy_…" })`}
      </pre>
    </section>
  )
}

const ENGINES: [keyof Runtimes, string][] = [
  ['vllm', 'vLLM'],
  ['lorax', 'LoRAX'],
  ['tgi', 'TGI'],
  ['llamacpp', 'llama.cpp'],
]

const yesNo = (value: boolean) => (value ? 'yes' : 'no')
const day = (iso: string) => <time datetime={iso}>{iso.slice(0, 10)}</time>
const round = (value: number) => Number(value.toFixed(4))
const signed = (value: number) => (value > 0 ? `+${round(value)}` : String(round(value)))

export const listingPath = (adapter: { team: string; slug: string }) => `/${encodeURIComponent(adapter.team)}/${encodeURIComponent(adapter.slug)}`

export function fileUrl(adapter: Adapter, version: string, path: string) {
  return `${listingPath(adapter)}/versions/${encodeURIComponent(version)}/files/${encodeURIComponent(path)}`
}

const offerPrice = (offer: Offer) =>
  offer.kind === 'free' ? 'Free' : offer.kind === 'on_request' ? 'On request' : offer.amount !== null && offer.currency ? formatPrice(offer.amount, offer.currency) : 'Paid'

function offerButton(offer: Offer) {
  if (offer.kind === 'free') return 'Get free'
  if (offer.kind === 'on_request') return 'Request access'
  return offer.amount !== null && offer.currency ? `Buy for ${formatPrice(offer.amount, offer.currency)}` : 'Buy'
}

/** One engine's verdict as text (not colour alone): "vLLM: yes", or "vLLM: no" and why. */
function EngineVerdict({ label, verdict }: { label: string; verdict: RuntimeVerdict }) {
  return (
    <li class="engine">
      <span class={`badge ${yesNo(verdict.compatible)}`}>
        {label}: {yesNo(verdict.compatible)}
      </span>
      {!verdict.compatible && verdict.reasons.length > 0 && <span class="reason"> {verdict.reasons.join(' ')}</span>}
      {verdict.notes && verdict.notes.length > 0 && <span class="muted note"> {verdict.notes.join(' ')}</span>}
    </li>
  )
}

function Engines({ runtimes, fits = true }: { runtimes: Runtimes; fits?: boolean }) {
  const list = (
    <ul class="engines">
      {ENGINES.map(([key, label]) => (
        <EngineVerdict label={label} verdict={runtimes[key]} />
      ))}
    </ul>
  )
  if (fits) return list
  // On a base the tensors do not fit, every engine says no for the same reason: badges first, reasons on demand.
  return (
    <details>
      <summary>
        {ENGINES.map(([key, label]) => (
          <span class={`badge ${yesNo(runtimes[key].compatible)}`}>
            {label}: {yesNo(runtimes[key].compatible)}
          </span>
        ))}
      </summary>
      {list}
    </details>
  )
}

function CompatibilityTable({ rows }: { rows: CompatRow[] }) {
  return (
    <table id="compatibility">
      <caption class="sr-only">Compatibility of this version with every registered base model</caption>
      <thead>
        <tr>
          <th scope="col">Base model</th>
          <th scope="col">Verdict</th>
          <th scope="col">Serving engines</th>
          <th scope="col">Shape twins</th>
          <th scope="col">Why</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => {
          const firstError = row.findings.find((finding) => finding.severity === 'error')
          return (
            <tr data-base={row.base} data-verdict={row.compatible ? 'compatible' : 'incompatible'}>
              <th scope="row" class="mono">
                {row.base}
              </th>
              <td>
                <span class={`verdict ${yesNo(row.compatible)}`}>{row.compatible ? 'Compatible' : 'Incompatible'}</span>
              </td>
              <td>
                <Engines runtimes={row.runtimes} fits={row.compatible} />
              </td>
              <td>{row.twins.length > 0 ? <span class="mono">{row.twins.join(', ')}</span> : <span class="muted">none</span>}</td>
              <td>{firstError ? firstError.message : ''}</td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}

function Findings({ findings }: { findings: Finding[] }) {
  const shown = findings.filter((finding) => finding.severity !== 'info')
  if (shown.length === 0) return null
  return (
    <ul class="findings">
      {shown.map((finding) => (
        <li>
          <strong>{finding.severity === 'error' ? 'Error' : 'Warning'}:</strong> {finding.message}
          {finding.tensor && <code> {finding.tensor}</code>}
        </li>
      ))}
    </ul>
  )
}

function CheckResult({ label, report }: { label: string; report: CompatReport }) {
  return (
    <section id="check-result" class="card" data-verdict={report.compatible ? 'compatible' : 'incompatible'} aria-labelledby="check-result-heading" role="status">
      <h3 id="check-result-heading" class={`verdict ${yesNo(report.compatible)}`}>
        {report.compatible ? 'Compatible' : 'Incompatible'} with {label}
      </h3>
      {report.twins.length > 0 && (
        <p>
          Fits its shape twins just as well: <span class="mono">{report.twins.join(', ')}</span>
        </p>
      )}
      <Findings findings={report.checks} />
      <h4>Serving engines</h4>
      <Engines runtimes={report.runtimes} />
    </section>
  )
}

function CheckBox({ adapter, version, bases, check }: { adapter: Adapter; version: Version; bases: string[]; check: CheckState | undefined }) {
  const picked = check?.base || version.baseModel
  return (
    <section aria-labelledby="check-heading">
      <h2 id="check-heading">Check my base model</h2>
      <form id="check" class="card stack" method="post" action={`${listingPath(adapter)}/check`}>
        <input type="hidden" name="version" value={version.version} />
        <label for="check-base">Base model you run</label>
        <select id="check-base" name="base">
          {bases.map((id) => (
            <option value={id} selected={picked === id}>
              {id}
            </option>
          ))}
        </select>
        <label for="check-config">Or paste its config.json (used instead of the list when filled in)</label>
        <textarea id="check-config" name="config" spellcheck={false} placeholder='{"model_type": "llama", "hidden_size": 4096, …}'>
          {check?.config ?? ''}
        </textarea>
        <p>
          <button type="submit">Check version {version.version}</button>
        </p>
      </form>
      {check?.result && <CheckResult label={check.result.label} report={check.result.report} />}
    </section>
  )
}

function Offers({ adapter, offers, isMember, entitled, request }: Pick<AdapterPageProps, 'adapter' | 'offers' | 'isMember' | 'entitled' | 'request'>) {
  return (
    <section aria-labelledby="offers-heading">
      <h2 id="offers-heading">Get this adapter</h2>
      {isMember && <p class="muted">You are a member of {adapter.team}: its adapters are already yours.</p>}
      {entitled && !isMember && <p class="notice">You already have this adapter: download its files above, or find it under My adapters.</p>}
      {offers.length === 0 && <p class="muted">Not offered yet.</p>}
      {offers.map((offer) => {
        const terms = (
          <p>
            <strong>{offerPrice(offer)}</strong> · {offer.license} licence
            {offer.license === 'commercial' ? ' (commercial use allowed)' : ' (research and personal use)'}
            {!offer.active && ' · withdrawn: not on sale'}
          </p>
        )
        // The seller team cannot buy its own adapter: it sees the terms only (withdrawn offers too). Nobody buys a withdrawn offer.
        if (isMember || !offer.active) return <div class="card offer">{terms}</div>
        return (
          <form class="card stack offer" method="post" action={`${listingPath(adapter)}/buy`}>
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
            <p>
              <button type="submit">{offerButton(offer)}</button>
            </p>
          </form>
        )
      })}
    </section>
  )
}

/** `/{team}/{slug}`: a listing with its versions, files, compatibility matrix, evals, offers and reviews. */
export function AdapterPage(props: AdapterPageProps) {
  const { adapter, selected, isMember, entitled } = props
  const canDownload = isMember || (entitled && adapter.visibility !== 'archived')
  const tags = [...adapter.tags.task, ...adapter.tags.domain, ...adapter.tags.language]
  return (
    <Layout title={adapter.title} principal={props.principal} notice={props.notice}>
      <h1>{adapter.title}</h1>
      <p class="muted mono">
        {adapter.team}/{adapter.slug}
        {isMember && adapter.visibility !== 'published' && ` · ${adapter.visibility}`}
      </p>
      {adapter.summary && <p>{adapter.summary}</p>}
      {tags.length > 0 && (
        <p class="tags" aria-label="Tags">
          {tags.map((tag) => (
            <span>{tag}</span>
          ))}
        </p>
      )}

      <section aria-labelledby="about-heading" class="card">
        <h2 id="about-heading">At a glance</h2>
        <dl class="facts">
          <dt>Licence</dt>
          <dd>{adapter.license.spdx ?? 'custom'}</dd>
          <dt>Commercial use</dt>
          <dd>{yesNo(adapter.license.commercialUse)}</dd>
          <dt>Derivatives allowed</dt>
          <dd>{yesNo(adapter.license.derivatives)}</dd>
          <dt>Downloads</dt>
          <dd>{adapter.downloads}</dd>
          <dt>Rating</dt>
          <dd>{adapter.rating.count > 0 ? `${adapter.rating.average.toFixed(1)} out of 5 (${adapter.rating.count} ${adapter.rating.count === 1 ? 'review' : 'reviews'})` : 'no reviews yet'}</dd>
        </dl>
        {adapter.license.text && (
          <details>
            <summary>Licence text</summary>
            <pre class="licence">{adapter.license.text}</pre>
          </details>
        )}
      </section>

      <section aria-labelledby="description-heading">
        <h2 id="description-heading">Description</h2>
        {adapter.description ? <div class="markdown card" dangerouslySetInnerHTML={{ __html: renderMarkdown(adapter.description) }} /> : <p class="muted">No description.</p>}
      </section>

      <section aria-labelledby="versions-heading">
        <h2 id="versions-heading">Versions</h2>
        {props.versions.length === 0 ? (
          <p class="muted">No published version yet.</p>
        ) : (
          <ul class="versions">
            {props.versions.map((version) => (
              <li class="card">
                <a href={`${listingPath(adapter)}?version=${encodeURIComponent(version.version)}`} aria-current={version.version === selected?.version ? 'true' : undefined}>
                  Version {version.version}
                </a>
                {version.version === selected?.version && <span class="muted"> (shown below)</span>}
                {' · '}
                {version.publishedAt ? <>published {day(version.publishedAt)}</> : <span class="muted">not published</span>}
                {isMember && <span class="badge">status: {version.status}</span>}
                {version.changelog && <div class="markdown" dangerouslySetInnerHTML={{ __html: renderMarkdown(version.changelog) }} />}
              </li>
            ))}
          </ul>
        )}
      </section>

      {selected && (
        <>
          <section aria-labelledby="files-heading">
            <h2 id="files-heading">Files of version {selected.version}</h2>
            <table id="files">
              <thead>
                <tr>
                  <th scope="col">Path</th>
                  <th scope="col">Size</th>
                  <th scope="col">SHA-256</th>
                  {canDownload && <th scope="col">Download</th>}
                </tr>
              </thead>
              <tbody>
                {selected.files.map((file) => (
                  <tr>
                    <th scope="row" class="mono">
                      {file.path}
                    </th>
                    <td>{formatBytes(file.size)}</td>
                    <td>
                      <code>{file.sha256}</code>
                    </td>
                    {canDownload && (
                      <td>
                        <a href={fileUrl(adapter, selected.version, file.path)}>
                          Download<span class="sr-only"> {file.path}</span>
                        </a>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
            {!canDownload && <p class="muted">Get the adapter below to download its files.</p>}
          </section>

          <HubSnippet endpoint={props.hubEndpoint} repo={`${adapter.team}/${adapter.slug}`} version={selected.version} />

          <section aria-labelledby="compatibility-heading">
            <h2 id="compatibility-heading">Compatibility of version {selected.version}</h2>
            {props.compatibility && props.compatibility.length > 0 ? (
              <CompatibilityTable rows={props.compatibility} />
            ) : (
              <p class="muted">The compatibility matrix appears once validation has finished.</p>
            )}
          </section>

          <CheckBox adapter={adapter} version={selected} bases={props.bases} check={props.check} />

          <section aria-labelledby="evals-heading">
            <h2 id="evals-heading">Eval results</h2>
            {selected.evals.length === 0 ? (
              <p class="muted">The seller reported no eval results for this version.</p>
            ) : (
              <table id="evals">
                <thead>
                  <tr>
                    <th scope="col">Benchmark</th>
                    <th scope="col">Score</th>
                    <th scope="col">Base model's score</th>
                    <th scope="col">Difference</th>
                  </tr>
                </thead>
                <tbody>
                  {selected.evals.map((result) => (
                    <tr>
                      <th scope="row">
                        {result.benchmark}
                        {result.metric && <span class="muted"> ({result.metric})</span>}
                      </th>
                      <td>{round(result.score)}</td>
                      <td>{result.baseScore === undefined ? '—' : round(result.baseScore)}</td>
                      <td>{result.baseScore === undefined ? '—' : signed(result.score - result.baseScore)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </>
      )}

      <Offers adapter={adapter} offers={props.offers} isMember={isMember} entitled={entitled} request={props.request} />

      <section aria-labelledby="reviews-heading">
        <h2 id="reviews-heading">Reviews</h2>
        {props.reviews.length === 0 && <p class="muted">No reviews yet. Buyers who hold the adapter can review it.</p>}
        {props.reviews.map((review) => (
          <article class="card review">
            <p>
              <strong>{review.rating} out of 5</strong> · {review.author}
              {review.team && ` for ${review.team}`} · version {review.version} · {day(review.createdAt)}
            </p>
            <p>{review.text}</p>
          </article>
        ))}
      </section>

    </Layout>
  )
}
