import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApp } from '../../src/app'
import { createRegistryCache } from '../../src/registry/registry-cache'
import { hfConfigs } from '../compat/fixtures/hf-configs'
import { peftFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { queryCounter } from '../helpers/query-counter'

const LLAMA2 = 'meta-llama/Llama-2-7b-hf'
const REVALIDATE_SECONDS = 30

/** A Llama-2-7B adapter as an integrator sends it: its config and its safetensors header. */
function llamaAdapter() {
  const files = peftFolder({ base: LLAMA2, modules: ['self_attn.q_proj', 'self_attn.v_proj'] })
  const bytes = files.find((file) => file.path === 'adapter_model.safetensors')!.bytes
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true))
  return {
    config: JSON.parse(new TextDecoder().decode(files.find((file) => file.path === 'adapter_config.json')!.bytes)),
    header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))),
  }
}

type App = ReturnType<typeof createApp>

describe('the base-model registry kept in memory (checkCompatibility by base id)', () => {
  let h: Harness
  const operators: string[] = []
  let operator: Awaited<ReturnType<Harness['user']>>
  let team: Awaited<ReturnType<Harness['teamOwner']>>
  const adapter = llamaAdapter()
  // This process: the harness's app (which writes) and the same app over a counted connection, sharing one cache.
  let here: { app: App; counter: ReturnType<typeof queryCounter> }
  // Another process over the same database: its own cache.
  let there: { app: App; counter: ReturnType<typeof queryCounter> }

  async function check(on: { app: App }, base: string, auth?: string) {
    const response = await on.app.request('/v1/compat/check', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(auth && { Authorization: `Bearer ${auth}` }) },
      body: JSON.stringify({ base, adapter }),
    })
    return { status: response.status, json: await response.json() }
  }
  const register = (auth: string, id: string) => h.call('POST', '/v1/base-models', { auth, body: { id, config: hfConfigs[LLAMA2] } })
  const review = (id: string, body: Record<string, unknown>) => h.call('POST', `/v1/base-models/${id}/review`, { auth: operator.token, body })
  const unique = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}/llama-2-7b-copy`
  const registryQueries = (counter: ReturnType<typeof queryCounter>) => counter.queries.filter((query) => query.includes('registered_base_models'))

  beforeAll(async () => {
    h = await createHarness({ operators, registry: createRegistryCache({ revalidateSeconds: REVALIDATE_SECONDS }) })
    operator = await h.user('operator')
    operators.push(operator.email.toLowerCase())
    team = await h.teamOwner('registrant')
    const counted = queryCounter(h.db, h.kind)
    here = { app: createApp({ ...h.deps, db: counted.db }), counter: counted }
    const elsewhere = queryCounter(h.db, h.kind)
    there = { app: createApp({ ...h.deps, db: elsewhere.db, registry: createRegistryCache({ revalidateSeconds: REVALIDATE_SECONDS }) }), counter: elsewhere }
  })
  afterAll(() => h.close())

  it('a warm check by base id does no I/O; a signed-in caller’s reads only its own teams’ registrations; re-validation is one aggregate row', async () => {
    expect((await check(here, LLAMA2)).status).toBe(200)
    here.counter.reset()
    const warm = await check(here, LLAMA2)
    expect(warm.status).toBe(200)
    expect(warm.json).toMatchObject({ compatible: true, base: LLAMA2 })
    expect(here.counter.queries).toEqual([])

    // A registered, verified base is served from memory too.
    const verifiedId = unique('ops')
    expect((await register(operator.token, verifiedId)).status).toBe(201)
    expect((await check(here, verifiedId)).status).toBe(200)
    here.counter.reset()
    expect((await check(here, verifiedId)).json).toMatchObject({ compatible: true, base: verifiedId })
    expect(here.counter.queries).toEqual([])

    // Signed in: one query for the caller's teams' registrations (fresh), never the whole registry.
    await check(here, LLAMA2, team.token)
    here.counter.reset()
    expect((await check(here, LLAMA2, team.token)).status).toBe(200)
    expect(registryQueries(here.counter)).toHaveLength(1)
    expect(registryQueries(here.counter)[0]).toContain('team_members')

    // Past the bound: one aggregate row says nothing changed; then memory again.
    h.advanceClock(REVALIDATE_SECONDS * 1000)
    here.counter.reset()
    expect((await check(here, LLAMA2)).status).toBe(200)
    expect(here.counter.queries).toHaveLength(1)
    expect(here.counter.queries[0]).toContain('max(')
    here.counter.reset()
    expect((await check(here, LLAMA2)).status).toBe(200)
    expect(here.counter.queries).toEqual([])
  })

  it('an operator’s verify, reject or merge is seen by the next check in this process, with no clock moved', async () => {
    const verifiedId = unique('verify-me')
    expect((await register(team.token, verifiedId)).json).toMatchObject({ status: 'pending' })
    await check(here, LLAMA2) // warm
    expect((await check(here, verifiedId)).json.code).toBe('unknown_base_model')
    expect((await check(here, verifiedId, team.token)).status).toBe(200) // its team uses it while pending
    expect((await review(verifiedId, { decision: 'verify' })).status).toBe(200)
    expect((await check(here, verifiedId)).json).toMatchObject({ compatible: true, base: verifiedId })

    const rejectedId = unique('reject-me')
    expect((await register(team.token, rejectedId)).status).toBe(201)
    expect((await check(here, rejectedId, team.token)).status).toBe(200)
    expect((await review(rejectedId, { decision: 'reject' })).status).toBe(200)
    expect((await check(here, rejectedId, team.token)).json.code).toBe('unknown_base_model')
    expect((await check(here, rejectedId)).json.code).toBe('unknown_base_model')

    const aliasId = unique('merge-me')
    expect((await register(team.token, aliasId)).status).toBe(201)
    expect((await check(here, aliasId)).json.code).toBe('unknown_base_model')
    expect((await review(aliasId, { decision: 'merge', into: verifiedId })).status).toBe(200)
    expect((await check(here, aliasId)).json).toMatchObject({ compatible: true, base: verifiedId })
    expect((await check(here, aliasId, team.token)).json).toMatchObject({ base: verifiedId })
  })

  it('another process sees a verified registration once the bound has passed, and a team sees its own registration there at once', async () => {
    expect((await check(there, LLAMA2)).status).toBe(200) // warm
    const verifiedId = unique('elsewhere')
    expect((await register(operator.token, verifiedId)).json).toMatchObject({ status: 'verified' })
    // The writer's process knows at once; the other answers from its copy until the bound.
    expect((await check(here, verifiedId)).status).toBe(200)
    expect((await check(there, verifiedId)).json.code).toBe('unknown_base_model')
    h.advanceClock(REVALIDATE_SECONDS * 1000 - 1000)
    expect((await check(there, verifiedId)).json.code).toBe('unknown_base_model')

    // Pending registrations are never cached: the team sees its own at once, in any process.
    const pendingId = unique('pending-elsewhere')
    expect((await register(team.token, pendingId)).json).toMatchObject({ status: 'pending' })
    expect((await check(there, pendingId, team.token)).status).toBe(200)
    expect((await check(there, pendingId)).json.code).toBe('unknown_base_model')
    // Verified here: the team keeps it there without a gap; others get it with the bound.
    expect((await review(pendingId, { decision: 'verify' })).status).toBe(200)
    expect((await check(there, pendingId, team.token)).json).toMatchObject({ base: pendingId })
    expect((await check(there, pendingId)).json.code).toBe('unknown_base_model')

    h.advanceClock(1000)
    there.counter.reset()
    expect((await check(there, verifiedId)).json).toMatchObject({ compatible: true, base: verifiedId })
    expect(there.counter.queries).toHaveLength(2) // the aggregate row changed: one reload
    there.counter.reset()
    expect((await check(there, verifiedId)).status).toBe(200)
    expect((await check(there, pendingId)).json).toMatchObject({ base: pendingId })
    expect(there.counter.queries).toEqual([])
  })
})
