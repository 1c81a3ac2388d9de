import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_PENDING_INVITATIONS } from '../../src/identity/invitations'
import { teamInvitations, teamMembers } from '../../src/identity/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness } from '../helpers/harness'
import type { Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

let h: Harness
beforeAll(async () => {
  h = await createHarness()
})
afterAll(() => h.close())

const DAY_MS = 86_400_000
// Less than an access token's hour, so the test's tokens stay valid.
const HALF_HOUR_MS = 1_800_000

const invite = (inviter: { token: string }, team: string, email: string, role = 'member') =>
  h.call('POST', `/v1/teams/${team}/members`, { auth: inviter.token, body: { email, role } })
const accept = (person: { token: string }, id: string) => h.call('POST', `/v1/me/invitations/${id}/accept`, { auth: person.token })
const decline = (person: { token: string }, id: string) => h.call('POST', `/v1/me/invitations/${id}/decline`, { auth: person.token })
const mine = async (person: { token: string }) => (await h.call('GET', '/v1/me/invitations', { auth: person.token })).json.items as { id: string; team: string; role: string }[]
const members = async (owner: { token: string; team: string }) =>
  ((await h.call('GET', `/v1/teams/${owner.team}/members`, { auth: owner.token })).json.items as { userId: string }[]).map((m) => m.userId)

/** A fresh access token: the harness clock moved past the old one's hour. */
async function signIn(person: { email: string; password: string }) {
  const response = await h.call('POST', '/v1/login', { body: { email: person.email, password: person.password } })
  return { ...person, token: response.json.token as string }
}

describe('addTeamMember invites: nobody joins without consent', () => {
  it('a seller cannot silence a reviewer by putting them on the selling team', async () => {
    const seller = await h.teamOwner('seller')
    await createListing(h, seller, 'contract-law')
    await publishFolder(h, seller, 'contract-law', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/contract-law/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    const reviewer = await h.user('reviewer')
    expect((await h.call('POST', '/v1/checkout', { auth: reviewer.token, body: { offerId: offer.json.id } })).status).toBe(201)

    const forced = await invite(seller, seller.team, reviewer.email)
    expect(forced.status).toBe(202)
    expect(await members(seller)).toEqual([seller.id])

    const review = await h.call('POST', `/v1/adapters/${seller.team}/contract-law/versions/1.0.0/reviews`, {
      auth: reviewer.token,
      body: { rating: 1, text: 'Misses most indemnity clauses.' },
    })
    expect(review.status).toBe(201)
    expect((await decline(reviewer, forced.json.invitation.id)).json.invitation.status).toBe('declined')
    expect(await members(seller)).toEqual([seller.id])
  })

  it('answers a registered and an unregistered email alike', async () => {
    const owner = await h.teamOwner()
    const registered = await h.user('registered')
    const unregistered = `nobody-${crypto.randomUUID().slice(0, 8)}@example.test`
    const known = await invite(owner, owner.team, registered.email.toUpperCase())
    const unknown = await invite(owner, owner.team, unregistered)

    expect([known.status, unknown.status]).toEqual([202, 202])
    expect(known.headers.get('content-type')).toBe(unknown.headers.get('content-type'))
    const shape = (body: { invitation: Record<string, unknown> }) => ({ ...body.invitation, id: 'id', email: 'email', expiresAt: 'at', createdAt: 'at' })
    expect(shape(known.json)).toEqual(shape(unknown.json))
    expect(known.json.invitation).toMatchObject({ email: registered.email, role: 'member', status: 'pending', team: owner.team, invitedBy: expect.any(String) })
    expect(unknown.json.invitation.email).toBe(unregistered)
    // Same body length but for the email itself.
    expect(known.text.length - registered.email.length).toBe(unknown.text.length - unregistered.length)
  })

  it('refreshes an open invitation instead of duplicating it', async () => {
    const owner = await h.teamOwner()
    const invitee = await h.user('invitee')
    const first = await invite(owner, owner.team, invitee.email, 'member')
    h.advanceClock(HALF_HOUR_MS)
    const again = await invite(owner, owner.team, invitee.email, 'admin')
    expect(again.json.invitation.id).toBe(first.json.invitation.id)
    expect(again.json.invitation.role).toBe('admin')
    expect(Date.parse(again.json.invitation.expiresAt) - Date.parse(first.json.invitation.expiresAt)).toBeGreaterThanOrEqual(HALF_HOUR_MS)
    const listed = await h.call('GET', `/v1/teams/${owner.team}/invitations`, { auth: owner.token })
    expect(listed.json.items).toEqual([expect.objectContaining({ id: first.json.invitation.id, role: 'admin', status: 'pending' })])
  })

  it('only owners and admins invite, only owners invite owners; members are 409, other teams 403', async () => {
    const owner = await h.teamOwner()
    const admin = await h.user('admin')
    const member = await h.user('member')
    const outsider = await h.teamOwner('outsider')
    await h.addMember(owner, owner.team, admin, 'admin')
    await h.addMember(owner, owner.team, member, 'member')
    const path = `/v1/teams/${owner.team}/members`

    expect((await invite(admin, owner.team, outsider.email, 'admin')).status).toBe(202)
    expectProblem(await invite(admin, owner.team, outsider.email, 'owner'), 403, 'insufficient_role')
    expectProblem(await invite(member, owner.team, outsider.email), 403, 'insufficient_role')
    expectProblem(await invite(outsider, owner.team, outsider.email, 'owner'), 403, 'not_team_member')
    expectProblem(await invite(owner, owner.team, member.email.toUpperCase()), 409, 'already_member')
    expectProblem(await invite(owner, `ghost-${crypto.randomUUID().slice(0, 6)}`, outsider.email), 404, 'not_found')
    expectProblem(await h.call('POST', path, { body: { email: outsider.email, role: 'member' } }), 401, 'unauthorized')
    expectProblem(await invite(owner, owner.team, outsider.email, 'king'), 422, 'validation_failed')
    expectProblem(await invite(owner, owner.team, 'not an email'), 422, 'validation_failed')
    expectProblem(await h.call('GET', `/v1/teams/${owner.team}/invitations`, { auth: member.token }), 403, 'insufficient_role')
    expectProblem(await h.call('GET', `/v1/teams/${owner.team}/invitations`, { auth: outsider.token }), 403, 'not_team_member')
    expect((await h.call('GET', `/v1/teams/${owner.team}/invitations`, { auth: admin.token })).json.items).toHaveLength(1)
    expect(await members(owner)).toEqual([owner.id, admin.id, member.id])
  })

  it(`caps a team's open invitations at ${MAX_PENDING_INVITATIONS}`, async () => {
    const owner = await h.teamOwner()
    for (let n = 0; n < MAX_PENDING_INVITATIONS; n++) {
      expect((await invite(owner, owner.team, `cap-${n}-${owner.team}@example.test`)).status).toBe(202)
    }
    expectProblem(await invite(owner, owner.team, `one-more-${owner.team}@example.test`), 409, 'too_many_invitations')
    // Refreshing an open one is not a new one.
    expect((await invite(owner, owner.team, `cap-0-${owner.team}@example.test`)).status).toBe(202)
  })
})

describe('the invitee decides', () => {
  it('sees the invitation, accepts it and joins with its role; it is then closed', async () => {
    const owner = await h.teamOwner()
    const invitee = await h.user('invitee')
    const { invitation } = (await invite(owner, owner.team, invitee.email, 'admin')).json
    expect(await mine(invitee)).toEqual([expect.objectContaining({ id: invitation.id, team: owner.team, role: 'admin', status: 'pending', invitedBy: expect.any(String) })])

    const accepted = await accept(invitee, invitation.id)
    expect(accepted.status).toBe(200)
    expect(accepted.json.invitation).toMatchObject({ id: invitation.id, status: 'accepted' })
    expect((await h.call('GET', '/v1/me', { auth: invitee.token })).json.teams).toEqual([expect.objectContaining({ slug: owner.team, role: 'admin' })])
    expect(await mine(invitee)).toEqual([])
    expectProblem(await accept(invitee, invitation.id), 409, 'invitation_not_pending')
    expectProblem(await decline(invitee, invitation.id), 409, 'invitation_not_pending')
    expect((await h.call('GET', `/v1/teams/${owner.team}/invitations`, { auth: owner.token })).json.items).toEqual([])
  })

  it('declines: the team is unchanged and may invite again', async () => {
    const owner = await h.teamOwner()
    const invitee = await h.user('invitee')
    const { invitation } = (await invite(owner, owner.team, invitee.email)).json
    expect((await decline(invitee, invitation.id)).json.invitation.status).toBe('declined')
    expectProblem(await accept(invitee, invitation.id), 409, 'invitation_not_pending')
    expect(await members(owner)).toEqual([owner.id])
    const again = (await invite(owner, owner.team, invitee.email)).json.invitation
    expect(again.id).not.toBe(invitation.id)
    expect((await accept(invitee, again.id)).status).toBe(200)
  })

  it('cannot accept after the invitation expires; inviting again reopens it', async () => {
    const owner = await h.teamOwner()
    const invitee = await h.user('invitee')
    const { invitation } = (await invite(owner, owner.team, invitee.email)).json
    h.advanceClock(7 * DAY_MS + 1000)
    const [ownerNow, inviteeNow] = [await signIn(owner), await signIn(invitee)]

    expectProblem(await accept(inviteeNow, invitation.id), 409, 'invitation_expired')
    expectProblem(await decline(inviteeNow, invitation.id), 409, 'invitation_expired')
    expect(await mine(inviteeNow)).toEqual([])
    expect((await h.call('GET', `/v1/teams/${owner.team}/invitations`, { auth: ownerNow.token })).json.items).toEqual([
      expect.objectContaining({ id: invitation.id, status: 'expired' }),
    ])
    expect(await members({ ...ownerNow, team: owner.team })).toEqual([owner.id])

    const reopened = (await invite(ownerNow, owner.team, invitee.email)).json.invitation
    expect(reopened).toMatchObject({ id: invitation.id, status: 'pending' })
    expect((await accept(inviteeNow, invitation.id)).status).toBe(200)
  })

  it("another person cannot see, accept or decline someone else's invitation: 404, like an unknown id", async () => {
    const owner = await h.teamOwner()
    const invitee = await h.user('invitee')
    const intruder = await h.user('intruder')
    const { invitation } = (await invite(owner, owner.team, invitee.email)).json
    expect(await mine(intruder)).toEqual([])
    expectProblem(await accept(intruder, invitation.id), 404, 'not_found')
    expectProblem(await decline(intruder, invitation.id), 404, 'not_found')
    expectProblem(await accept(owner, invitation.id), 404, 'not_found')
    expectProblem(await accept(intruder, crypto.randomUUID()), 404, 'not_found')
    expectProblem(await accept(intruder, 'not-a-uuid'), 422, 'validation_failed')
    expectProblem(await h.call('POST', `/v1/me/invitations/${invitation.id}/accept`), 401, 'unauthorized')
    expectProblem(await h.call('GET', '/v1/me/invitations'), 401, 'unauthorized')
    const [row] = await h.db.select().from(teamInvitations).where(eq(teamInvitations.id, invitation.id))
    expect(row?.status).toBe('pending')
    expect(await members(owner)).toEqual([owner.id])
  })

  it("a team-bound key cannot act on its holder's invitations; a read key may list but not accept", async () => {
    const owner = await h.teamOwner()
    const invitee = await h.teamOwner('invitee')
    const { invitation } = (await invite(owner, owner.team, invitee.email)).json
    const bound = (await h.call('POST', '/v1/api-keys', { auth: invitee.token, body: { name: 'ci', scopes: ['admin'], team: invitee.team } })).json.key
    const reader = (await h.call('POST', '/v1/api-keys', { auth: invitee.token, body: { name: 'ro', scopes: ['read'] } })).json.key
    expectProblem(await h.call('GET', '/v1/me/invitations', { auth: bound }), 403, 'key_team_mismatch')
    expectProblem(await accept({ token: bound }, invitation.id), 403, 'key_team_mismatch')
    expect(await mine({ token: reader })).toHaveLength(1)
    expectProblem(await accept({ token: reader }, invitation.id), 403, 'insufficient_scope')
    const rows = await h.db.select().from(teamMembers).where(eq(teamMembers.userId, invitee.id))
    expect(rows).toHaveLength(1)
  })
})

describe('revokeTeamInvitation', () => {
  it('withdraws an open invitation; only owners withdraw one to become owner; others get 403/404', async () => {
    const owner = await h.teamOwner()
    const admin = await h.user('admin')
    const invitee = await h.user('invitee')
    const outsider = await h.teamOwner('outsider')
    await h.addMember(owner, owner.team, admin, 'admin')
    const asMember = (await invite(owner, owner.team, invitee.email)).json.invitation
    const asOwner = (await invite(owner, owner.team, `future-owner-${owner.team}@example.test`, 'owner')).json.invitation
    const revoke = (caller: { token: string }, id: string, team = owner.team) => h.call('DELETE', `/v1/teams/${team}/invitations/${id}`, { auth: caller.token })

    expectProblem(await revoke(outsider, asMember.id), 403, 'not_team_member')
    expectProblem(await revoke(outsider, asMember.id, outsider.team), 404, 'not_found')
    expectProblem(await revoke(admin, asOwner.id), 403, 'insufficient_role')
    expectProblem(await revoke(owner, crypto.randomUUID()), 404, 'not_found')

    const revoked = await revoke(admin, asMember.id)
    expect(revoked.status).toBe(200)
    expect(revoked.json.invitation.status).toBe('revoked')
    expectProblem(await revoke(admin, asMember.id), 409, 'invitation_not_pending')
    expectProblem(await accept(invitee, asMember.id), 409, 'invitation_not_pending')
    expect(await mine(invitee)).toEqual([])
    expect((await revoke(owner, asOwner.id)).json.invitation.status).toBe('revoked')
    expect(await members(owner)).toEqual([owner.id, admin.id])
  })
})
