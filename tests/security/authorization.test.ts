import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { grantEntitlement } from '../../src/commerce/entitlements'
import { createPayments } from '../../src/commerce/stripe'
import { createTokenSigner } from '../../src/identity'
import { adapterVersions } from '../../src/publishing/tables'
import { reviews } from '../../src/commerce/tables'
import { teams } from '../../src/identity/tables'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness, TEST_SECRET } from '../helpers/harness'
import { databaseSnapshot } from '../helpers/snapshot'
import { startStripeServer, type StripeTestServer } from '../helpers/stripe'

/**
 * The authorization matrix: every operation in /openapi.json (new routes are picked up by
 * themselves), called as anonymous, with an expired token, with a revoked key, with a key of
 * the owning user that lacks the scope the operation declares, as the owner of another team,
 * and with a full-scope key of team A's own owner bound to another of their teams (team B).
 * Each refused call must be a 401/403/404 problem and change nothing in the database.
 */

type Operation = { method: string; path: string; operationId: string; scope: string | null; hasBody: boolean; declared: string[] }
type Person = Awaited<ReturnType<Harness['teamOwner']>>

/** Operations a user performs on their own account or the shared registry, not on a team's things. */
const SELF_SERVICE: Record<string, string> = {
  getMe: 'reads the caller',
  createApiKey: "creates a key for the caller (the body's team is team A: refused, checked separately below)",
  listApiKeys: "lists the caller's keys",
  createTeam: 'creates a new team for the caller',
  checkout: "buys team A's offer: any user may",
  listEntitlements: "lists the caller's licences",
  registerBaseModel: "registers a pending base for the caller's own team (publish scope)",
  listMyInvitations: 'lists the invitations addressed to the caller',
  logout: "revokes the caller's own access tokens",
  checkFingerprint: "checks the caller's own file against published listings (publish scope)",
}

/** Operations only a platform operator (OPERATOR_EMAILS) may call: every ordinary user gets 403 not_operator. */
const OPERATOR_ONLY = new Set(['listPendingBaseModels', 'reviewBaseModel', 'listRejectedPayments', 'listFingerprintReviews', 'overruleFingerprint'])

describe('authorization matrix over every operation', () => {
  let h: Harness
  let stripe: StripeTestServer
  let owner: Person
  let other: Person
  let buyer: Awaited<ReturnType<Harness['user']>>
  /** The owner's second team, and a full-scope key of the owner bound to it. */
  let teamB: string
  let boundToB: { key: string; apiKey: { id: string } }
  let operator: Awaited<ReturnType<Harness['user']>>
  const operators: string[] = []
  const params: Record<string, string> = {}
  const ids: Record<string, string> = {}
  let operations: Operation[]

  beforeAll(async () => {
    stripe = await startStripeServer()
    h = await createHarness({ payments: createPayments({ secretKey: 'sk_test_matrix', webhookSecret: 'whsec_matrix', apiUrl: stripe.url, feeBps: 1000, timeoutMs: 2000 }), operators })
    owner = await h.teamOwner('matrix')
    other = await h.teamOwner('intruder')
    buyer = await h.user('matrix-buyer')
    operator = await h.user('matrix-operator')
    operators.push(operator.email)
    const listing = await createListing(h, owner, 'private-work')
    await publishFolder(h, owner, 'private-work', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    await publishFolder(h, owner, 'private-work', '1.1.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }))
    const offer = await h.call('POST', `/v1/adapters/${owner.team}/private-work/offers`, { auth: owner.token, body: { kind: 'on_request', license: 'commercial' } })
    const request = await h.call('POST', '/v1/checkout', { auth: buyer.token, body: { offerId: offer.json.id, message: 'A research group at a university.' } })
    const key = await h.call('POST', '/v1/api-keys', { auth: owner.token, body: { name: 'owned', scopes: ['read'] } })
    // A member of team A, an open invitation from team A, and one from a third team to A's owner.
    const colleague = await h.user('matrix-colleague')
    await h.addMember(owner, owner.team, colleague, 'member')
    const teamInvitation = await h.call('POST', `/v1/teams/${owner.team}/members`, { auth: owner.token, body: { email: 'matrix-invitee@example.test', role: 'member' } })
    const inviter = await h.teamOwner('matrix-inviter')
    const myInvitation = await h.call('POST', `/v1/teams/${inviter.team}/members`, { auth: inviter.token, body: { email: owner.email, role: 'member' } })
    Object.assign(params, { team: owner.team, slug: 'private-work', version: '1.1.0', path: 'adapter_config.json', owner: 'meta-llama', name: 'Llama-2-7b-hf', userId: colleague.id, offerId: offer.json.id })
    // Reviews written by team A's owner (rows, as the rule that a seller cannot review their own
    // listing would refuse the API call): theirs to change (updateReview) and to withdraw (deleteReview).
    const versions = await h.db.select().from(adapterVersions).where(eq(adapterVersions.adapterId, listing.id))
    const ownReviews = await h.db
      .insert(reviews)
      .values(versions.map((version) => ({ adapterId: listing.id, versionId: version.id, userId: owner.id, rating: 4, text: 'fixture' })))
      .returning()
    Object.assign(ids, {
      review: ownReviews[0]!.id,
      reviewToDelete: ownReviews[1]!.id,
      accessRequest: request.json.accessRequest.id,
      apiKey: key.json.apiKey.id,
      offer: offer.json.id,
      teamInvitation: teamInvitation.json.invitation.id,
      myInvitation: myInvitation.json.invitation.id,
    })
    teamB = `matrix-b-${crypto.randomUUID().slice(0, 8)}`
    await h.call('POST', '/v1/teams', { auth: owner.token, body: { slug: teamB, name: 'Matrix B' } })
    boundToB = (await h.call('POST', '/v1/api-keys', { auth: owner.token, body: { name: 'bound to B', scopes: ['read', 'publish', 'purchase', 'admin'], team: teamB } })).json
    await h.call('POST', '/v1/api-keys', { auth: owner.token, body: { name: 'bound to A', scopes: ['read'], team: owner.team } })
    // Licences the owner holds personally and through team A: none of team B's business.
    const elsewhere = await createListing(h, other, 'sold-elsewhere')
    const [teamA] = await h.db.select().from(teams).where(eq(teams.slug, owner.team))
    await grantEntitlement(h.db, { adapterId: elsewhere.id, holder: { kind: 'team', teamId: teamA!.id }, license: 'research', source: 'free', sourceId: 'matrix:team-a' })
    await grantEntitlement(h.db, { adapterId: elsewhere.id, holder: { kind: 'user', userId: owner.id }, license: 'research', source: 'free', sourceId: 'matrix:owner' })

    const document = (await h.call('GET', '/openapi.json')).json as {
      paths: Record<string, Record<string, { operationId: string; security?: Record<string, string[]>[]; requestBody?: unknown; responses: Record<string, unknown> }>>
    }
    operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        method: method.toUpperCase(),
        path,
        operationId: operation.operationId,
        scope: operation.security?.[0]?.bearerAuth?.[0] ?? null,
        hasBody: operation.requestBody !== undefined,
        declared: Object.keys(operation.responses),
      })),
    )
  })
  afterAll(async () => {
    await h.close()
    await stripe.close()
  })

  /** A valid request for each operation, aimed at team A's things. A new operation fails here until it has one. */
  function requestFor(operation: Operation): { path: string; body?: unknown; headers?: Record<string, string> } {
    const path = operation.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      if (name === 'id') {
        const idFor: Record<string, string | undefined> = {
          revokeApiKey: ids.apiKey,
          revokeTeamInvitation: ids.teamInvitation,
          acceptInvitation: ids.myInvitation,
          declineInvitation: ids.myInvitation,
          updateReview: ids.review,
          deleteReview: ids.reviewToDelete,
        }
        return idFor[operation.operationId] ?? ids.accessRequest!
      }
      if (name === 'token') return 'not-a-signed-token'
      const value = params[name]
      if (value === undefined) throw new Error(`No fixture for path parameter {${name}} of ${operation.operationId}: add one to the authorization matrix.`)
      return encodeURIComponent(value)
    })
    const bodies: Record<string, unknown> = {
      signup: { email: 'matrix-new@example.test', password: 'long enough password', name: 'New' },
      login: { email: owner.email, password: owner.password },
      createApiKey: { name: 'intruding', scopes: ['read'], team: owner.team },
      createTeam: { slug: `matrix-new-${Math.random().toString(36).slice(2, 8)}`, name: 'New' },
      addTeamMember: { email: other.email, role: 'admin' },
      updateTeamMember: { role: 'admin' },
      createAdapter: { team: owner.team, slug: 'planted', title: 'Planted', license: { spdx: 'MIT', commercialUse: true, derivatives: true } },
      updateAdapter: { title: 'Defaced' },
      createVersion: { version: '9.9.9', baseModel: 'meta-llama/Llama-2-7b-hf', files: [{ path: 'adapter_model.safetensors', size: 10, sha256: 'a'.repeat(64) }] },
      updateVersion: { changelog: 'Defaced' },
      completeVersion: { parts: {} },
      createReview: { rating: 1, text: 'planted' },
      updateReview: { rating: 1, text: 'defaced' },
      reviewBaseModel: { decision: 'verify' },
      registerBaseModel: { id: 'matrix/tiny-llama', config: { model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 256, intermediate_size: 688, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: 1000 } },
      checkCompatibility: { base: 'meta-llama/Llama-2-7b-hf', adapter: { version: `${owner.team}/private-work@1.0.0` } },
      createOffer: { kind: 'free', license: 'research' },
      // Puts the offer back: the owner's pass through every operation leaves it on sale.
      updateOffer: { active: true },
      checkout: { offerId: ids.offer, message: 'Another research group here.' },
      approveAccessRequest: { note: 'ok' },
      rejectAccessRequest: { note: 'no' },
      stripeWebhook: '{}',
    }
    // Operations that take raw file bytes.
    if (['inspectSafetensors', 'putLocalObject', 'checkFingerprint'].includes(operation.operationId)) return { path, body: new Uint8Array(16), headers: { 'Content-Type': 'application/octet-stream', 'X-File-Size': '16' } }
    if (!operation.hasBody) return { path }
    if (!(operation.operationId in bodies)) throw new Error(`No request body for ${operation.operationId}: add one to the authorization matrix.`)
    return { path, body: bodies[operation.operationId] }
  }

  async function send(operation: Operation, auth: string | undefined) {
    const request = requestFor(operation)
    if (request.body instanceof Uint8Array) {
      const response = await h.app.request(request.path, { method: operation.method, headers: { ...request.headers, ...(auth && { Authorization: `Bearer ${auth}` }) }, body: request.body as Uint8Array<ArrayBuffer> })
      return { status: response.status, json: await response.json().catch(() => undefined) }
    }
    return h.call(operation.method, request.path, { ...(auth && { auth }), ...(request.body !== undefined && { body: request.body }), ...(request.headers && { headers: request.headers }) })
  }

  const snapshot = () => databaseSnapshot(h.db)

  async function expectRefused(operation: Operation, auth: string | undefined, statuses: number[], label: string) {
    const before = await snapshot()
    const response = await send(operation, auth)
    expect(statuses, `${operation.operationId} as ${label} answered ${response.status} ${JSON.stringify(response.json)}`).toContain(response.status)
    expect(response.json?.code, `${operation.operationId} as ${label}`).toEqual(expect.any(String))
    // The document tells clients the truth: each refusal's status is one the operation declares.
    expect(operation.declared, `${operation.operationId} answered ${response.status} as ${label} without declaring it`).toContain(String(response.status))
    expect(await snapshot(), `${operation.operationId} as ${label} changed the database`).toEqual(before)
    return response
  }

  it('covers every operation, each protected one declaring the scope it needs', () => {
    expect(operations.length).toBeGreaterThan(35)
    for (const operation of operations) expect(operation.operationId, `${operation.method} ${operation.path}`).toEqual(expect.any(String))
    expect(operations.filter((operation) => operation.scope).map((operation) => operation.operationId)).toEqual(
      expect.arrayContaining(['createVersion', 'publishVersion', 'checkout', 'downloadFile', 'createApiKey', 'approveAccessRequest', 'getSalesReport']),
    )
  })

  it('has a database snapshot that sees a write', async () => {
    const before = await snapshot()
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['adapters', 'adapter_versions', 'offers', 'entitlements', 'orders', 'api_keys']))
    await h.call('PATCH', `/v1/adapters/${owner.team}/private-work`, { auth: owner.token, body: { summary: 'changed once' } })
    const after = await snapshot()
    expect(after.adapters).not.toBe(before.adapters)
    // The listing's search terms follow its text (a trigger keeps them); nothing else moved.
    expect({ ...after, adapters: before.adapters, adapter_search_terms: before.adapter_search_terms }).toEqual(before)
  })

  it('refuses bad credentials on every operation: an expired token and a revoked key get 401', async () => {
    const expired = await createTokenSigner(TEST_SECRET, () => new Date(Date.now() - 3 * 60 * 60 * 1000)).sign(owner.id)
    const revoked = (await h.call('POST', '/v1/api-keys', { auth: owner.token, body: { name: 'revoked', scopes: ['admin'] } })).json
    await h.call('DELETE', `/v1/api-keys/${revoked.apiKey.id}`, { auth: owner.token })
    // Outside /v1 (health) no credential is read at all.
    for (const operation of operations.filter((candidate) => candidate.path.startsWith('/v1/'))) {
      expect((await expectRefused(operation, expired.token, [401], 'an expired token')).json.code).toBe('token_expired')
      expect((await expectRefused(operation, revoked.key, [401], 'a revoked key')).json.code).toBe('api_key_revoked')
    }
  })

  it('refuses anonymous callers and keys without the declared scope on every protected operation', async () => {
    const keys: Record<string, string> = {}
    for (const scope of ['read', 'publish', 'purchase', 'admin']) {
      const others = ['read', 'publish', 'purchase'].filter((candidate) => candidate !== scope)
      keys[scope] = (await h.call('POST', '/v1/api-keys', { auth: owner.token, body: { name: `without ${scope}`, scopes: others } })).json.key
    }
    for (const operation of operations.filter((candidate) => candidate.scope)) {
      expect((await expectRefused(operation, undefined, [401], 'anonymous')).json.code).toBe('unauthorized')
      const refused = await expectRefused(operation, keys[operation.scope!], [403], `a key without '${operation.scope}'`)
      // A key may revoke itself without admin; any other key id needs the admin scope.
      expect(refused.json.code).toBe('insufficient_scope')
    }
  })

  it("refuses another team's owner on every protected operation that acts on team A's things", async () => {
    for (const operation of operations.filter((candidate) => candidate.scope && !(candidate.operationId in SELF_SERVICE))) {
      await expectRefused(operation, other.token, [403, 404], "another team's owner")
    }
    // A self-service operation aimed at team A is still refused: a key bound to someone else's team.
    await expectRefused(operations.find((operation) => operation.operationId === 'createApiKey')!, other.token, [403, 404], "another team's owner")
  })

  it("refuses the owner's key bound to their other team on every protected operation that acts on team A's things", async () => {
    for (const operation of operations.filter((candidate) => candidate.scope && !(candidate.operationId in SELF_SERVICE))) {
      await expectRefused(operation, boundToB.key, [401, 403, 404], "a key bound to the owner's team B")
    }
    // Self-service operations that would write for team A or for the user personally.
    for (const operationId of ['createApiKey', 'createTeam', 'checkout']) {
      await expectRefused(operations.find((operation) => operation.operationId === operationId)!, boundToB.key, [403], "a key bound to the owner's team B")
    }
  })

  it("keeps self-service reads of a key bound to team B within team B", async () => {
    const me = await h.call('GET', '/v1/me', { auth: boundToB.key })
    expect(me.json.teams.map((team: { slug: string }) => team.slug)).toEqual([teamB])
    expect(me.json.auth.team).toBe(teamB)
    const keys = await h.call('GET', '/v1/api-keys', { auth: boundToB.key })
    expect(keys.json.items.map((key: { id: string }) => key.id)).toEqual([boundToB.apiKey.id])
    expect((await h.call('GET', '/v1/me/entitlements', { auth: boundToB.key })).json.items).toEqual([])
    // The same reads with the owner's access token do see team A and the owner's own things.
    expect((await h.call('GET', '/v1/me', { auth: owner.token })).json.teams).toHaveLength(2)
    expect((await h.call('GET', '/v1/api-keys', { auth: owner.token })).json.items.length).toBeGreaterThan(2)
    expect((await h.call('GET', '/v1/me/entitlements', { auth: owner.token })).json.items).toHaveLength(2)
  })

  it('refuses every ordinary user on operator-only operations, and lets an operator through', async () => {
    const operatorOnly = operations.filter((operation) => OPERATOR_ONLY.has(operation.operationId))
    expect(operatorOnly.map((operation) => operation.operationId).sort()).toEqual([...OPERATOR_ONLY].sort())
    for (const operation of operatorOnly) {
      for (const [label, token] of [['the owner', owner.token], ['another owner', other.token], ['a buyer', buyer.token]] as const) {
        expect((await expectRefused(operation, token, [403], label)).json.code).toBe('not_operator')
      }
      const response = await send(operation, operator.token)
      // The fixture's base is seeded, so a review is a business refusal (not pending), never an authorization one.
      expect([200, 409], `${operation.operationId} as an operator answered ${response.status} ${JSON.stringify(response.json)}`).toContain(response.status)
    }
  })

  it('lets the owner through every protected operation (so the refusals above are the checks, not broken fixtures)', async () => {
    // logout last: it revokes the owner's tokens (a fresh one is signed in for later tests).
    const protectedOperations = operations
      .filter((candidate) => candidate.scope && !OPERATOR_ONLY.has(candidate.operationId))
      .sort((a, b) => Number(a.operationId === 'logout') - Number(b.operationId === 'logout'))
    for (const operation of protectedOperations) {
      const response = await send(operation, owner.token)
      const message = `${operation.operationId} as the owner answered ${response.status} ${JSON.stringify(response.json)}`
      expect(response.status, message).not.toBe(401)
      // Business rules may still say no (a seller cannot review their own adapter); authorization may not.
      expect(['insufficient_scope', 'not_team_member', 'key_team_mismatch', 'not_found'], message).not.toContain(response.json?.code)
    }
    expect((await h.call('GET', '/v1/me', { auth: owner.token })).json.code).toBe('token_revoked')
    owner.token = (await h.call('POST', '/v1/login', { body: { email: owner.email, password: owner.password } })).json.token
  })
})
