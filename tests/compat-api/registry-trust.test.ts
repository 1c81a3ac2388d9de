import { createHash } from 'node:crypto'
import { and, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { versionCompatibility } from '../../src/publishing/tables'
import { checkCompatibility } from '../../src/compat-api/check'
import type { BaseModel } from '../../src/compat'
import { registeredBaseModels } from '../../src/registry/tables'
import { createRateLimiter } from '../../src/lib/rate-limit'
import { addBaseToMatrices } from '../../src/publishing'
import { hfConfigs } from '../compat/fixtures/hf-configs'
import { createListing, peftFolder, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { expectProblem } from '../helpers/problems'

const LLAMA2 = 'meta-llama/Llama-2-7b-hf'
const llama2Config = hfConfigs[LLAMA2]!
const qwen25_14bConfig = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  hidden_size: 5120,
  intermediate_size: 13824,
  num_hidden_layers: 48,
  num_attention_heads: 40,
  num_key_value_heads: 8,
  vocab_size: 152064,
  tie_word_embeddings: false,
}

type Person = Awaited<ReturnType<Harness['teamOwner']>>

describe('the base-model registry belongs to the platform', () => {
  let h: Harness
  // OPERATOR_EMAILS as the app sees it; filled in as operators sign up.
  const operators: string[] = []
  let operator: Awaited<ReturnType<Harness['user']>>

  beforeAll(async () => {
    h = await createHarness({ operators })
    operator = await h.user('operator')
    operators.push(operator.email.toUpperCase())
  })
  afterAll(() => h.close())

  const register = (auth: string, body: Record<string, unknown>) => h.call('POST', '/v1/base-models', { auth, body })
  const review = (auth: string, id: string, body: Record<string, unknown>) => h.call('POST', `/v1/base-models/${id}/review`, { auth, body })
  const searchIds = async (query: string, auth?: string) => {
    const response = await h.call('GET', `/v1/adapters?${query}`, auth ? { auth } : {})
    return { response, slugs: (response.json?.items ?? []).map((item: { team: string; slug: string }) => `${item.team}/${item.slug}`) }
  }

  it('a squatted real id stays the squatter’s: invisible to others, out of search, and an operator rejects it', async () => {
    const squatter = await h.teamOwner('squat')
    const buyer = await h.teamOwner('buyer')
    // Seeded ids cannot be taken in any case.
    const seeded = await register(squatter.token, { id: 'META-LLAMA/llama-2-7b-HF', config: llama2Config })
    expectProblem(seeded, 409, 'base_model_exists')
    expect(seeded.json.existing).toBe(LLAMA2)

    const squat = await register(squatter.token, { id: 'Qwen/Qwen2.5-14B', config: llama2Config })
    expect(squat.status).toBe(201)
    expect(squat.json).toMatchObject({ id: 'Qwen/Qwen2.5-14B', status: 'pending', origin: 'registered' })

    // The squatter's team may use it: a Llama-2 adapter declared for it validates and publishes.
    await createListing(h, squatter, 'fake-qwen')
    const published = await publishFolder(h, squatter, 'fake-qwen', '1.0.0', peftFolder({ base: LLAMA2 }), { baseModel: 'Qwen/Qwen2.5-14B', publish: true })
    expect(published.version).toMatchObject({ status: 'published', baseModel: 'Qwen/Qwen2.5-14B' })
    expect(published.version.compatibleBases).toContain('Qwen/Qwen2.5-14B')

    // Nobody else sees or uses it.
    expectProblem(await h.call('GET', '/v1/base-models/Qwen/Qwen2.5-14B'), 404, 'not_found')
    expectProblem(await h.call('GET', '/v1/base-models/Qwen/Qwen2.5-14B/adapters'), 404, 'not_found')
    expect((await h.call('GET', '/v1/base-models')).json.items.map((base: { id: string }) => base.id)).not.toContain('Qwen/Qwen2.5-14B')
    for (const auth of [undefined, buyer.token, squatter.token]) expectProblem((await searchIds('base=Qwen/Qwen2.5-14B', auth)).response, 422, 'unknown_base_model')
    const llamaSearch = await searchIds(`base=${LLAMA2}`)
    const listing = llamaSearch.response.json.items.find((item: { slug: string }) => item.slug === 'fake-qwen')
    expect(listing.compatibleBases).not.toContain('Qwen/Qwen2.5-14B')
    const ref = `${squatter.team}/fake-qwen@1.0.0`
    expectProblem(await h.call('POST', '/v1/compat/check', { auth: buyer.token, body: { base: 'Qwen/Qwen2.5-14B', adapter: { version: ref } } }), 422, 'unknown_base_model')
    expectProblem(await h.call('POST', '/v1/compat/check', { body: { base: 'Qwen/Qwen2.5-14B', adapter: { version: ref } } }), 422, 'unknown_base_model')
    expect((await h.call('POST', '/v1/compat/check', { auth: squatter.token, body: { base: 'Qwen/Qwen2.5-14B', adapter: { version: ref } } })).json.compatible).toBe(true)
    const anonymousVersion = await h.call('GET', `/v1/adapters/${squatter.team}/fake-qwen/versions/1.0.0`)
    expect(anonymousVersion.json.compatibleBases).toContain(LLAMA2)
    expect(anonymousVersion.json.compatibleBases).not.toContain('Qwen/Qwen2.5-14B')
    const matrix = await h.call('GET', `/v1/adapters/${squatter.team}/fake-qwen/versions/1.0.0/compatibility`, { auth: buyer.token })
    expect(matrix.json.items.map((row: { base: string }) => row.base)).not.toContain('Qwen/Qwen2.5-14B')
    const ownMatrix = await h.call('GET', `/v1/adapters/${squatter.team}/fake-qwen/versions/1.0.0/compatibility`, { auth: squatter.token })
    expect(ownMatrix.json.items.map((row: { base: string }) => row.base)).toContain('Qwen/Qwen2.5-14B')
    await createListing(h, buyer, 'uses-squat')
    const declared = await h.call('POST', `/v1/adapters/${buyer.team}/uses-squat/versions`, {
      auth: buyer.token,
      body: { version: '1.0.0', baseModel: 'Qwen/Qwen2.5-14B', files: [{ path: 'adapter_model.safetensors', size: 10, sha256: 'a'.repeat(64) }] },
    })
    expectProblem(declared, 422, 'unknown_base_model')

    // The operator sees it pending, rejects it, then the real registration goes through, verified.
    const pending = await h.call('GET', '/v1/base-models/pending', { auth: operator.token })
    expect(pending.status).toBe(200)
    expect(pending.json.items).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'Qwen/Qwen2.5-14B', team: squatter.team, modelType: 'llama' })]))
    expect((await review(operator.token, 'Qwen/Qwen2.5-14B', { decision: 'reject' })).json).toEqual({ id: 'Qwen/Qwen2.5-14B', status: 'rejected', mergedInto: null })
    expect((await h.call('GET', `/v1/adapters/${squatter.team}/fake-qwen/versions/1.0.0`, { auth: squatter.token })).json.compatibleBases).not.toContain('Qwen/Qwen2.5-14B')
    const real = await register(operator.token, { id: 'Qwen/Qwen2.5-14B', config: qwen25_14bConfig, revision: 'main' })
    expect(real.status).toBe(201)
    expect(real.json).toMatchObject({ status: 'verified', modelType: 'qwen2', numHiddenLayers: 48, sourceRevision: 'main' })
    await h.idle()
    expect((await searchIds('base=Qwen/Qwen2.5-14B')).slugs).not.toContain(`${squatter.team}/fake-qwen`)
    expect((await h.call('GET', '/v1/base-models/qwen/qwen2.5-14b')).json).toMatchObject({ id: 'Qwen/Qwen2.5-14B', status: 'verified' })
  })

  it('ids are unique ignoring case, and the 409 names the existing id', async () => {
    const first = await h.teamOwner('case-a')
    const second = await h.teamOwner('case-b')
    const created = await register(first.token, { id: 'Acme/Tiny-Llama', config: llama2Config })
    expect(created.status).toBe(201)
    const clash = await register(second.token, { id: 'acme/tiny-llama', config: llama2Config })
    expectProblem(clash, 409, 'base_model_exists')
    expect(clash.json.existing).toBe('Acme/Tiny-Llama')
    expect(clash.json.detail).toContain('Acme/Tiny-Llama')
    expectProblem(await register(operator.token, { id: 'ACME/TINY-LLAMA', config: llama2Config }), 409, 'base_model_exists')
  })

  it('a registration belongs to a team, and records the config’s sha256 and the revision given', async () => {
    const loner = await h.user('loner')
    expectProblem(await register(loner.token, { id: 'loner/model', config: llama2Config }), 422, 'team_required')
    const owner = await h.teamOwner('two-a')
    const secondTeam = await h.call('POST', '/v1/teams', { auth: owner.token, body: { slug: `two-b-${crypto.randomUUID().slice(0, 8)}`, name: 'B' } })
    expectProblem(await register(owner.token, { id: 'two/model', config: llama2Config }), 422, 'team_required')
    const outsider = await h.teamOwner('outsider')
    expectProblem(await register(outsider.token, { id: 'two/model', config: llama2Config, team: owner.team }), 403, 'not_team_member')
    const key = await h.call('POST', '/v1/api-keys', { auth: owner.token, body: { name: 'bound', scopes: ['publish'], team: secondTeam.json.team.slug } })
    expectProblem(await register(key.json.key, { id: 'two/model', config: llama2Config, team: owner.team }), 403, 'key_team_mismatch')
    const byKey = await register(key.json.key, { id: 'two/model', config: llama2Config, revision: '6fdf2e60f86ff2481f2241aaee459f85b5b0bbb9' })
    expect(byKey.status).toBe(201)
    expect(byKey.json).toMatchObject({
      status: 'pending',
      configSha256: createHash('sha256').update(JSON.stringify(llama2Config)).digest('hex'),
      sourceRevision: '6fdf2e60f86ff2481f2241aaee459f85b5b0bbb9',
    })
    const [row] = await h.db.select().from(registeredBaseModels).where(eq(registeredBaseModels.id, 'two/model'))
    expect(row?.teamId).toBe(secondTeam.json.team.id)
    expectProblem(await register(owner.token, { id: 'two/other', config: llama2Config, revision: '../etc' }), 422, 'validation_failed')
  })

  it('only operators list and review; they verify, merge into a twin, and cannot decide twice', async () => {
    const team = await h.teamOwner('mirror')
    expect((await h.call('GET', '/v1/me', { auth: team.token })).json.operator).toBe(false)
    expect((await h.call('GET', '/v1/me', { auth: operator.token })).json.operator).toBe(true)
    expect((await register(team.token, { id: 'mirror/llama-2-7b-copy', config: llama2Config })).status).toBe(201)
    expect((await register(team.token, { id: 'mirror/qwen-14b-copy', config: qwen25_14bConfig })).status).toBe(201)

    // Not an operator, a key without admin, a key bound to a team (even the operator's own): refused.
    expectProblem(await h.call('GET', '/v1/base-models/pending', { auth: team.token }), 403, 'not_operator')
    expectProblem(await review(team.token, 'mirror/llama-2-7b-copy', { decision: 'verify' }), 403, 'not_operator')
    const opTeam = await h.call('POST', '/v1/teams', { auth: operator.token, body: { slug: `ops-${crypto.randomUUID().slice(0, 8)}`, name: 'Ops' } })
    const bound = await h.call('POST', '/v1/api-keys', { auth: operator.token, body: { name: 'bound', scopes: ['admin'], team: opTeam.json.team.slug } })
    expectProblem(await review(bound.json.key, 'mirror/llama-2-7b-copy', { decision: 'verify' }), 403, 'not_operator')
    const readOnly = await h.call('POST', '/v1/api-keys', { auth: operator.token, body: { name: 'read', scopes: ['read'] } })
    expectProblem(await h.call('GET', '/v1/base-models/pending', { auth: readOnly.json.key }), 403, 'insufficient_scope')
    expectProblem(await h.call('GET', '/v1/base-models/pending'), 401, 'unauthorized')

    // A version declared for the pending copy follows it into the base it is merged into.
    await createListing(h, team, 'on-copy')
    await publishFolder(h, team, 'on-copy', '1.0.0', peftFolder({ base: LLAMA2 }), { baseModel: 'mirror/llama-2-7b-copy', publish: true })
    expectProblem(await review(operator.token, 'mirror/llama-2-7b-copy', { decision: 'merge', into: 'mistralai/Mistral-7B-v0.1' }), 422, 'merge_shape_mismatch')
    expectProblem(await review(operator.token, 'mirror/llama-2-7b-copy', { decision: 'merge' }), 422, 'merge_target_required')
    expectProblem(await review(operator.token, 'mirror/llama-2-7b-copy', { decision: 'merge', into: 'nobody/nothing' }), 422, 'unknown_merge_target')
    const merged = await review(operator.token, 'mirror/llama-2-7b-copy', { decision: 'merge', into: LLAMA2 })
    expect(merged.json).toEqual({ id: 'mirror/llama-2-7b-copy', status: 'merged', mergedInto: LLAMA2 })
    const version = await h.call('GET', `/v1/adapters/${team.team}/on-copy/versions/1.0.0`)
    expect(version.json.baseModel).toBe(LLAMA2)
    expect(version.json.compatibleBases).not.toContain('mirror/llama-2-7b-copy')
    expect((await h.call('GET', '/v1/base-models/mirror/llama-2-7b-copy')).json.id).toBe(LLAMA2)
    const check = await h.call('POST', '/v1/compat/check', { body: { base: 'mirror/llama-2-7b-copy', adapter: { version: `${team.team}/on-copy@1.0.0` } } })
    expect(check.json).toMatchObject({ base: LLAMA2, compatible: true })
    expect((await searchIds('base=mirror/llama-2-7b-copy')).slugs).toContain(`${team.team}/on-copy`)
    // The alias keeps its id: it cannot be registered again.
    expectProblem(await register(team.token, { id: 'mirror/llama-2-7b-copy', config: llama2Config }), 409, 'base_model_exists')

    const verified = await review(operator.token, 'mirror/qwen-14b-copy', { decision: 'verify' })
    expect(verified.json).toEqual({ id: 'mirror/qwen-14b-copy', status: 'verified', mergedInto: null })
    expect((await h.call('GET', '/v1/base-models/mirror/qwen-14b-copy')).json.twins).toContain('Qwen/Qwen2.5-14B')
    expectProblem(await review(operator.token, 'mirror/qwen-14b-copy', { decision: 'reject' }), 409, 'base_model_not_pending')
    expectProblem(await review(operator.token, LLAMA2, { decision: 'reject' }), 409, 'base_model_not_pending')
    expectProblem(await review(operator.token, 'nobody/nothing', { decision: 'verify' }), 404, 'not_found')
    expect((await h.call('GET', '/v1/base-models/pending', { auth: operator.token })).json.items.map((item: { id: string }) => item.id)).not.toContain('mirror/qwen-14b-copy')
  })

  it('verifying a base adds it to the matrix of versions published before, so search finds them under it', async () => {
    const seller = await h.teamOwner('early')
    await createListing(h, seller, 'early-bird')
    await publishFolder(h, seller, 'early-bird', '1.0.0', peftFolder({ base: LLAMA2 }), { publish: true })
    const registrant = await h.teamOwner('late')
    expect((await register(registrant.token, { id: 'late/llama-2-7b-finetune-base', config: llama2Config })).status).toBe(201)
    expectProblem((await searchIds('base=late/llama-2-7b-finetune-base')).response, 422, 'unknown_base_model')

    expect((await review(operator.token, 'late/llama-2-7b-finetune-base', { decision: 'verify' })).status).toBe(200)
    await h.idle()
    expect((await searchIds('base=late/llama-2-7b-finetune-base')).slugs).toContain(`${seller.team}/early-bird`)
    expect((await searchIds('base=late/llama-2-7b-finetune-base&runtime=vllm')).slugs).toContain(`${seller.team}/early-bird`)
    const version = await h.call('GET', `/v1/adapters/${seller.team}/early-bird/versions/1.0.0`)
    expect(version.json.compatibleBases).toContain('late/llama-2-7b-finetune-base')
    const matrix = await h.call('GET', `/v1/adapters/${seller.team}/early-bird/versions/1.0.0/compatibility`)
    const row = matrix.json.items.find((item: { base: string }) => item.base === 'late/llama-2-7b-finetune-base')
    expect(row).toMatchObject({ compatible: true, twins: expect.arrayContaining([LLAMA2]) })

    // The job is idempotent: running it again adds nothing.
    const again = await addBaseToMatrices(h.deps, 'late/llama-2-7b-finetune-base')
    expect(again.checked).toBe(0)
    const rows = await h.db
      .select()
      .from(versionCompatibility)
      .where(and(eq(versionCompatibility.versionId, version.json.id), eq(versionCompatibility.baseModel, 'late/llama-2-7b-finetune-base')))
    expect(rows).toHaveLength(1)
  })

  it('a compatibility read touches only bases with the same layer shapes, not the whole registry', async () => {
    const seller = await h.teamOwner('reads')
    await createListing(h, seller, 'read-me')
    await publishFolder(h, seller, 'read-me', '1.0.0', peftFolder({ base: LLAMA2 }), { publish: true })
    const ref = `${seller.team}/read-me@1.0.0`
    const before = await checkCompatibility({ db: h.db, clock: h.deps.clock, principal: null }, { base: LLAMA2, adapter: { version: ref } })
    // 1,000 verified rows of other shapes whose facts no check could use: a read that loads and
    // checks every base fails on them; one that looks bases up by signature never reads them.
    await h.db.insert(registeredBaseModels).values(
      Array.from({ length: 1000 }, (_, index) => ({
        id: `unread/base-${index}`,
        modelType: 'llama',
        // Deliberately not a base model: reading one is a StoredShapeError.
        facts: { id: `unread/base-${index}` } as unknown as BaseModel,
        hfConfig: {},
        status: 'verified' as const,
        shapeSignature: `other-${index}`,
      })),
    )
    const after = await h.call('POST', '/v1/compat/check', { body: { base: LLAMA2, adapter: { version: ref } } })
    expect(after.status).toBe(200)
    expect(after.json.twins).toEqual(before.twins)
    expect((await h.call('GET', `/v1/base-models/${LLAMA2}`)).status).toBe(200)
    expect((await h.call('GET', `/v1/adapters/${seller.team}/read-me/versions/1.0.0`)).status).toBe(200)
    expect((await h.call('GET', `/v1/adapters/${seller.team}/read-me/versions/1.0.0/compatibility`)).status).toBe(200)
    await h.db.delete(registeredBaseModels).where(eq(registeredBaseModels.modelType, 'llama'))
  })
})

describe('registration costs are bounded per team', () => {
  let h: Harness
  beforeAll(async () => {
    h = await createHarness({ baseModelLimiter: createRateLimiter({ limit: 3, windowSeconds: 3600 }), maxPendingBaseModels: 2 })
  })
  afterAll(() => h.close())

  it('caps pending registrations, then rate-limits, per team', async () => {
    const team: Person = await h.teamOwner('flood')
    const other: Person = await h.teamOwner('calm')
    const config = hfConfigs[LLAMA2]!
    const register = (who: Person, id: string) => h.call('POST', '/v1/base-models', { auth: who.token, body: { id, config } })
    expect((await register(team, 'flood/one')).status).toBe(201)
    expect((await register(team, 'flood/two')).status).toBe(201)
    const capped = await register(team, 'flood/three')
    expectProblem(capped, 422, 'too_many_pending_base_models')
    expect(capped.json.limit).toBe(2)
    const limited = await register(team, 'flood/four')
    expectProblem(limited, 429, 'rate_limited')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect((await register(other, 'calm/one')).status).toBe(201)
    expect(await h.db.select({ id: registeredBaseModels.id }).from(registeredBaseModels).where(eq(registeredBaseModels.status, 'pending'))).toHaveLength(3)
  })
})
