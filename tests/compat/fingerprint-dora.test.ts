import { describe, expect, it } from 'vitest'
import { buildSafetensors, readSafetensorsHeader } from '../../src/compat'
import { type AdapterFingerprint, createFingerprinter, fingerprintBytes, moduleKey, quantiseSketches, storedSketches } from '../../src/compat/fingerprint'
import { compareEntries, decide, DUPLICATE_SHARE, EXTRA_MATCH_DISTANCE, type FingerprintMatch } from '../../src/publishing/fingerprints'
import { baseNamed } from '../helpers/adapters'
import { doraMagnitudes, type LoraModule, padRank, prng, randomLora, rescale, rotate, saveLora, savedMatrix, type SaveOptions } from '../helpers/lora-weights'

/**
 * DoRA magnitude vectors and modules_to_save matrices (docs/fingerprints.md, "DoRA magnitudes and
 * saved modules"): both are dominated by the base model's own weights, so they are compared by a
 * small distance, and they weigh at most 1/4 of the LoRA entries together.
 */
const llama = baseNamed('meta-llama/Llama-2-7b-hf')
const ALL = ['lora', 'magnitude', 'saved'] as const

const fingerprintOf = (modules: LoraModule[], options: SaveOptions) => {
  const file = saveLora(modules, options)
  return fingerprintBytes(readSafetensorsHeader(file, file.length), file)
}
const nonZero = (fingerprint: AdapterFingerprint) => fingerprint.modules.filter((module) => !module.zero)
const compare = (a: AdapterFingerprint, b: AdapterFingerprint, kinds: readonly ('lora' | 'magnitude' | 'saved')[] = ALL) => compareEntries(nonZero(a), nonZero(b), kinds)
/** What validation decides against a published original of another team. */
const verdictOf = (a: AdapterFingerprint, b: AdapterFingerprint) => {
  const comparison = compare(a, b)
  if (comparison.matchedModules === 0) return 'unique'
  const match: FingerprintMatch = { versionId: 'original', ref: 'seller/original@1.0.0', teamId: 'seller', status: 'published', nameable: true, kind: 'function', ...comparison }
  return decide([match]).verdict
}
/** Euclidean distance of two normalised sketches (what EXTRA_MATCH_DISTANCE bounds). */
const distance = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!
    na += a[i]! ** 2
    nb += b[i]! ** 2
  }
  return Math.sqrt(Math.max(0, 2 - (2 * dot) / Math.sqrt(na * nb)))
}
/** Per entry kind, the distances between the two fingerprints' magnitude and saved entries. */
function extraDistances(a: AdapterFingerprint, b: AdapterFingerprint): number[] {
  const theirs = new Map(b.modules.map((module) => [module.module, module.sketch]))
  return a.modules.filter((module) => module.kind !== 'lora' && theirs.has(module.module)).map((module) => distance(module.sketch, theirs.get(module.module)!))
}

describe('DoRA magnitudes and saved modules (modules_to_save)', () => {
  // Full Llama-2-7B widths on two layers; m moved 2% by training; a near-base lm_head (the vocabulary
  // cut to 2,048 rows to keep the run short: the sketch is per element, rows only add work) and a
  // fresh classifier head.
  const modules = ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj']
  const lora = randomLora(llama, { r: 8, modules, layers: [0, 1], seed: 1 })
  const magnitudes = doraMagnitudes(lora, { drift: 0.02, seed: 2 })
  const saved = [savedMatrix('lm_head', 2048, 4096, { drift: 0.02, seed: 3 }), savedMatrix('score', 2, 4096, { drift: Infinity, seed: 4 })]
  const original = fingerprintOf(lora, { dtype: 'F32', magnitudes, saved })

  it('fingerprints every piece: one LoRA, one magnitude entry per module and one entry per saved matrix', () => {
    expect(original.version).toBe(2)
    const kinds = original.modules.map((module) => module.kind)
    expect(kinds.filter((kind) => kind === 'lora')).toHaveLength(6)
    expect(kinds.filter((kind) => kind === 'magnitude')).toHaveLength(6)
    expect(original.modules.filter((module) => module.kind === 'saved').map((module) => module.module)).toEqual(['lm_head|saved|2048|4096', 'score|saved|2|4096'])
    expect(original.modules.find((module) => module.kind === 'magnitude')?.module).toBe('model.layers.0.mlp.down_proj|magnitude|4096')
    expect(compare(original, original).share).toBe(1)
  })

  const copies: [string, () => AdapterFingerprint][] = [
    ['re-saved in BF16', () => fingerprintOf(lora, { dtype: 'BF16', magnitudes, saved })],
    ['re-saved in F16', () => fingerprintOf(lora, { dtype: 'F16', magnitudes, saved })],
    ['tensor order and metadata changed', () => fingerprintOf(lora, { dtype: 'F32', order: 'reversed', metadata: { note: 'mine' }, magnitudes, saved })],
    [
      'LoRA part re-parametrised (A·c, B/c, rotated, rank padded), everything in BF16',
      () => fingerprintOf(padRank(rotate(rescale(lora, 0.05), 9), 16), { dtype: 'BF16', order: 'b-first', metadata: {}, magnitudes, saved }),
    ],
  ]

  it.each(copies)('a copy %s: every entry matches, rejected as a duplicate', (_name, copy) => {
    const fingerprint = copy()
    const comparison = compare(original, fingerprint)
    expect(comparison.matchedModules).toBe(original.modules.length)
    expect(comparison.share).toBe(1)
    expect(Math.max(...extraDistances(original, fingerprint))).toBeLessThan(EXTRA_MATCH_DISTANCE / 2)
    expect(verdictOf(fingerprint, original)).toBe('duplicate')
    // The index finds it: most magnitude and saved keys survive the re-save, as the LoRA keys do.
    const keys = new Set(original.modules.map(moduleKey))
    const extras = fingerprint.modules.filter((module) => module.kind !== 'lora')
    expect(extras.filter((module) => keys.has(moduleKey(module))).length).toBeGreaterThanOrEqual(extras.length / 2)
  })

  it('m kept, LoRA part replaced: recognised on the magnitudes, flagged (never a duplicate on them alone)', () => {
    const replaced = randomLora(llama, { r: 8, modules, layers: [0, 1], seed: 77 })
    const copy = fingerprintOf(replaced, { dtype: 'BF16', magnitudes })
    const comparison = compare(copy, original)
    expect(comparison.matchedModules).toBe(6)
    expect(comparison.loraMatched).toBe(0)
    // The magnitudes weigh 1/8 of the LoRA entries: ours 0.75 of 6.75, theirs 0.75 of 7.5 (6 + 0.75 + 0.75); the smaller.
    expect(comparison.share).toBeCloseTo(0.75 / 7.5, 10)
    expect(verdictOf(copy, original)).toBe('flagged')
  })

  it('saved modules kept, LoRA and m replaced: flagged', () => {
    const replaced = randomLora(llama, { r: 8, modules, layers: [0, 1], seed: 78 })
    const copy = fingerprintOf(replaced, { dtype: 'F16', magnitudes: doraMagnitudes(replaced, { drift: 0.02, seed: 79 }), saved })
    const comparison = compare(copy, original)
    expect(comparison.matchedModules).toBe(2)
    expect(comparison.loraMatched).toBe(0)
    expect(verdictOf(copy, original)).toBe('flagged')
  })

  it('LoRA part kept, m retrained and the saved modules dropped: still a duplicate (share ≥ 0.8)', () => {
    const copy = fingerprintOf(lora, { dtype: 'BF16', magnitudes: doraMagnitudes(lora, { drift: 0.02, seed: 80 }) })
    const comparison = compare(copy, original)
    expect(comparison.loraMatched).toBe(6)
    expect(comparison.share).toBeGreaterThanOrEqual(0.8)
    expect(verdictOf(copy, original)).toBe('duplicate')
  })

  it('half of the modules with their magnitudes: flagged, not a duplicate', () => {
    const half = lora.filter((module) => module.path.includes('layers.0.'))
    const copy = fingerprintOf(half, { dtype: 'BF16', magnitudes: magnitudes.filter((m) => m.path.includes('layers.0.')) })
    const comparison = compare(copy, original)
    expect(comparison.share).toBeCloseTo(3.375 / 7.5, 10)
    expect(comparison.share).toBeLessThan(DUPLICATE_SHARE)
    expect(verdictOf(copy, original)).toBe('flagged')
  })

  it('against a version-1 fingerprint (LoRA entries only) the comparison is version 1’s', () => {
    const copy = fingerprintOf(lora, { dtype: 'BF16', magnitudes, saved })
    const v1 = { ...original, version: 1, modules: original.modules.filter((module) => module.kind === 'lora') } as unknown as AdapterFingerprint
    expect(compare(copy, v1, ['lora'])).toMatchObject({ matchedModules: 6, totalModules: 6, share: 1 })
    // Without the restriction the copy's extras would count against it.
    expect(compare(copy, v1).share).toBeLessThan(1)
  })

  it('stores extras exactly (F16) and LoRA sketches as bytes, SKETCH_SIZE bytes per entry either way', () => {
    const bytes = quantiseSketches(original.modules)
    expect(bytes.length).toBe(original.modules.length * 64)
    const back = storedSketches(bytes, original.modules.map((module) => module.module))
    original.modules.forEach((module, i) => {
      if (module.kind === 'lora') expect(back[i]).toBeInstanceOf(Int8Array)
      else expect(Array.from(back[i]!)).toEqual(Array.from(module.sketch))
    })
  })

  it('streams the extras too: any chunking gives the same fingerprint', () => {
    const file = saveLora(lora, { dtype: 'BF16', order: 'reversed', magnitudes, saved })
    const header = readSafetensorsHeader(file, file.length)
    const whole = fingerprintBytes(header, file)
    const { uniform } = prng(6)
    const fingerprinter = createFingerprinter(header)
    for (let at = 0; at < file.length; ) {
      const size = 1 + Math.floor(uniform() * 9_000)
      fingerprinter.update(file.subarray(at, at + size))
      at += size
    }
    expect(fingerprinter.finish()).toEqual(whole)
  })

  it('unrelated DoRA adapters of the same base (m moved 2%, lm_head fine-tuned 2%): none flagged in ≥ 10,000 pairs', () => {
    // 142 adapters → 10,011 pairs; q/gate at full width (m of 4,096 and 11,008), r 8; a near-base
    // lm_head (128 rows) each. Every one starts from the same base: the same row norms, the same W₀.
    const fingerprints = Array.from({ length: 142 }, (_, i) => {
      const own = randomLora(llama, { r: 8, modules: ['self_attn.q_proj', 'mlp.gate_proj'], layers: [0], seed: 5000 + i })
      return fingerprintOf(own, {
        dtype: 'BF16',
        magnitudes: doraMagnitudes(own, { drift: 0.02, seed: 6000 + i }),
        saved: [savedMatrix('lm_head', 128, 4096, { drift: 0.02, seed: 7000 + i })],
      })
    })
    let pairs = 0
    let flagged = 0
    let closest = Infinity
    for (let i = 0; i < fingerprints.length; i++) {
      for (let j = i + 1; j < fingerprints.length; j++) {
        pairs++
        if (compare(fingerprints[i]!, fingerprints[j]!).matchedModules > 0) flagged++
        closest = Math.min(closest, ...extraDistances(fingerprints[i]!, fingerprints[j]!))
      }
    }
    const farthest = Math.max(...copies.map(([, copy]) => Math.max(...extraDistances(original, copy()))))
    console.info(
      `DoRA/saved FPR: ${flagged}/${pairs} unrelated pairs flagged; closest unrelated magnitude/saved distance ${closest.toFixed(5)}, farthest true copy ${farthest.toFixed(5)}, threshold ${EXTRA_MATCH_DISTANCE}`,
    )
    expect(pairs).toBeGreaterThanOrEqual(10_000)
    expect(flagged).toBe(0)
    expect(closest).toBeGreaterThan(EXTRA_MATCH_DISTANCE)
    expect(farthest).toBeLessThan(EXTRA_MATCH_DISTANCE)
  }, 300_000)

  it('the limit, measured: how far two adapters’ m must have moved apart to be told apart without the base', () => {
    // Magnitudes only (30 adapters, 435 pairs per drift, two modules each). Drift 0 is an untrained m:
    // it is the base's row norms, the same for everyone, and matches — weight 1/8, so never a duplicate.
    const shapes = randomLora(llama, { r: 8, modules: ['self_attn.q_proj', 'mlp.gate_proj'], layers: [0], seed: 1 })
    const rows: string[] = []
    const closestAt = new Map<number, number>()
    for (const drift of [0, 0.0025, 0.005, 0.01, 0.02]) {
      const fingerprints = Array.from({ length: 30 }, (_, i) => fingerprintOf([], { dtype: 'BF16', magnitudes: doraMagnitudes(shapes, { drift, seed: 900 + i }) }))
      let matched = 0
      let pairs = 0
      let closest = Infinity
      for (let i = 0; i < fingerprints.length; i++) {
        for (let j = i + 1; j < fingerprints.length; j++) {
          pairs++
          const comparison = compare(fingerprints[i]!, fingerprints[j]!)
          if (comparison.matchedModules > 0) matched++
          closest = Math.min(closest, ...extraDistances(fingerprints[i]!, fingerprints[j]!))
        }
      }
      closestAt.set(drift, closest)
      rows.push(`drift ${(drift * 100).toFixed(2)}%: ${matched}/${pairs} pairs match, closest ${closest.toFixed(5)}`)
    }
    console.info(`DoRA m without the base: ${rows.join('; ')}`)
    expect(closestAt.get(0)).toBeLessThan(EXTRA_MATCH_DISTANCE)
    expect(closestAt.get(0.01)).toBeGreaterThan(EXTRA_MATCH_DISTANCE)
    expect(closestAt.get(0.02)).toBeGreaterThan(EXTRA_MATCH_DISTANCE)
  }, 120_000)

  it.each([
    ['a magnitude vector', 'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector', [4096]],
    ['a saved matrix', 'base_model.model.lm_head.weight', [32000, 4096]],
  ])('refuses %s in a dtype it cannot read, naming the tensor', (_name, tensor, shape) => {
    const file = buildSafetensors([
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', dtype: 'F16', shape: [4, 4096] },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', dtype: 'F16', shape: [4096, 4] },
      { name: tensor, dtype: 'F8_E4M3', shape },
    ])
    expect(() => fingerprintBytes(readSafetensorsHeader(file, file.length), file)).toThrowError(
      expect.objectContaining({ code: 'unsupported_dtype', extra: expect.objectContaining({ tensor }) }),
    )
  })
})
