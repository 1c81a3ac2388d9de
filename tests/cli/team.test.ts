import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli'
import { createHarness, type Harness } from '../helpers/harness'

const API = 'http://localhost:8787'

describe('refinery team invite, invitations, accept and decline', () => {
  let h: Harness
  beforeAll(async () => {
    h = await createHarness()
  })
  afterAll(() => h.close())

  const as = (token: string) => ({ env: { REFINERY_URL: API, REFINERY_API_KEY: token, REFINERY_CONFIG_DIR: '/nonexistent-refinery-config' }, fetch: h.network })

  it('sends an invitation that the invitee lists and accepts; nobody joins before', async () => {
    const owner = await h.teamOwner('cli-team')
    const invitee = await h.user('cli-invitee')
    const invited = await runCli(['team', 'invite', owner.team, invitee.email, '--role', 'admin'], as(owner.token))
    expect(invited).toMatchObject({ code: 0, stdout: expect.stringContaining(`✔ invitation sent to ${invitee.email} to join ${owner.team} as admin`) })
    expect((await h.call('GET', '/v1/me', { auth: invitee.token })).json.teams).toEqual([])

    const listed = await runCli(['team', 'invitations'], as(invitee.token))
    expect(listed.code).toBe(0)
    const id = /^([0-9a-f-]{36}) /m.exec(listed.stdout)?.[1]
    expect(listed.stdout).toContain(`${owner.team} (Team ${owner.team}) as admin`)
    expect(await runCli(['team', 'accept', id ?? ''], as(invitee.token))).toMatchObject({ code: 0, stdout: `✔ you joined ${owner.team} as admin\n` })
    expect((await h.call('GET', '/v1/me', { auth: invitee.token })).json.teams).toEqual([expect.objectContaining({ slug: owner.team, role: 'admin' })])
    expect((await runCli(['team', 'invitations'], as(invitee.token))).stdout).toBe('No open invitations.\n')
  })

  it('declines, and explains bad usage and refusals', async () => {
    const owner = await h.teamOwner('cli-team')
    const invitee = await h.user('cli-invitee')
    const { invitation } = (await h.call('POST', `/v1/teams/${owner.team}/members`, { auth: owner.token, body: { email: invitee.email, role: 'member' } })).json
    expect(await runCli(['team', 'accept', invitation.id], as(owner.token))).toMatchObject({ code: 2, stderr: expect.stringContaining('not_found') })
    expect(await runCli(['team', 'decline', invitation.id], as(invitee.token))).toMatchObject({ code: 0, stdout: `✔ invitation to ${owner.team} declined\n` })
    expect(await runCli(['team', 'invite', owner.team, invitee.email, '--role', 'king'], as(owner.token))).toMatchObject({ code: 2, stderr: expect.stringContaining('--role') })
    expect(await runCli(['team', 'invite', owner.team], as(owner.token))).toMatchObject({ code: 2, stderr: expect.stringContaining('Usage') })
  })
})
