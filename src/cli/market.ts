import type { operations, Schemas } from '../client'
import { formatPrice } from '../lib/format'
import { CliError } from './check'
import type { Output } from './progress'
import { call, parseRef, type Remote } from './remote'

export type SearchQuery = NonNullable<operations['searchAdapters']['parameters']['query']>

/** `refinery search`: one line per adapter, and the cursor for the next page. */
export async function search(remote: Remote, query: SearchQuery, out: Output, json: boolean) {
  const results = await call(remote.client.GET('/v1/adapters', { params: { query } }))
  if (json) {
    out.write(`${JSON.stringify(results, null, 2)}\n`)
    return results
  }
  if (results.items.length === 0) out.write('No adapters match.\n')
  for (const item of results.items) {
    const rating = item.rating.count > 0 ? `★ ${item.rating.average.toFixed(1)} (${item.rating.count})` : 'no reviews'
    const license = `${item.license.spdx ?? 'custom'}${item.license.commercialUse ? '' : ', non-commercial'}`
    out.write(`${item.team}/${item.slug}${item.latestVersion ? `@${item.latestVersion}` : ''}  ${item.title}\n`)
    out.write(`    ${item.downloads} downloads · ${rating} · ${license}\n`)
    if (item.compatibleBases.length > 0) out.write(`    fits ${item.compatibleBases.join(', ')}\n`)
  }
  if (results.nextCursor) out.write(`More: add --cursor ${results.nextCursor}\n`)
  return results
}

const price = (offer: Schemas['Offer']) =>
  offer.kind === 'one_time' ? formatPrice(offer.amount ?? 0, offer.currency ?? 'usd') : offer.kind === 'free' ? 'free' : 'on request'

/**
 * `refinery buy`: claims a free offer, files an access request, or starts a checkout and returns
 * its URL for the buyer to pay in a browser. With several offers, `offer` picks one.
 */
export async function buy(remote: Remote, ref: string, options: { offer?: string; team?: string; message?: string }, out: Output) {
  const { team, slug } = parseRef(ref, { version: 'optional' })
  const { items } = await call(remote.client.GET('/v1/adapters/{team}/{slug}/offers', { params: { path: { team, slug } } }))
  const active = items.filter((offer) => offer.active)
  const offer = options.offer ? active.find((candidate) => candidate.id === options.offer) : active.length === 1 ? active[0] : undefined
  if (!offer) {
    const list = active.map((candidate) => `  --offer ${candidate.id}  ${candidate.kind}, ${candidate.license} licence, ${price(candidate)}`).join('\n')
    throw new CliError(
      active.length === 0
        ? `${team}/${slug} has no offers.`
        : `${options.offer ? `No active offer ${options.offer}` : `${team}/${slug} has ${active.length} offers`}; pick one:\n${list}`,
    )
  }
  if (offer.kind === 'on_request' && !options.message) {
    throw new CliError('This offer is on request: add --message "<who you are and what you will use it for>" (10 characters or more).')
  }
  const result = await call(
    remote.client.POST('/v1/checkout', {
      body: { offerId: offer.id, ...(options.team && { team: options.team }), ...(options.message && { message: options.message }) },
    }),
  )
  if (result.kind === 'entitlement') {
    out.write(`✔ entitled to ${result.entitlement.adapter} (${result.entitlement.license} licence); refinery pull ${team}/${slug} downloads it\n`)
  } else if (result.kind === 'access_request') {
    out.write(`… access requested (${result.accessRequest.status}); ${team} decides, then refinery pull works\n`)
  } else {
    out.write(`Pay ${price(offer)} for ${team}/${slug} (${offer.license} licence) at:\n${result.checkoutUrl}\n`)
  }
  return result
}
