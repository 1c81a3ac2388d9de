import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { reviews } from '../../src/commerce/tables'
import { grantEntitlement } from '../../src/commerce/entitlements'
import { entitlements } from '../../src/commerce/tables'
import { apiKeys, teams } from '../../src/identity/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

/**
 * A key bound to team A acts only as team A: for every read and write its holder is team A,
 * never its user personally and never the user's other teams.
 */

type Person = Awaited<ReturnType<Harness['teamOwner']>>
const ALL_SCOPES = ['read', 'publish', 'purchase', 'admin']

describe('a team-bound API key acts only as its team', () => {
  let h: Harness
  let seller: Person
  let offerId: string
  let adapterId: string
  const slug = 'bound-target'
  const reviewPath = () => `/v1/adapters/${seller.team}/${slug}/versions/1.0.0/reviews`
  const filePath = () => `/v1/adapters/${seller.team}/${slug}/versions/1.0.0/files/adapter_model.safetensors`

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('bound-seller')
    adapterId = (await createListing(h, seller, slug)).id
    await publishFolder(h, seller, slug, '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/${slug}/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    offerId = offer.json.id
  })
  afterAll(() => h.close())

  async function key(token: string, body: { name: string; scopes?: string[]; team?: string }) {
    const response = await h.call('POST', '/v1/api-keys', { auth: token, body: { scopes: ALL_SCOPES, ...body } })
    if (response.status !== 201) throw new Error(`createApiKey failed: ${response.text}`)
    return response.json as { key: string; apiKey: { id: string; team: string | null } }
  }

  /** A user owning team A and team B, with a full-scope key bound to each. */
  async function twoTeams() {
    const user = await h.teamOwner('alpha')
    const teamB = `beta-${crypto.randomUUID().slice(0, 8)}`
    expect((await h.call('POST', '/v1/teams', { auth: user.token, body: { slug: teamB, name: 'Beta' } })).status).toBe(201)
    const keyA = await key(user.token, { name: 'alpha deploy', team: user.team })
    const keyB = await key(user.token, { name: 'beta deploy', team: teamB })
    return { user, teamA: user.team, teamB, keyA, keyB }
  }

  const claim = (auth: string, team?: string) => h.call('POST', '/v1/checkout', { auth, body: { offerId, ...(team && { team }) } })
  const entitlementCount = async () => (await h.db.select().from(entitlements)).length

  it("refuses a download through the user's other team's entitlement", async () => {
    const { user, teamB, keyA, keyB } = await twoTeams()
    expect((await claim(user.token, teamB)).status).toBe(201)
    const link = (auth: string) => h.call('GET', filePath(), { auth, headers: { Accept: 'application/json' } })
    expect((await link(keyB.key)).status).toBe(200)
    expect((await link(user.token)).status).toBe(200)
    expectProblem(await link(keyA.key), 403, 'not_entitled')
  })

  it("refuses a download through the user's personal entitlement", async () => {
    const { user, keyA } = await twoTeams()
    expect((await claim(user.token)).status).toBe(201)
    expectProblem(await h.call('GET', filePath(), { auth: keyA.key, headers: { Accept: 'application/json' } }), 403, 'not_entitled')
  })

  it('claims an offer for team A when the body names no team, and never for another team', async () => {
    const { teamA, teamB, keyA } = await twoTeams()
    const before = await entitlementCount()
    expectProblem(await claim(keyA.key, teamB), 403, 'key_team_mismatch')
    expect(await entitlementCount()).toBe(before)

    const claimed = await claim(keyA.key)
    expect(claimed.status).toBe(201)
    expect(claimed.json.entitlement.holder).toMatchObject({ kind: 'team', team: teamA })
    // Claiming again finds team A's entitlement.
    const again = await claim(keyA.key)
    expect(again.json).toMatchObject({ existing: true, entitlement: { id: claimed.json.entitlement.id } })
    expect((await h.call('GET', filePath(), { auth: keyA.key, headers: { Accept: 'application/json' } })).status).toBe(200)
  })

  it("reviews only as team A, with team A's entitlement", async () => {
    const { user, teamA, teamB, keyA } = await twoTeams()
    // Personally first: an unbound caller's existing team entitlement would already cover a personal claim.
    expect((await claim(user.token)).status).toBe(201)
    expect((await claim(user.token, teamB)).status).toBe(201)
    const review = { rating: 5, text: 'Works for our contracts.' }
    // Team B's and the user's own entitlements do not count for a key bound to team A.
    expectProblem(await h.call('POST', reviewPath(), { auth: keyA.key, body: review }), 403, 'not_entitled')
    expectProblem(await h.call('POST', reviewPath(), { auth: keyA.key, body: { ...review, team: teamB } }), 403, 'key_team_mismatch')
    expect(await h.db.select().from(reviews).where(eq(reviews.userId, user.id))).toEqual([])

    expect((await claim(keyA.key)).status).toBe(201)
    const posted = await h.call('POST', reviewPath(), { auth: keyA.key, body: review })
    expect(posted.status).toBe(201)
    expect(posted.json.team).toBe(teamA)
    const [teamRow] = await h.db.select().from(teams).where(eq(teams.slug, teamA))
    const stored = await h.db.select().from(reviews).where(eq(reviews.userId, user.id))
    expect(stored.map((row) => row.teamId)).toEqual([teamRow!.id])
    expectProblem(await h.call('POST', reviewPath(), { auth: keyA.key, body: review }), 409, 'review_exists')
  })

  it('lets a seller review their own adapter through no key bound to a buying team', async () => {
    const buyingTeam = `buying-${crypto.randomUUID().slice(0, 8)}`
    expect((await h.call('POST', '/v1/teams', { auth: seller.token, body: { slug: buyingTeam, name: 'Buying' } })).status).toBe(201)
    const [team] = await h.db.select().from(teams).where(eq(teams.slug, buyingTeam))
    await grantEntitlement(h.db, { adapterId, holder: { kind: 'team', teamId: team!.id }, license: 'research', source: 'free', sourceId: `fixture:${team!.id}` })
    const bound = await key(seller.token, { name: 'buying', team: buyingTeam })
    expectProblem(await h.call('POST', reviewPath(), { auth: bound.key, body: { rating: 5, text: 'Best adapter ever.' } }), 403, 'own_adapter')
  })

  it("lists only team A's entitlements", async () => {
    const { user, teamA, teamB, keyA } = await twoTeams()
    // Personally first: an unbound caller's existing team entitlement would already cover a personal claim.
    expect((await claim(user.token)).status).toBe(201)
    expect((await claim(user.token, teamB)).status).toBe(201)
    expect((await h.call('GET', '/v1/me/entitlements', { auth: keyA.key })).json.items).toEqual([])
    expect((await h.call('GET', '/v1/me/entitlements', { auth: user.token })).json.items).toHaveLength(2)
    expect((await claim(keyA.key)).status).toBe(201)
    const listed = (await h.call('GET', '/v1/me/entitlements', { auth: keyA.key })).json.items
    expect(listed).toEqual([expect.objectContaining({ holder: expect.objectContaining({ kind: 'team', team: teamA }) })])
  })

  it("lists and revokes only its user's keys bound to team A", async () => {
    const { user, teamA, keyA, keyB } = await twoTeams()
    const personal = await key(user.token, { name: 'laptop', scopes: ['read'] })
    const secondA = await key(user.token, { name: 'alpha ci', scopes: ['read'], team: teamA })
    const colleague = await h.user('colleague')
    await h.addMember(user, teamA, colleague, 'admin')
    const colleagueA = await key(colleague.token, { name: 'colleague', scopes: ['read'], team: teamA })

    const listed = await h.call('GET', '/v1/api-keys', { auth: keyA.key })
    expect(listed.status).toBe(200)
    expect(listed.json.items.map((item: { id: string }) => item.id).sort()).toEqual([keyA.apiKey.id, secondA.apiKey.id].sort())
    expect((await h.call('GET', '/v1/api-keys', { auth: user.token })).json.items).toHaveLength(4)

    for (const other of [keyB, personal]) {
      expectProblem(await h.call('DELETE', `/v1/api-keys/${other.apiKey.id}`, { auth: keyA.key }), 404, 'not_found')
    }
    expect((await h.db.select().from(apiKeys).where(eq(apiKeys.userId, user.id))).every((row) => row.revokedAt === null)).toBe(true)
    // Team A's owner may still revoke a colleague's team A key, as with an access token.
    expect((await h.call('DELETE', `/v1/api-keys/${colleagueA.apiKey.id}`, { auth: keyA.key })).status).toBe(200)
  })

  it('names the team it acts as in getMe and shows no other team', async () => {
    const { user, teamA, keyA } = await twoTeams()
    const me = await h.call('GET', '/v1/me', { auth: keyA.key })
    expect(me.status).toBe(200)
    expect(me.json.auth).toMatchObject({ via: 'api_key', team: teamA })
    expect(me.json.teams.map((team: { slug: string }) => team.slug)).toEqual([teamA])
    const unbound = await h.call('GET', '/v1/me', { auth: user.token })
    expect(unbound.json.auth.team).toBeNull()
    expect(unbound.json.teams).toHaveLength(2)
  })

  it('creates neither teams nor keys beyond team A', async () => {
    const { user, teamA, teamB, keyA } = await twoTeams()
    const before = (await h.db.select().from(apiKeys).where(eq(apiKeys.userId, user.id))).length
    expectProblem(await h.call('POST', '/v1/teams', { auth: keyA.key, body: { slug: `from-key-${crypto.randomUUID().slice(0, 8)}`, name: 'X' } }), 403, 'key_team_mismatch')
    expectProblem(await h.call('POST', '/v1/api-keys', { auth: keyA.key, body: { name: 'wider', scopes: ['read'] } }), 403, 'key_team_mismatch')
    expectProblem(await h.call('POST', '/v1/api-keys', { auth: keyA.key, body: { name: 'elsewhere', scopes: ['read'], team: teamB } }), 403, 'key_team_mismatch')
    expect((await h.db.select().from(apiKeys).where(eq(apiKeys.userId, user.id))).length).toBe(before)
    const created = await key(keyA.key, { name: 'narrower', scopes: ['read'], team: teamA })
    expect(created.apiKey.team).toBe(teamA)
  })
})
