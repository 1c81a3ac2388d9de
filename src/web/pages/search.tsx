import type { PriceSummary } from '../../commerce'
import type { Principal } from '../../identity'
import { formatPrice } from '../../lib/format'
import { Layout } from '../layout'

type Result = {
  id: string
  team: string
  slug: string
  title: string
  summary: string
  tags: { task: string[]; domain: string[]; language: string[] }
  license: { spdx: string | null; commercialUse: boolean }
  downloads: number
  rating: { average: number; count: number }
  latestVersion: string | null
  compatibleBases: string[]
}

export type SearchPageProps = {
  principal: Principal | null
  query: Record<string, string>
  bases: string[]
  results: { items: Result[]; nextCursor: string | null } | null
  prices: Map<string, PriceSummary>
  error?: string | undefined
}

const ENGINES = [
  ['vllm', 'vLLM'],
  ['lorax', 'LoRAX'],
  ['tgi', 'TGI'],
  ['llamacpp', 'llama.cpp'],
] as const
const SORTS = [
  ['', 'Best match / newest'],
  ['newest', 'Newest'],
  ['downloads', 'Most downloaded'],
  ['rating', 'Best rated'],
] as const

export function price(summary: PriceSummary | undefined) {
  if (!summary) return 'not for sale yet'
  const parts = [summary.free && 'free', summary.from && `from ${formatPrice(summary.from.amount, summary.from.currency)}`, summary.onRequest && 'on request']
  return parts.filter(Boolean).join(' · ')
}

/** `/`: search with the same query parameters as searchAdapters; works as a plain GET form. */
export function SearchPage({ principal, query, bases, results, prices, error }: SearchPageProps) {
  const next = results?.nextCursor ? `/?${new URLSearchParams({ ...query, cursor: results.nextCursor })}` : null
  return (
    <Layout title="Find a LoRA adapter" principal={principal} notice={error ? { text: error, error: true } : undefined}>
      <h1>Find an adapter for the base model you run</h1>
      <div class="grid">
        <form class="filters card" method="get" action="/" role="search" aria-label="Search adapters">
          <label for="q">Words</label>
          <input id="q" name="q" type="search" value={query.q ?? ''} placeholder="contract law, SQL, medical…" />
          <label for="base">Base model you run</label>
          <select id="base" name="base">
            <option value="">Any base model</option>
            {bases.map((id) => (
              <option value={id} selected={query.base === id}>
                {id}
              </option>
            ))}
          </select>
          <label for="runtime">Serving engine</label>
          <select id="runtime" name="runtime">
            <option value="">Any engine</option>
            {ENGINES.map(([value, label]) => (
              <option value={value} selected={query.runtime === value}>
                {label}
              </option>
            ))}
          </select>
          <label for="tag">Task, domain or language tag</label>
          <input id="tag" name="tag" type="text" value={query.tag ?? ''} placeholder="chat, legal, zh" />
          <label for="license">Licence (SPDX id)</label>
          <input id="license" name="license" type="text" value={query.license ?? ''} placeholder="Apache-2.0" />
          <label>
            <input type="checkbox" name="commercial" value="true" checked={query.commercial === 'true'} /> Commercial use allowed
          </label>
          <label for="maxPrice">Highest price (cents)</label>
          <input id="maxPrice" name="maxPrice" type="number" min="0" value={query.maxPrice ?? ''} />
          <label for="currency">Currency</label>
          <select id="currency" name="currency">
            <option value="">Any</option>
            {['usd', 'eur', 'gbp', 'cny'].map((code) => (
              <option value={code} selected={query.currency === code}>
                {code.toUpperCase()}
              </option>
            ))}
          </select>
          <label for="sort">Sort</label>
          <select id="sort" name="sort">
            {SORTS.map(([value, label]) => (
              <option value={value} selected={(query.sort ?? '') === value}>
                {label}
              </option>
            ))}
          </select>
          <p>
            <button type="submit">Search</button>
          </p>
        </form>
        <section aria-label="Results">
          {results && results.items.length === 0 && <p class="card">No adapters match. Try another base model or fewer filters.</p>}
          {results?.items.map((item) => (
            <article class="card result">
              <h3>
                <a href={`/${item.team}/${item.slug}${query.base ? `?${new URLSearchParams({ base: query.base })}` : ''}`}>{item.title}</a>
              </h3>
              <p class="muted">
                {item.team}/{item.slug}
                {item.latestVersion && ` · v${item.latestVersion}`} · {item.downloads} downloads ·{' '}
                {item.rating.count > 0 ? `★ ${item.rating.average.toFixed(1)} (${item.rating.count})` : 'no reviews'} · {price(prices.get(item.id))}
              </p>
              {item.summary && <p>{item.summary}</p>}
              <p class="tags">
                {[...item.tags.task, ...item.tags.domain, ...item.tags.language].map((tag) => (
                  <span>{tag}</span>
                ))}
                <span>{item.license.spdx ?? 'custom licence'}</span>
                {item.license.commercialUse && <span>commercial use</span>}
              </p>
              <p>
                Fits: <span class="compatible-bases">{item.compatibleBases.join(', ')}</span>
              </p>
            </article>
          ))}
          {next && (
            <p>
              <a class="button secondary" href={next}>
                Next page
              </a>
            </p>
          )}
        </section>
      </div>
    </Layout>
  )
}
