import { readFile } from 'node:fs/promises'
import type { Schemas } from '../client'
import { formatPrice, parseMajorUnits } from '../lib/format'
import { CliError } from './check'
import type { Output } from './progress'
import { call, parseRef, type Remote } from './remote'

/** `refinery team create <slug>`: the caller owns the new team. */
export async function createTeam(remote: Remote, slug: string, name: string | undefined, out: Output) {
  const created = await call(remote.client.POST('/v1/teams', { body: { slug, name: name ?? slug } }))
  out.write(`✔ team ${created.team.slug} created; you are its ${created.role}\n`)
  return created
}

/** `refinery team invite <team> <email>`: nobody joins without accepting, so this only sends the invitation. */
export async function inviteMember(remote: Remote, team: string, email: string, role: Schemas['TeamRole'], out: Output) {
  const { invitation } = await call(remote.client.POST('/v1/teams/{team}/members', { params: { path: { team } }, body: { email, role } }))
  out.write(
    `✔ invitation sent to ${invitation.email} to join ${invitation.team} as ${invitation.role} (id ${invitation.id}, open until ${invitation.expiresAt.slice(0, 10)});\n` +
      '  they join when they accept it: refinery team accept <id>, or on their account page\n',
  )
  return invitation
}

/** `refinery team invitations`: the open invitations addressed to you. */
export async function listInvitations(remote: Remote, out: Output) {
  const { items } = await call(remote.client.GET('/v1/me/invitations'))
  if (items.length === 0) out.write('No open invitations.\n')
  for (const invitation of items) {
    out.write(`${invitation.id}  ${invitation.team} (${invitation.teamName}) as ${invitation.role}, from ${invitation.invitedBy ?? 'a team owner'}, open until ${invitation.expiresAt.slice(0, 10)}\n`)
  }
  return items
}

/** `refinery team accept|decline <invitation id>`. */
export async function decideInvitation(remote: Remote, id: string, decision: 'accept' | 'decline', out: Output) {
  const { invitation } = await call(remote.client.POST(`/v1/me/invitations/{id}/${decision}`, { params: { path: { id } } }))
  out.write(decision === 'accept' ? `✔ you joined ${invitation.team} as ${invitation.role}\n` : `✔ invitation to ${invitation.team} declined\n`)
  return invitation
}

export type ListingOptions = {
  title: string
  summary?: string
  descriptionFile?: string
  license?: string
  licenseFile?: string
  commercial?: boolean
  derivatives?: boolean
  task?: string
  domain?: string
  language?: string
  visibility?: Schemas['Visibility']
}

const list = (value: string | undefined) => (value ? value.split(',').map((item) => item.trim()).filter(Boolean) : [])

/** `refinery adapter create <team/slug>`: a listing that versions are published under. */
export async function createAdapter(remote: Remote, ref: string, options: ListingOptions, out: Output) {
  const { team, slug } = parseRef(ref, { version: 'optional' })
  if (!options.license && !options.licenseFile) throw new CliError('Give the licence: --license <SPDX id> and/or --license-file <text file>.')
  const created = await call(
    remote.client.POST('/v1/adapters', {
      body: {
        team,
        slug,
        title: options.title,
        summary: options.summary ?? '',
        description: options.descriptionFile ? await readFile(options.descriptionFile, 'utf8') : '',
        tags: { task: list(options.task), domain: list(options.domain), language: list(options.language) },
        license: {
          ...(options.license && { spdx: options.license }),
          ...(options.licenseFile && { text: await readFile(options.licenseFile, 'utf8') }),
          commercialUse: options.commercial === true,
          derivatives: options.derivatives === true,
        },
        visibility: options.visibility ?? 'draft',
      },
    }),
  )
  out.write(`✔ ${created.team}/${created.slug} created (${created.visibility}); publish a version with refinery publish <folder> --adapter ${created.team}/${created.slug}\n`)
  return created
}

/**
 * `refinery offer create <team/slug>`: free, on request, or a one-time price given in the
 * currency's major unit (`--price 49.00 --currency usd` is 4900 cents).
 */
export async function createOffer(
  remote: Remote,
  ref: string,
  options: { free?: boolean; onRequest?: boolean; price?: string; currency?: string; license: 'research' | 'commercial' },
  out: Output,
) {
  const { team, slug } = parseRef(ref, { version: 'optional' })
  const kinds = [options.free && 'free', options.onRequest && 'on_request', options.price !== undefined && 'one_time'].filter(Boolean)
  if (kinds.length !== 1) throw new CliError('Choose one: --free, --on-request, or --price <amount> --currency <code>.')
  let body: Schemas['CreateOffer'] = { kind: kinds[0] as Schemas['CreateOffer']['kind'], license: options.license }
  if (options.price !== undefined) body = { ...body, amount: minorUnits(options.price, '--price'), ...(options.currency && { currency: options.currency }) }
  const offer = await call(remote.client.POST('/v1/adapters/{team}/{slug}/offers', { params: { path: { team, slug } }, body }))
  out.write(`✔ offer ${describeOffer(offer)}\n`)
  return offer
}

/**
 * An amount in the currency's major unit, as every price flag takes it (`--price 49.90`,
 * `--max-price 50`), in the minor units (cents) the API counts in.
 */
export function minorUnits(text: string, flag: string) {
  const amount = parseMajorUnits(text)
  if (amount === undefined) throw new CliError(`${flag} ${text}: give an amount like 49 or 49.90 (in dollars, euros…, not cents).`)
  return amount
}

const describeOffer = (offer: Schemas['Offer']) =>
  `${offer.id}: ${offer.kind}${offer.amount ? ` ${formatPrice(offer.amount, offer.currency ?? 'usd')}` : ''}, ${offer.license} licence${offer.active ? '' : ' (withdrawn)'}`

/** `refinery offer list <team/slug>`: the listing's offers; its own team sees withdrawn ones too. */
export async function listOffers(remote: Remote, ref: string, out: Output) {
  const { team, slug } = parseRef(ref, { version: 'optional' })
  const { items } = await call(remote.client.GET('/v1/adapters/{team}/{slug}/offers', { params: { path: { team, slug } } }))
  if (items.length === 0) out.write(`${team}/${slug} has no offers.\n`)
  for (const offer of items) out.write(`${describeOffer(offer)}\n`)
  return items
}

/**
 * `refinery offer update <team/slug> <offer id>`: a new one-time price (`--price 59.00`), or
 * `--withdraw` / `--restore`. Buyers who hold a licence keep it either way.
 */
export async function updateOffer(
  remote: Remote,
  ref: string,
  offerId: string,
  options: { price?: string; currency?: string; active?: boolean },
  out: Output,
) {
  const { team, slug } = parseRef(ref, { version: 'optional' })
  const body: Schemas['UpdateOffer'] = {
    ...(options.price !== undefined && { amount: minorUnits(options.price, '--price') }),
    ...(options.currency !== undefined && { currency: options.currency }),
    ...(options.active !== undefined && { active: options.active }),
  }
  if (Object.keys(body).length === 0) throw new CliError('Say what changes: --price <amount> [--currency <code>], --withdraw or --restore.')
  const offer = await call(remote.client.PATCH('/v1/adapters/{team}/{slug}/offers/{offerId}', { params: { path: { team, slug, offerId } }, body }))
  out.write(`✔ offer ${describeOffer(offer)}; licences already granted stay\n`)
  return offer
}
