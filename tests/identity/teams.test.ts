import { and, count, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { apiKeys, teamMembers, teams } from '../../src/identity/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness } from '../helpers/harness'
import type { Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

let h: Harness
beforeAll(async () => {
  h = await createHarness()
})
afterAll(() => h.close())

const slug = (base: string) => `${base}-${crypto.randomUUID().slice(0, 6)}`

describe('createTeam', () => {
  it('creates the team with the caller as owner', async () => {
    const u = await h.user()
    const teamSlug = slug('acme')
    const response = await h.call('POST', '/v1/teams', { auth: u.token, body: { slug: teamSlug, name: 'Acme Labs' } })
    expect(response.status).toBe(201)
    expect(response.json).toMatchObject({ team: { slug: teamSlug, name: 'Acme Labs' }, role: 'owner' })
    const members = await h.call('GET', `/v1/teams/${teamSlug}/members`, { auth: u.token })
    expect(members.json.items).toEqual([expect.objectContaining({ userId: u.id, role: 'owner' })])
  })

  it('answers 409 for a taken or reserved slug and leaves no stray rows', async () => {
    const owner = await h.teamOwner('taken')
    const other = await h.user()
    const before = await h.db.select({ n: count() }).from(teamMembers)
    expectProblem(await h.call('POST', '/v1/teams', { auth: other.token, body: { slug: owner.team, name: 'X' } }), 409, 'team_slug_taken')
    expectProblem(await h.call('POST', '/v1/teams', { auth: other.token, body: { slug: 'docs', name: 'X' } }), 409, 'team_slug_taken')
    expect(await h.db.select({ n: count() }).from(teamMembers)).toEqual(before)
  })

  it.each([['Upper'], ['-lead'], ['trail-'], ['a'], ['has space'], ['x'.repeat(41)], ['dots.not.allowed']])(
    'rejects the slug %j with 422',
    async (badSlug) => {
      const u = await h.user()
      expectProblem(await h.call('POST', '/v1/teams', { auth: u.token, body: { slug: badSlug, name: 'X' } }), 422, 'validation_failed')
    },
  )

  it('answers 401 without credentials and 422 without a body', async () => {
    expectProblem(await h.call('POST', '/v1/teams', { body: { slug: slug('anon'), name: 'X' } }), 401, 'unauthorized')
    const u = await h.user()
    expectProblem(await h.call('POST', '/v1/teams', { auth: u.token }), 422, 'validation_failed')
  })
})

type Person = { token: string; email: string; id: string }

const membersOf = async (owner: { token: string; team: string }) =>
  ((await h.call('GET', `/v1/teams/${owner.team}/members`, { auth: owner.token })).json.items as { userId: string; role: string }[]).map((m) => [m.userId, m.role])

const setRole = (caller: { token: string }, team: string, member: Person, role: string) =>
  h.call('PATCH', `/v1/teams/${team}/members/${member.id}`, { auth: caller.token, body: { role } })

const remove = (caller: { token: string }, team: string, member: Person) =>
  h.call('DELETE', `/v1/teams/${team}/members/${member.id}`, { auth: caller.token })

const leave = (caller: { token: string }, team: string) => h.call('POST', `/v1/teams/${team}/leave`, { auth: caller.token })

describe('updateTeamMember', () => {
  it("lets owners and admins change roles; admins cannot touch owners or make owners; members cannot", async () => {
    const owner = await h.teamOwner()
    const admin = await h.user('admin')
    const member = await h.user('member')
    await h.addMember(owner, owner.team, admin, 'admin')
    await h.addMember(owner, owner.team, member, 'member')

    const promoted = await setRole(admin, owner.team, member, 'admin')
    expect(promoted.status).toBe(200)
    expect(promoted.json.member).toMatchObject({ userId: member.id, role: 'admin' })
    expect((await setRole(owner, owner.team, member, 'member')).json.member.role).toBe('member')

    expectProblem(await setRole(admin, owner.team, member, 'owner'), 403, 'insufficient_role')
    expectProblem(await setRole(admin, owner.team, owner, 'member'), 403, 'insufficient_role')
    expectProblem(await setRole(member, owner.team, admin, 'member'), 403, 'insufficient_role')
    expectProblem(await setRole(member, owner.team, member, 'admin'), 403, 'insufficient_role')
    expect(await membersOf(owner)).toEqual([[owner.id, 'owner'], [admin.id, 'admin'], [member.id, 'member']])

    expect((await setRole(owner, owner.team, admin, 'owner')).json.member.role).toBe('owner')
  })

  it("answers 404 for a non-member or unknown user, 403 to another team, 422 for a bad role or id", async () => {
    const owner = await h.teamOwner()
    const outsider = await h.teamOwner('outsider')
    expectProblem(await setRole(owner, owner.team, outsider, 'member'), 404, 'not_found')
    expectProblem(await setRole(owner, owner.team, { ...outsider, id: crypto.randomUUID() }, 'member'), 404, 'not_found')
    expectProblem(await setRole(outsider, owner.team, owner, 'member'), 403, 'not_team_member')
    expectProblem(await setRole(owner, owner.team, owner, 'king'), 422, 'validation_failed')
    expectProblem(await h.call('PATCH', `/v1/teams/${owner.team}/members/not-a-uuid`, { auth: owner.token, body: { role: 'member' } }), 422, 'validation_failed')
    expectProblem(await h.call('PATCH', `/v1/teams/${owner.team}/members/${owner.id}`, { body: { role: 'member' } }), 401, 'unauthorized')
    expect(await membersOf(owner)).toEqual([[owner.id, 'owner']])
  })
})

describe('the last owner', () => {
  it('can neither leave, be removed nor be demoted (409 last_owner); with a second owner, one may step down and leave', async () => {
    const owner = await h.teamOwner()
    const second = await h.user('second')
    expectProblem(await leave(owner, owner.team), 409, 'last_owner')
    expectProblem(await remove(owner, owner.team, owner), 409, 'last_owner')
    expectProblem(await setRole(owner, owner.team, owner, 'admin'), 409, 'last_owner')
    expect(await membersOf(owner)).toEqual([[owner.id, 'owner']])

    await h.addMember(owner, owner.team, second, 'owner')
    expect((await setRole(second, owner.team, owner, 'admin')).status).toBe(200)
    expectProblem(await setRole(second, owner.team, second, 'member'), 409, 'last_owner')
    // The demoted owner, now an admin, cannot remove or demote the remaining owner.
    expectProblem(await remove(owner, owner.team, second), 403, 'insufficient_role')
    expect((await leave(owner, owner.team)).status).toBe(200)
    expect(await membersOf({ ...second, team: owner.team })).toEqual([[second.id, 'owner']])
  })
})

describe('the last owner under concurrency', () => {
  it('two owners demoting each other (or both leaving) at once leave exactly one owner', async () => {
    for (const action of ['demote', 'leave'] as const) {
      const first = await h.teamOwner()
      const second = await h.user('second')
      await h.addMember(first, first.team, second, 'owner')
      const answers = await Promise.all(
        action === 'demote'
          ? [setRole(first, first.team, second, 'admin'), setRole(second, first.team, first, 'admin')]
          : [leave(first, first.team), leave(second, first.team)],
      )
      // The loser reads the state the winner left: no longer an owner (403) or the last one (409).
      expect(answers.filter((answer) => answer.status === 200), action).toHaveLength(1)
      expect(['insufficient_role', 'last_owner'], action).toContain(answers.find((answer) => answer.status !== 200)?.json.code)
      const [team] = await h.db.select().from(teams).where(eq(teams.slug, first.team))
      const owners = await h.db.select().from(teamMembers).where(and(eq(teamMembers.teamId, team?.id ?? ''), eq(teamMembers.role, 'owner')))
      expect(owners, action).toHaveLength(1)
    }
  })
})

describe('removeTeamMember and leaveTeam', () => {
  it('lets owners and admins remove members, not owners; members remove nobody but may leave', async () => {
    const owner = await h.teamOwner()
    const admin = await h.user('admin')
    const member = await h.user('member')
    const leaver = await h.user('leaver')
    await h.addMember(owner, owner.team, admin, 'admin')
    await h.addMember(owner, owner.team, member, 'member')
    await h.addMember(owner, owner.team, leaver, 'member')

    expectProblem(await remove(member, owner.team, leaver), 403, 'insufficient_role')
    expectProblem(await remove(admin, owner.team, owner), 403, 'insufficient_role')
    const removed = await remove(admin, owner.team, member)
    expect(removed.status).toBe(200)
    expect(removed.json.member).toMatchObject({ userId: member.id, role: 'member' })
    expectProblem(await remove(admin, owner.team, member), 404, 'not_found')
    expectProblem(await h.call('GET', `/v1/teams/${owner.team}/members`, { auth: member.token }), 403, 'not_team_member')

    expect((await leave(leaver, owner.team)).json.member).toMatchObject({ userId: leaver.id })
    expectProblem(await leave(leaver, owner.team), 403, 'not_team_member')
    expect((await h.call('GET', '/v1/me', { auth: leaver.token })).json.teams).toEqual([])
    expect(await membersOf(owner)).toEqual([[owner.id, 'owner'], [admin.id, 'admin']])
  })

  it('refuses another team, anonymous callers and unknown teams, changing nothing', async () => {
    const victim = await h.teamOwner('victim')
    const attacker = await h.teamOwner('attacker')
    const colleague = await h.user('colleague')
    await h.addMember(victim, victim.team, colleague, 'member')
    expectProblem(await remove(attacker, victim.team, colleague), 403, 'not_team_member')
    expectProblem(await leave(attacker, victim.team), 403, 'not_team_member')
    expectProblem(await h.call('POST', `/v1/teams/${victim.team}/leave`), 401, 'unauthorized')
    expectProblem(await leave(victim, slug('ghost')), 404, 'not_found')
    // A member's key bound to another of their teams cannot act on this one.
    const elsewhere = slug('elsewhere')
    await h.call('POST', '/v1/teams', { auth: colleague.token, body: { slug: elsewhere, name: 'Elsewhere' } })
    const bound = (await h.call('POST', '/v1/api-keys', { auth: colleague.token, body: { name: 'x', scopes: ['admin'], team: elsewhere } })).json
    expectProblem(await leave({ token: bound.key }, victim.team), 403, 'key_team_mismatch')
    expect(await membersOf(victim)).toEqual([[victim.id, 'owner'], [colleague.id, 'member']])
  })
})

describe('leaving ends access', () => {
  /** A buyer team holding a licence to a seller's adapter, with two admins who each made a team-bound key. */
  async function buyerTeam() {
    const seller = await h.teamOwner('seller')
    const slugName = 'contract-law'
    await createListing(h, seller, slugName)
    await publishFolder(h, seller, slugName, '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/${slugName}/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    const buyer = await h.teamOwner('buyer')
    const colleague = await h.user('colleague')
    await h.addMember(buyer, buyer.team, colleague, 'admin')
    const claimed = await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id, team: buyer.team } })
    expect(claimed.status).toBe(201)
    const teamKey = async (person: { token: string }, name: string) =>
      (await h.call('POST', '/v1/api-keys', { auth: person.token, body: { name, scopes: ['read', 'purchase'], team: buyer.team } })).json as { key: string; apiKey: { id: string } }
    const personal = (await h.call('POST', '/v1/api-keys', { auth: colleague.token, body: { name: 'personal', scopes: ['read'] } })).json as { key: string }
    const file = `/v1/adapters/${seller.team}/${slugName}/versions/1.0.0/files/adapter_config.json`
    const download = (auth: string) => h.call('GET', file, { auth, headers: { Accept: 'application/json' } })
    return { buyer, colleague, ownerKey: await teamKey(buyer, 'owner ci'), colleagueKey: await teamKey(colleague, 'colleague ci'), personal, download, adapter: `${seller.team}/${slugName}` }
  }

  it.each(['leaves', 'is removed'] as const)(
    "a member who %s loses the team's licence and their team-bound keys; other members' keys keep working",
    async (how) => {
      const { buyer, colleague, ownerKey, colleagueKey, personal, download, adapter } = await buyerTeam()
      expect((await download(colleague.token)).status).toBe(200)
      expect((await download(colleagueKey.key)).status).toBe(200)
      const held = (await h.call('GET', '/v1/me/entitlements', { auth: colleague.token })).json.items
      expect(held.map((e: { adapter: string }) => e.adapter)).toEqual([adapter])

      const ended = how === 'leaves' ? await leave(colleague, buyer.team) : await remove(buyer, buyer.team, colleague)
      expect(ended.status).toBe(200)

      expectProblem(await download(colleague.token), 403, 'not_entitled')
      expectProblem(await download(colleagueKey.key), 401, 'api_key_revoked')
      expect((await h.call('GET', '/v1/me/entitlements', { auth: colleague.token })).json.items).toEqual([])
      // Their own unbound key still works for what is theirs; the team's other keys are untouched.
      expect((await h.call('GET', '/v1/me', { auth: personal.key })).status).toBe(200)
      expect((await download(ownerKey.key)).status).toBe(200)
      expect((await download(buyer.token)).status).toBe(200)
      const [revoked] = await h.db.select().from(apiKeys).where(eq(apiKeys.id, colleagueKey.apiKey.id))
      expect(revoked?.revokedAt).toBeInstanceOf(Date)
      const [team] = await h.db.select().from(teams).where(eq(teams.slug, buyer.team))
      const live = await h.db.select().from(apiKeys).where(and(eq(apiKeys.teamId, team?.id ?? ''), eq(apiKeys.userId, buyer.id)))
      expect(live.map((key) => key.revokedAt)).toEqual([null])
    },
  )
})
