import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { baseNamed, createListing, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { signIn } from '../helpers/web'
import { loraFolder, randomLora, rotate } from '../helpers/lora-weights'

const llama = baseNamed('meta-llama/Llama-2-7b-hf')

/** The copy-attempts section of a team page, so assertions do not match another section. */
const section = (html: string) => /<section aria-labelledby="copy-attempts">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? ''

describe('storefront: the team page shows copy attempts against its listings', () => {
  let h: Harness
  let seller: Awaited<ReturnType<Harness['teamOwner']>>
  let copier: Awaited<ReturnType<Harness['teamOwner']>>
  const original = randomLora(llama, { r: 8, modules: ['self_attn.q_proj', 'self_attn.v_proj'], layers: [0, 1, 2, 3], seed: 7 })

  const teamPage = async (team: string, cookie: string) => h.app.request(`/teams/${team}`, { headers: { Cookie: cookie } })

  beforeAll(async () => {
    h = await createHarness()
    seller = await h.teamOwner('seller')
    copier = await h.teamOwner('copier')
    await createListing(h, seller, 'original')
    const published = await publishFolder(h, seller, 'original', '1.0.0', loraFolder(llama, original, { r: 8, dtype: 'F16' }), { publish: true })
    expect(published.version.status).toBe('published')
  }, 60_000)
  afterAll(() => h.close())

  it('lists a rejected copy and a flagged partial copy to the seller, naming the copier', async () => {
    const cookie = await signIn(h, seller)
    const before = section(await (await teamPage(seller.team, cookie)).text())
    expect(before).toContain('No other team has uploaded a copy')

    await createListing(h, copier, 'copy')
    const copy = await publishFolder(h, copier, 'copy', '1.0.0', loraFolder(llama, rotate(original, 3), { r: 8, dtype: 'BF16' }))
    expect(copy.version.status).toBe('rejected')
    await createListing(h, copier, 'half')
    const half = await publishFolder(h, copier, 'half', '1.0.0', loraFolder(llama, original.slice(0, 4), { r: 8, dtype: 'F16' }))
    expect(half.version.status).toBe('ready')

    const response = await teamPage(seller.team, cookie)
    expect(response.status).toBe(200)
    const html = section(await response.text())
    const rows = html.split('<tr>').slice(2)
    expect(rows).toHaveLength(2)
    const rejected = rows.find((row) => row.includes('rejected as a duplicate')) ?? ''
    expect(rejected).toContain(`${seller.team}/original@1.0.0`)
    expect(rejected).toContain(copier.team)
    expect(rejected).toContain('8 of 8 modules')
    const flagged = rows.find((row) => row.includes('flagged for review')) ?? ''
    expect(flagged).toContain('4 of 8 modules')
    expect(flagged).toContain(copier.team)
  }, 60_000)

  it("shows the copier nothing of the seller's attempts, and the copier's own page no attempts", async () => {
    const cookie = await signIn(h, copier)
    expect((await teamPage(seller.team, cookie)).status).toBe(403)
    const own = section(await (await teamPage(copier.team, cookie)).text())
    expect(own).toContain('No other team has uploaded a copy')
    expect(own).not.toContain(seller.team)
  })
})
