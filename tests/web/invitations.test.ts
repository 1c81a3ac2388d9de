import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from '../helpers/harness'
import { formPost, ORIGIN, signIn } from '../helpers/web'

type Person = { email: string; password: string; token: string; id: string }

const post = (cookie: string, origin = ORIGIN) => formPost({}, cookie, origin)

describe('storefront: team invitations on /me', () => {
  let h: Harness
  let owner: Person & { team: string }
  let invitee: Person
  let inviteeCookie: string


  const get = async (path: string, cookie: string) => (await h.app.request(path, { headers: { Cookie: cookie } })).text()
  const invite = async (team: { token: string; team: string }, email: string, role = 'member') =>
    (await h.call('POST', `/v1/teams/${team.team}/members`, { auth: team.token, body: { email, role } })).json.invitation.id as string
  const teamsOf = async (person: { token: string }) => ((await h.call('GET', '/v1/me', { auth: person.token })).json.teams as { slug: string }[]).map((team) => team.slug)

  beforeAll(async () => {
    h = await createHarness()
    owner = await h.teamOwner('inviting')
    invitee = await h.user('invitee')
    inviteeCookie = await signIn(h, invitee)
  })
  afterAll(() => h.close())

  it('shows a pending invitation with accept and decline forms; accepting joins the team', async () => {
    const id = await invite(owner, invitee.email, 'admin')
    const html = await get('/me', inviteeCookie)
    expect(html).toContain('Team invitations')
    expect(html).toContain(`Team ${owner.team}`)
    expect(html).toContain('as an admin')
    expect(html).toContain(`action="/me/invitations/${id}/accept"`)
    expect(html).toContain(`action="/me/invitations/${id}/decline"`)

    // A page on another site cannot make the invitee join.
    expect((await h.app.request(`/me/invitations/${id}/accept`, post(inviteeCookie, 'https://evil.example'))).status).toBe(403)
    expect(await teamsOf(invitee)).toEqual([])

    const accepted = await h.app.request(`/me/invitations/${id}/accept`, post(inviteeCookie))
    expect(accepted.status).toBe(303)
    expect(accepted.headers.get('Location')).toBe(`/me?joined=${owner.team}`)
    expect(await teamsOf(invitee)).toEqual([owner.team])
    const after = await get(`/me?joined=${owner.team}`, inviteeCookie)
    expect(after).toContain(`You joined the team ${owner.team}.`)
    expect(after).not.toContain(`/me/invitations/${id}/`)
    expect((await h.app.request(`/me/invitations/${id}/decline`, post(inviteeCookie))).status).toBe(409)
  })

  it('declines from the page; another person cannot answer the invitation', async () => {
    const other = await h.teamOwner('other')
    const id = await invite(other, invitee.email)
    const stranger = await h.user('stranger')
    const strangerCookie = await signIn(h, stranger)
    expect(await get('/me', strangerCookie)).not.toContain(id)
    expect((await h.app.request(`/me/invitations/${id}/accept`, post(strangerCookie))).status).toBe(404)
    expect((await h.app.request('/me/invitations/not-an-id/accept', post(strangerCookie))).status).toBe(404)
    expect(await teamsOf(stranger)).toEqual([])

    const signedOut = await h.app.request(`/me/invitations/${id}/accept`, formPost())
    expect(signedOut.status).toBe(303)
    expect(signedOut.headers.get('Location')).toBe('/login?next=%2Fme')

    const declined = await h.app.request(`/me/invitations/${id}/decline`, post(inviteeCookie))
    expect(declined.status).toBe(303)
    expect(declined.headers.get('Location')).toBe('/me?declined')
    expect(await get('/me?declined', inviteeCookie)).toContain('Invitation declined.')
    expect(await teamsOf(invitee)).not.toContain(other.team)
  })
})
