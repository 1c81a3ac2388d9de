import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sha256Hex } from '../../src/lib/crypto'
import { apiKeys } from '../../src/identity/tables'
import { createHarness } from '../helpers/harness'
import type { Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

let h: Harness
beforeAll(async () => {
  h = await createHarness()
})
afterAll(() => h.close())

async function createKey(token: string, body: { name: string; scopes: string[]; team?: string }) {
  const response = await h.call('POST', '/v1/api-keys', { auth: token, body })
  if (response.status !== 201) throw new Error(`createApiKey failed: ${response.text}`)
  return response.json as { key: string; apiKey: { id: string; prefix: string; scopes: string[]; team: string | null } }
}

describe('createApiKey', () => {
  it('shows the key once, stores only its hash, and the key authenticates with its scopes', async () => {
    const u = await h.user()
    const created = await createKey(u.token, { name: 'ci', scopes: ['read', 'purchase'] })
    expect(created.key).toMatch(/^rfy_[\w-]{43}$/)
    expect(created.apiKey).toMatchObject({ name: 'ci', scopes: ['read', 'purchase'], team: null, revokedAt: null })
    expect(created.key.startsWith(created.apiKey.prefix)).toBe(true)
    expect(created.apiKey.prefix).toHaveLength(12)

    const [row] = await h.db.select().from(apiKeys).where(eq(apiKeys.id, created.apiKey.id))
    expect(row?.keyHash).toBe(await sha256Hex(created.key))
    expect(JSON.stringify(row)).not.toContain(created.key)

    const me = await h.call('GET', '/v1/me', { auth: created.key })
    expect(me.status).toBe(200)
    expect(me.json.auth).toEqual({ via: 'api_key', scopes: ['read', 'purchase'], apiKeyId: created.apiKey.id, team: null })
    const listed = await h.call('GET', '/v1/api-keys', { auth: u.token })
    expect(listed.json.items).toHaveLength(1)
    expect(listed.text).not.toContain(created.key)
    expect(listed.json.items[0].lastUsedAt).not.toBeNull()
  })

  it('refuses a key without the needed scope with 403 insufficient_scope', async () => {
    const u = await h.user()
    const readOnly = await createKey(u.token, { name: 'ro', scopes: ['read'] })
    const purchaseOnly = await createKey(u.token, { name: 'buy', scopes: ['purchase'] })
    expectProblem(await h.call('POST', '/v1/teams', { auth: readOnly.key, body: { slug: 'ro-team-x', name: 'X' } }), 403, 'insufficient_scope')
    expectProblem(await h.call('POST', '/v1/api-keys', { auth: readOnly.key, body: { name: 'x', scopes: ['admin'] } }), 403, 'insufficient_scope')
    expectProblem(await h.call('GET', '/v1/me', { auth: purchaseOnly.key }), 403, 'insufficient_scope')
    const keys = await h.db.select().from(apiKeys).where(eq(apiKeys.userId, u.id))
    expect(keys).toHaveLength(2)
  })

  it('binds a team key to its team; only owners and admins create team keys', async () => {
    const owner = await h.teamOwner('keys')
    const otherTeam = await h.teamOwner('other')
    const member = await h.user('member')
    await h.addMember(owner, owner.team, member, 'member')

    const teamKey = await createKey(owner.token, { name: 'deploy', scopes: ['admin'], team: owner.team })
    expect(teamKey.apiKey.team).toBe(owner.team)
    expectProblem(
      await h.call('POST', '/v1/api-keys', { auth: member.token, body: { name: 'x', scopes: ['read'], team: owner.team } }),
      403,
      'insufficient_role',
    )
    expectProblem(
      await h.call('POST', '/v1/api-keys', { auth: otherTeam.token, body: { name: 'x', scopes: ['read'], team: owner.team } }),
      403,
      'not_team_member',
    )
    // The owner also belongs to another team; the team key may still not act there.
    await h.addMember(otherTeam, otherTeam.team, owner, 'admin')
    expectProblem(
      await h.call('POST', `/v1/teams/${otherTeam.team}/members`, { auth: teamKey.key, body: { email: member.email, role: 'member' } }),
      403,
      'key_team_mismatch',
    )
    expectProblem(await h.call('POST', '/v1/teams', { auth: teamKey.key, body: { slug: 'from-key-x', name: 'X' } }), 403, 'key_team_mismatch')
    expectProblem(await h.call('POST', '/v1/api-keys', { auth: teamKey.key, body: { name: 'wider', scopes: ['read'] } }), 403, 'key_team_mismatch')
    const invited = await h.call('POST', `/v1/teams/${owner.team}/members`, {
      auth: teamKey.key,
      body: { email: otherTeam.email, role: 'member' },
    })
    expect(invited.status).toBe(202)
  })

  it('validates the body', async () => {
    const u = await h.user()
    expectProblem(await h.call('POST', '/v1/api-keys', { auth: u.token, body: { name: 'x', scopes: [] } }), 422, 'validation_failed')
    expectProblem(await h.call('POST', '/v1/api-keys', { auth: u.token, body: { name: 'x', scopes: ['root'] } }), 422, 'validation_failed')
    expectProblem(await h.call('POST', '/v1/api-keys', { body: { name: 'x', scopes: ['read'] } }), 401, 'unauthorized')
  })
})

describe('revokeApiKey', () => {
  it('revokes at once: the key stops working on the next request; revoking again is idempotent', async () => {
    const u = await h.user()
    const created = await createKey(u.token, { name: 'temp', scopes: ['read'] })
    expect((await h.call('GET', '/v1/me', { auth: created.key })).status).toBe(200)
    const revoked = await h.call('DELETE', `/v1/api-keys/${created.apiKey.id}`, { auth: u.token })
    expect(revoked.status).toBe(200)
    expect(revoked.json.apiKey.revokedAt).not.toBeNull()
    expectProblem(await h.call('GET', '/v1/me', { auth: created.key }), 401, 'api_key_revoked')
    const again = await h.call('DELETE', `/v1/api-keys/${created.apiKey.id}`, { auth: u.token })
    expect(again.json.apiKey.revokedAt).toBe(revoked.json.apiKey.revokedAt)
  })

  it('answers 404 for another user’s key and for unknown ids, and revokes nothing', async () => {
    const owner = await h.user()
    const attacker = await h.user()
    const created = await createKey(owner.token, { name: 'mine', scopes: ['read'] })
    expectProblem(await h.call('DELETE', `/v1/api-keys/${created.apiKey.id}`, { auth: attacker.token }), 404, 'not_found')
    expectProblem(await h.call('DELETE', `/v1/api-keys/${crypto.randomUUID()}`, { auth: owner.token }), 404, 'not_found')
    expectProblem(await h.call('DELETE', '/v1/api-keys/not-a-uuid', { auth: owner.token }), 404, 'not_found')
    expectProblem(await h.call('DELETE', `/v1/api-keys/${created.apiKey.id}`), 401, 'unauthorized')
    expect((await h.call('GET', '/v1/me', { auth: created.key })).status).toBe(200)
  })

  it('lets a key without the admin scope revoke itself, but not its sibling keys', async () => {
    const u = await h.user()
    const cli = await createKey(u.token, { name: 'cli', scopes: ['read'] })
    const sibling = await createKey(u.token, { name: 'sibling', scopes: ['read'] })
    expectProblem(await h.call('DELETE', `/v1/api-keys/${sibling.apiKey.id}`, { auth: cli.key }), 403, 'insufficient_scope')
    expect((await h.call('DELETE', `/v1/api-keys/${cli.apiKey.id}`, { auth: cli.key })).status).toBe(200)
    expectProblem(await h.call('GET', '/v1/me', { auth: cli.key }), 401, 'api_key_revoked')
    expect((await h.call('GET', '/v1/me', { auth: sibling.key })).status).toBe(200)
  })

  it('lets a team admin revoke a team key another admin created', async () => {
    const owner = await h.teamOwner()
    const admin = await h.user('admin')
    await h.addMember(owner, owner.team, admin, 'admin')
    const created = await createKey(owner.token, { name: 'team', scopes: ['read'], team: owner.team })
    const revoked = await h.call('DELETE', `/v1/api-keys/${created.apiKey.id}`, { auth: admin.token })
    expect(revoked.status).toBe(200)
    expectProblem(await h.call('GET', '/v1/me', { auth: created.key }), 401, 'api_key_revoked')
  })

  it('rejects unknown and malformed keys with 401 invalid_api_key', async () => {
    expectProblem(await h.call('GET', '/v1/me', { auth: `rfy_${'A'.repeat(43)}` }), 401, 'invalid_api_key')
    expectProblem(await h.call('GET', '/v1/me', { auth: 'rfy_' }), 401, 'invalid_api_key')
  })

  it('refuses a key passed as a query parameter', async () => {
    const u = await h.user()
    const created = await createKey(u.token, { name: 'q', scopes: ['read'] })
    // Refused outright, not just ignored: a credential in a URL leaks into logs and caches.
    expectProblem(await h.call('GET', `/v1/me?token=${created.key}`), 400, 'credentials_in_query')
    expectProblem(await h.call('GET', `/v1/me?api_key=${created.key}`, { auth: created.key }), 400, 'credentials_in_query')
  })
})
