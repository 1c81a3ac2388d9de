import { eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { downloads } from '../../src/downloads/tables'
import { requireScope } from '../../src/identity/principal'
import { users } from '../../src/identity/tables'
import { createApp } from '../../src/app'
import { createDownloadLog, type DownloadLog } from '../../src/downloads'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'

/**
 * `downloadFile` checks the access token's version in its own access query (authenticate leaves
 * it to it): a logout anywhere — here another process, simulated by bumping the version in
 * Postgres behind this process's back — refuses the very next download, with no grace period,
 * whichever way the grant is recorded (in the access statement, or by a batching log).
 */
describe.each([
  ['recorded by the access statement', false],
  ['recorded by a batching log', true],
] as const)('the token check of a download, %s', (_label, batched) => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  let base: string
  let offerId: string
  let app: Harness['app']
  let log: DownloadLog | undefined

  beforeAll(async () => {
    h = await createHarness()
    log = batched ? createDownloadLog(h.db, { flushMs: 0 }) : undefined
    app = log ? createApp({ ...h.deps, downloadLog: log }) : h.app
    seller = await h.teamOwner('tokens')
    await createListing(h, seller, 'legal-zh')
    await publishFolder(h, seller, 'legal-zh', '1.0.0', peftFolder({ base: 'meta-llama/Llama-2-7b-hf' }), { publish: true })
    const offer = await h.call('POST', `/v1/adapters/${seller.team}/legal-zh/offers`, { auth: seller.token, body: { kind: 'free', license: 'research' } })
    expect(offer.status).toBe(201)
    base = `/v1/adapters/${seller.team}/legal-zh/versions/1.0.0/files`
    offerId = offer.json.id
  })
  afterAll(() => h.close())

  const buyer = async (name: string) => {
    const person = await h.user(name)
    expect((await h.call('POST', '/v1/checkout', { auth: person.token, body: { offerId } })).status).toBe(201)
    return person
  }
  const signOutElsewhere = (userId: string) => h.db.update(users).set({ tokenVersion: sql`${users.tokenVersion} + 1` }).where(eq(users.id, userId))
  const auditRows = async (userId: string) => (await h.db.select({ id: downloads.id }).from(downloads).where(eq(downloads.userId, userId))).length

  it('refuses a token signed out in another process on the next download, redirect and JSON link alike, and records nothing', async () => {
    const person = await buyer('elsewhere')
    const get = (path: string, headers: Record<string, string> = {}) => app.request(`${base}/${path}`, { headers: { Authorization: `Bearer ${person.token}`, ...headers } })
    // /v1/me first: its check remembers the version in this process for a few seconds.
    expect((await h.call('GET', '/v1/me', { auth: person.token })).status).toBe(200)
    expect((await get('adapter_model.safetensors')).status).toBe(302)
    expect((await get('adapter_model.safetensors/link')).status).toBe(200)
    await log?.flush()
    expect(await auditRows(person.id)).toBe(2)

    await signOutElsewhere(person.id)
    for (const refused of [await get('adapter_model.safetensors'), await get('adapter_model.safetensors/link'), await get('adapter_model.safetensors', { Accept: 'application/json' })]) {
      expect(refused.status).toBe(401)
      expect(((await refused.json()) as { code: string }).code).toBe('token_revoked')
      expect(refused.headers.get('Location')).toBeNull()
    }
    await log?.flush()
    expect(await auditRows(person.id)).toBe(2)
  })

  it('answers 401, not 404 or 403, to a revoked token asking for a file that does not exist or is not theirs', async () => {
    const person = await h.user('stranger')
    await signOutElsewhere(person.id)
    for (const path of [`${base}/missing.bin`, `/v1/adapters/${seller.team}/nothing/versions/1.0.0/files/adapter_model.safetensors`, `${base}/adapter_model.safetensors`]) {
      const refused = await app.request(path, { headers: { Authorization: `Bearer ${person.token}` } })
      expect(refused.status).toBe(401)
      expect(((await refused.json()) as { code: string }).code).toBe('token_revoked')
    }
  })

  it('keeps the seller team’s own downloads audited and a current token served', async () => {
    const response = await app.request(`${base}/adapter_model.safetensors`, { headers: { Authorization: `Bearer ${seller.token}` } })
    expect(response.status).toBe(302)
    await log?.flush()
    const [row] = await h.db.select({ bySeller: downloads.bySeller, counted: downloads.counted }).from(downloads).where(eq(downloads.userId, seller.id))
    expect(row).toEqual({ bySeller: true, counted: true })
  })
})

describe('a principal whose token version was left to the verb', () => {
  it('is refused by every verb that does not check it (fails closed)', () => {
    const principal = { userId: '00000000-0000-4000-8000-000000000000', via: 'token' as const, scopes: ['read' as const], uncheckedTokenVersion: 0 }
    expect(() => requireScope(principal, 'read')).toThrow(/does not check the access token version/)
    expect(requireScope(principal, 'read', { tokenVersionCheckedBy: 'caller' })).toBe(principal)
  })
})
