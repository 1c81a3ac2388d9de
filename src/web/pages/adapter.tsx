import type { toAdapterView } from '../../catalog'
import type { listReviews } from '../../commerce'
import type { listOffers } from '../../commerce'
import type { Principal } from '../../identity'
import { formatBytes } from '../../lib/format'
import type { toVersionView } from '../../publishing'
import { Layout } from '../layout'
import { renderMarkdown } from '../markdown'
import { type CheckState, Decision } from './adapter-decision'
import { type CompatRow, CompatibilityTable, yesNo } from './compatibility'
import { listingPath } from './paths'

export { type CheckState } from './adapter-decision'
export { listingPath } from './paths'

type Adapter = ReturnType<typeof toAdapterView>
type Version = ReturnType<typeof toVersionView>
type Offer = Awaited<ReturnType<typeof listOffers>>['items'][number]
type Review = Awaited<ReturnType<typeof listReviews>>['items'][number]

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
  /** The base model the buyer runs, when known (`?base=`, or the cookie of their last check). */
  base?: string | undefined
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

const day = (iso: string) => <time datetime={iso}>{iso.slice(0, 10)}</time>
const round = (value: number) => Number(value.toFixed(4))
const signed = (value: number) => (value > 0 ? `+${round(value)}` : String(round(value)))

export function fileUrl(adapter: Adapter, version: string, path: string) {
  return `${listingPath(adapter)}/versions/${encodeURIComponent(version)}/files/${encodeURIComponent(path)}`
}

/** A link to this listing (one version of it) that keeps the buyer's base model. */
const pageUrl = (adapter: Adapter, version: string | undefined, base: string | undefined) => {
  const query = new URLSearchParams({ ...(version && { version }), ...(base && { base }) }).toString()
  return `${listingPath(adapter)}${query ? `?${query}` : ''}`
}

/**
 * `/{team}/{slug}`: the buyer's decision first (verdict for their base, engines, offers, licence:
 * a sidebar on wide screens, right under the title on phones), then the description, versions,
 * files, the full compatibility matrix (collapsed), evals and reviews.
 */
export function AdapterPage(props: AdapterPageProps) {
  const { adapter, selected, isMember, entitled } = props
  const canDownload = isMember || (entitled && adapter.visibility !== 'archived')
  const tags = [...adapter.tags.task, ...adapter.tags.domain, ...adapter.tags.language]
  const fitting = props.compatibility?.filter((row) => row.compatible).map((row) => row.base) ?? []
  return (
    <Layout title={adapter.title} principal={props.principal} notice={props.notice}>
      <h1>{adapter.title}</h1>
      <p class="muted mono">
        {adapter.team}/{adapter.slug}
        {selected && ` · version ${selected.version}`}
        {isMember && adapter.visibility !== 'published' && ` · ${adapter.visibility}`}
      </p>
      <div class="listing">
        <Decision
          adapter={adapter}
          version={selected}
          base={props.base}
          compatibility={props.compatibility}
          bases={props.bases}
          check={props.check}
          offers={props.offers}
          isMember={isMember}
          entitled={entitled}
          canDownload={canDownload}
          request={props.request}
        />
        <div class="listing-main">
          {adapter.summary && <p class="summary">{adapter.summary}</p>}
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
              <dt>Fits</dt>
              <dd>{fitting.length > 0 ? <span class="mono">{fitting.join(', ')}</span> : <span class="muted">no verdict yet</span>}</dd>
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

          {selected && (
            <section aria-labelledby="compatibility-heading">
              <h2 id="compatibility-heading">Compatibility of version {selected.version}</h2>
              {props.compatibility && props.compatibility.length > 0 ? (
                <details class="matrix">
                  <summary>
                    Every registered base model ({props.compatibility.length}): {fitting.length} compatible
                  </summary>
                  <CompatibilityTable rows={props.compatibility} />
                </details>
              ) : (
                <p class="muted">The compatibility matrix appears once validation has finished.</p>
              )}
            </section>
          )}

          <section aria-labelledby="versions-heading">
            <h2 id="versions-heading">Versions</h2>
            {props.versions.length === 0 ? (
              <p class="muted">No published version yet.</p>
            ) : (
              <ul class="versions">
                {props.versions.map((version) => (
                  <li class="card">
                    <a href={pageUrl(adapter, version.version, props.base)} aria-current={version.version === selected?.version ? 'true' : undefined}>
                      Version {version.version}
                    </a>
                    {version.version === selected?.version && <span class="muted"> (shown)</span>}
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
                <div class="scroll">
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
                </div>
                {!canDownload && <p class="muted">Get the adapter to download its files.</p>}
              </section>

              <HubSnippet endpoint={props.hubEndpoint} repo={`${adapter.team}/${adapter.slug}`} version={selected.version} />

              <section aria-labelledby="evals-heading">
                <h2 id="evals-heading">Eval results</h2>
                {selected.evals.length === 0 ? (
                  <p class="muted">The seller reported no eval results for this version.</p>
                ) : (
                  <div class="scroll">
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
                  </div>
                )}
              </section>
            </>
          )}

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
        </div>
      </div>
    </Layout>
  )
}
