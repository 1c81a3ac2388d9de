import { count, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { teamMembers, teams } from '../../src/identity/tables'
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

describe('addTeamMember', () => {
  it('lets an owner add an admin, and that admin add a member', async () => {
    const owner = await h.teamOwner()
    const admin = await h.user('admin')
    const member = await h.user('member')
    const added = await h.call('POST', `/v1/teams/${owner.team}/members`, {
      auth: owner.token,
      body: { email: admin.email.toUpperCase(), role: 'admin' },
    })
    expect(added.status).toBe(201)
    expect(added.json.member).toMatchObject({ userId: admin.id, email: admin.email, role: 'admin' })
    const byAdmin = await h.call('POST', `/v1/teams/${owner.team}/members`, {
      auth: admin.token,
      body: { email: member.email, role: 'member' },
    })
    expect(byAdmin.status).toBe(201)
    const list = await h.call('GET', `/v1/teams/${owner.team}/members`, { auth: member.token })
    expect(list.json.items.map((m: { role: string }) => m.role)).toEqual(['owner', 'admin', 'member'])
  })

  it('only owners may add owners; members may not add anyone', async () => {
    const owner = await h.teamOwner()
    const admin = await h.user('admin')
    const member = await h.user('member')
    const outsider = await h.user('outsider')
    await h.call('POST', `/v1/teams/${owner.team}/members`, { auth: owner.token, body: { email: admin.email, role: 'admin' } })
    await h.call('POST', `/v1/teams/${owner.team}/members`, { auth: owner.token, body: { email: member.email, role: 'member' } })
    const path = `/v1/teams/${owner.team}/members`
    expectProblem(await h.call('POST', path, { auth: admin.token, body: { email: outsider.email, role: 'owner' } }), 403, 'insufficient_role')
    expectProblem(await h.call('POST', path, { auth: member.token, body: { email: outsider.email, role: 'member' } }), 403, 'insufficient_role')
    const list = await h.call('GET', path, { auth: owner.token })
    expect(list.json.items).toHaveLength(3)
  })

  it('forbids another team from adding members or reading the member list', async () => {
    const victim = await h.teamOwner('victim')
    const attacker = await h.teamOwner('attacker')
    const path = `/v1/teams/${victim.team}/members`
    expectProblem(await h.call('POST', path, { auth: attacker.token, body: { email: attacker.email, role: 'owner' } }), 403, 'not_team_member')
    expectProblem(await h.call('GET', path, { auth: attacker.token }), 403, 'not_team_member')
    const [team] = await h.db.select().from(teams).where(eq(teams.slug, victim.team))
    const rows = await h.db.select().from(teamMembers).where(eq(teamMembers.teamId, team?.id ?? ''))
    expect(rows.map((r) => r.userId)).toEqual([victim.id])
  })

  it('answers 404 for an unknown team or user, 409 for an existing member, 401 anonymously', async () => {
    const owner = await h.teamOwner()
    const path = `/v1/teams/${owner.team}/members`
    expectProblem(await h.call('POST', `/v1/teams/${slug('ghost')}/members`, { auth: owner.token, body: { email: owner.email, role: 'member' } }), 404, 'not_found')
    expectProblem(await h.call('POST', path, { auth: owner.token, body: { email: 'nobody@example.test', role: 'member' } }), 404, 'user_not_found')
    expectProblem(await h.call('POST', path, { auth: owner.token, body: { email: owner.email, role: 'member' } }), 409, 'already_member')
    expectProblem(await h.call('POST', path, { body: { email: owner.email, role: 'member' } }), 401, 'unauthorized')
    expectProblem(await h.call('POST', path, { auth: owner.token, body: { email: owner.email, role: 'king' } }), 422, 'validation_failed')
  })
})
