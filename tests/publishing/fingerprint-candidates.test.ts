import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readSafetensorsHeader } from '../../src/compat'
import { fingerprintBytes } from '../../src/compat/fingerprint'
import { adapters } from '../../src/catalog/tables'
import { adapterVersions } from '../../src/publishing/tables'
import { teams } from '../../src/identity/tables'
import { decide, findMatches, MAX_CANDIDATES, storeFingerprint } from '../../src/publishing/fingerprints'
import { baseNamed } from '../helpers/adapters'
import { createHarness, type Harness } from '../helpers/harness'
import { doraMagnitudes, type LoraModule, randomLora, rotate, saveLora, type SaveOptions } from '../helpers/lora-weights'

const llama = baseNamed('meta-llama/Llama-2-7b-hf')
const fingerprintOf = (modules: LoraModule[], options: SaveOptions) => {
  const file = saveLora(modules, options)
  return fingerprintBytes(readSafetensorsHeader(file, file.length), file)
}

/**
 * The lookup compares at most MAX_CANDIDATES (64) versions exactly: the ones sharing the most module
 * keys with the upload, then published before not, then the earliest published. Here more than 64
 * other teams' published versions share keys with an upload: DoRA adapters whose magnitudes stayed at
 * the base's row norms (untrained m: the same for everyone, so the same magnitude keys — the hot-key
 * case docs/fingerprints.md describes), each with its own LoRA part. The true original, published
 * after all of them, shares the LoRA keys too, so it ranks first and is found.
 */
describe('seller protection: the candidate limit keeps the best candidates', () => {
  let h: Harness
  const DECOYS = MAX_CANDIDATES + 6
  const modules = ['self_attn.q_proj', 'self_attn.v_proj']
  const layers = [0, 1, 2, 3]

  beforeAll(async () => {
    h = await createHarness()
  }, 60_000)
  afterAll(async () => {
    await h.close()
  })

  /** A published version of a new team, its fingerprint stored as validation stores a unique one. */
  async function published(name: string, at: Date, fingerprint: ReturnType<typeof fingerprintOf>) {
    const [team] = await h.db.insert(teams).values({ slug: name, name }).returning({ id: teams.id })
    const [adapter] = await h.db
      .insert(adapters)
      .values({ teamId: team!.id, slug: name, title: name, licenseSpdx: 'MIT', commercialUse: true, derivativesAllowed: true, visibility: 'published', publishedAt: at })
      .returning({ id: adapters.id })
    const [version] = await h.db
      .insert(adapterVersions)
      .values({ adapterId: adapter!.id, version: '1.0.0', declaredBase: llama.id, status: 'published', publishedAt: at })
      .returning({ id: adapterVersions.id })
    await storeFingerprint(h.db, version!.id, fingerprint, { verdict: 'unique', matches: [] }, at)
    return { teamId: team!.id, versionId: version!.id }
  }

  it(`finds the original among ${DECOYS} other teams' versions sharing keys with the upload`, async () => {
    const start = Date.UTC(2024, 0, 1)
    for (let i = 0; i < DECOYS; i++) {
      const own = randomLora(llama, { r: 8, modules, layers, seed: 300 + i })
      await published(`decoy-${i}`, new Date(start + i * 60_000), fingerprintOf(own, { dtype: 'BF16', magnitudes: doraMagnitudes(own, { drift: 0, seed: 1 }) }))
    }
    const lora = randomLora(llama, { r: 8, modules, layers, seed: 1 })
    const magnitudes = doraMagnitudes(lora, { drift: 0, seed: 1 })
    const original = await published('original', new Date(start + DECOYS * 60_000), fingerprintOf(lora, { dtype: 'F32', magnitudes }))

    const copy = fingerprintOf(rotate(lora, 4), { dtype: 'BF16', order: 'reversed', magnitudes })
    const matches = await findMatches(h.db, copy, { excludeTeams: { teamId: '00000000-0000-0000-0000-000000000000' } })
    // The limit is full: the original and 63 decoys (each matching on its untrained m only).
    expect(matches).toHaveLength(MAX_CANDIDATES)
    expect(matches[0]).toMatchObject({ versionId: original.versionId, share: 1, loraMatched: 8 })
    expect(matches.slice(1).every((match) => match.loraMatched === 0 && match.matchedModules === 8)).toBe(true)
    const decision = decide(matches)
    expect(decision.verdict).toBe('duplicate')
    expect(decision.duplicateOf?.versionId).toBe(original.versionId)
    // Ties among the decoys (the same key count) go to the earliest published: the last six are left out.
    const kept = new Set(matches.map((match) => match.ref))
    expect(kept.has('decoy-0/decoy-0@1.0.0')).toBe(true)
    expect(kept.has(`decoy-${DECOYS - 1}/decoy-${DECOYS - 1}@1.0.0`)).toBe(false)

    // An unrelated DoRA upload with its own LoRA part and an untrained m: it matches the decoys and the
    // original on m alone — flagged for operators at most, never a duplicate (the limit of m without the base).
    const stranger = randomLora(llama, { r: 8, modules, layers, seed: 9999 })
    const unrelated = decide(await findMatches(h.db, fingerprintOf(stranger, { dtype: 'BF16', magnitudes: doraMagnitudes(stranger, { drift: 0, seed: 1 }) }), { excludeTeams: 'none' }))
    expect(unrelated.verdict).toBe('flagged')
    expect(Math.max(...unrelated.matches.map((match) => match.share))).toBeLessThan(0.2)
    // With a trained m (moved 2%) it matches nothing.
    const trained = fingerprintOf(stranger, { dtype: 'BF16', magnitudes: doraMagnitudes(stranger, { drift: 0.02, seed: 5 }) })
    expect(await findMatches(h.db, trained, { excludeTeams: 'none' })).toEqual([])
  }, 240_000)
})
