import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Job } from '../../src/lib/jobs'
import { validateVersion } from '../../src/publishing/validate'
import { baseNamed, createListing, publishFolder } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { loraFolder, randomLora, rotate } from '../helpers/lora-weights'

const llama = baseNamed('meta-llama/Llama-2-7b-hf')

/**
 * Two teams upload the same function at the same moment: validation's duplicate check runs under
 * an advisory lock per module kind, so the second to commit sees the first (on Postgres the two
 * validations really run at once, on two connections). Neither is published yet, so the rule makes
 * the second `flagged` (an unpublished version is never named or rejected against); what matters
 * here is that exactly one of the two is caught, whichever commits first.
 */
describe('seller protection: two copies validated at the same moment see each other', () => {
  let h: Harness
  const held: Job[] = []
  let first: Awaited<ReturnType<Harness['teamOwner']>>
  let second: Awaited<ReturnType<Harness['teamOwner']>>
  let slugs = 0

  beforeAll(async () => {
    // Validation jobs are held, so the test starts both validations itself, concurrently.
    h = await createHarness({ jobs: { enqueue: async (job) => void held.push(job) } })
    first = await h.teamOwner('first')
    second = await h.teamOwner('second')
  }, 60_000)
  afterAll(async () => {
    await h.close()
  })

  /** Uploads and completes a version, leaving it `validating`; returns its id. */
  async function uploaded(who: { token: string; team: string }, seed: number, transform: number) {
    const modules = randomLora(llama, { r: 8, modules: ['self_attn.q_proj', 'self_attn.v_proj'], layers: [0, 1, 2, 3], seed })
    const slug = `race-${++slugs}`
    await createListing(h, who, slug)
    const { version } = await publishFolder(h, who, slug, '1.0.0', loraFolder(llama, transform ? rotate(modules, transform) : modules, { r: 8, dtype: transform ? 'BF16' : 'F16' }))
    expect(version.status).toBe('validating')
    const job = held.pop()
    if (job?.kind !== 'validate_version') throw new Error('no validation job was queued')
    return { id: job.versionId, team: who.team, slug, ref: `${who.team}/${slug}@1.0.0` }
  }

  it.each([
    ['the first team starts first', 0],
    ['the second team starts first', 1],
  ])('exactly one of two concurrent copies is caught (%s)', async (_name, order) => {
    const seed = 1000 + order
    const pair = [await uploaded(first, seed, 0), await uploaded(second, seed, 5 + order)]
    const started = order === 0 ? pair : [...pair].reverse()
    await Promise.all(started.map((version) => validateVersion(h.deps, version.id)))

    const seen = await Promise.all(
      pair.map(async (version) => {
        const owner = version.team === first.team ? first : second
        return (await h.call('GET', `/v1/adapters/${version.team}/${version.slug}/versions/1.0.0`, { auth: owner.token })).json
      }),
    )
    expect(seen.map((version) => version.status)).toEqual(['ready', 'ready'])
    const verdicts = seen.map((version) => version.fingerprint.status).sort()
    expect(verdicts).toEqual(['flagged', 'unique'])

    // The one caught matched the other, and the other's team sees the attempt.
    const caught = seen.findIndex((version) => version.fingerprint.status === 'flagged')
    const original = pair[1 - caught]!
    const originalOwner = original.team === first.team ? first : second
    const attempts = await h.call('GET', `/v1/teams/${original.team}/fingerprint-matches`, { auth: originalOwner.token })
    expect(attempts.json.items).toEqual(
      expect.arrayContaining([expect.objectContaining({ original: original.ref, attemptedBy: pair[caught]!.team, verdict: 'flagged', share: 1 })]),
    )
  }, 120_000)
})
