import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hfConfigs } from '../compat/fixtures/hf-configs'
import { runCli } from '../helpers/cli'
import { createHarness, type Harness } from '../helpers/harness'

const API = 'http://localhost:8787'

describe('refinery base register / pending / review', () => {
  let h: Harness
  let dir: string
  const operators: string[] = []
  const as = (token: string) => ({ env: { REFINERY_URL: API, REFINERY_API_KEY: token, REFINERY_CONFIG_DIR: join(dir, 'unused') }, fetch: h.network })

  beforeAll(async () => {
    h = await createHarness({ operators })
    dir = await mkdtemp(join(tmpdir(), 'refinery-bases-'))
  })
  afterAll(async () => {
    await h.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('a team registers a pending base; an operator lists it and verifies it; others are refused', async () => {
    const seller = await h.teamOwner('cli-bases')
    const operator = await h.user('cli-operator')
    operators.push(operator.email)
    const config = join(dir, 'config.json')
    await writeFile(config, JSON.stringify(hfConfigs['meta-llama/Llama-2-7b-hf']))

    const registered = await runCli(['base', 'register', 'cli/llama-copy', '--config', config, '--revision', 'main'], as(seller.token))
    expect(registered).toMatchObject({ code: 0, stdout: expect.stringContaining('pending review') })
    const refused = await runCli(['base', 'pending'], as(seller.token))
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('operator')

    const pending = await runCli(['base', 'pending'], as(operator.token))
    expect(pending).toMatchObject({ code: 0, stdout: expect.stringContaining('cli/llama-copy') })
    expect(pending.stdout).toContain(seller.team)
    const verified = await runCli(['base', 'review', 'cli/llama-copy', '--verify'], as(operator.token))
    expect(verified).toMatchObject({ code: 0, stdout: expect.stringContaining('cli/llama-copy verified') })
    expect((await h.call('GET', '/v1/base-models/cli/llama-copy')).json.status).toBe('verified')
    expect((await runCli(['base', 'review', 'cli/llama-copy'], as(operator.token))).code).toBe(2)
  })
})
