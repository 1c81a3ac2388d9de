import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, data, RefineryError } from 'refinery/client'
import { CLIENT_TYPES_PATH, clientTypesSource } from '../../scripts/client-types'
import { createHarness, type Harness } from '../helpers/harness'

describe('the typed client', () => {
  let h: Harness
  beforeAll(async () => {
    h = await createHarness()
  })
  afterAll(() => h.close())

  it('is generated from the document the app serves (run npm run client:generate after changing a route)', async () => {
    expect(await readFile(CLIENT_TYPES_PATH, 'utf8')).toBe(await clientTypesSource())
  })

  it('calls the API with typed paths and bodies, and throws the problem with its code', async () => {
    const anonymous = createClient({ url: 'http://localhost:8787', fetch: h.network })
    const signup = await data(
      anonymous.POST('/v1/signup', { body: { email: 'typed@example.test', password: 'correct horse battery staple', name: 'Typed' } }),
    )
    const client = createClient({ url: 'http://localhost:8787/', token: signup.token, fetch: h.network })
    const team = await data(client.POST('/v1/teams', { body: { slug: 'typed-team', name: 'Typed' } }))
    expect(team).toMatchObject({ team: { slug: 'typed-team' }, role: 'owner' })
    const me = await data(client.GET('/v1/me'))
    expect(me.user.email).toBe('typed@example.test')
    expect(me.teams.map((membership) => membership.slug)).toEqual(['typed-team'])

    const bases = await data(anonymous.GET('/v1/base-models'))
    expect(bases.items.map((base) => base.id)).toContain('Qwen/Qwen-7B')

    const missing = await data(client.GET('/v1/adapters/{team}/{slug}', { params: { path: { team: 'typed-team', slug: 'nothing-here' } } })).catch((error) => error)
    expect(missing).toBeInstanceOf(RefineryError)
    expect(missing).toMatchObject({ status: 404, code: 'not_found' })
    const unauthenticated = await data(anonymous.GET('/v1/me')).catch((error) => error)
    expect(unauthenticated).toMatchObject({ status: 401, code: 'unauthorized' })
  })
})
