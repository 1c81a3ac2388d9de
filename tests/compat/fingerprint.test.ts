import { describe, expect, it } from 'vitest'
import { buildSafetensors, readSafetensorsHeader } from '../../src/compat'
import { type AdapterFingerprint, createFingerprinter, fingerprintBytes, moduleKey, sketchSimilarity } from '../../src/compat/fingerprint'
import { DUPLICATE_SHARE, MODULE_MATCH_SIMILARITY } from '../../src/publishing/fingerprints'
import { baseNamed } from '../helpers/adapters'
import { type LoraModule, padRank, prng, randomLora, rescale, rotate, saveLora, type SaveOptions } from '../helpers/lora-weights'

const llama = baseNamed('meta-llama/Llama-2-7b-hf')
const qwen = baseNamed('Qwen/Qwen2-7B')

const fingerprintOf = (modules: LoraModule[], options: SaveOptions = {}) => {
  const file = saveLora(modules, options)
  return fingerprintBytes(readSafetensorsHeader(file, file.length), file)
}

/** Per module path: the similarity of the two sketches (only modules both have). */
function similarities(a: AdapterFingerprint, b: AdapterFingerprint): number[] {
  const theirs = new Map(b.modules.map((m) => [m.module, m.sketch]))
  return a.modules.flatMap((m) => {
    const other = theirs.get(m.module)
    return other ? [sketchSimilarity(m.sketch, other)] : []
  })
}

/** The share of modules matching, over the larger module set: what validation decides on. */
function share(a: AdapterFingerprint, b: AdapterFingerprint): number {
  return similarities(a, b).filter((s) => s >= MODULE_MATCH_SIMILARITY).length / Math.max(a.modules.length, b.modules.length)
}

describe('adapter fingerprints (the function ΔW, not the bytes)', () => {
  // Full Llama-2-7B geometry (4096 and 11008 dims) on two layers: the sketch is per module, so the
  // property does not depend on the layer count (the API test below uploads all 32 layers).
  const modules = ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj', 'mlp.up_proj']
  const original = randomLora(llama, { r: 8, modules, layers: [0, 1], seed: 1 })
  const reference = fingerprintOf(original, { dtype: 'F32' })

  const copies: [string, () => AdapterFingerprint][] = [
    ['re-saved in BF16', () => fingerprintOf(original, { dtype: 'BF16' })],
    ['re-saved in F16', () => fingerprintOf(original, { dtype: 'F16' })],
    ['A·c and B/c', () => fingerprintOf(rescale(original, 37.5), { dtype: 'F32' })],
    ['a random orthogonal R (A → RA, B → BRᵀ)', () => fingerprintOf(rotate(original, 99), { dtype: 'F32' })],
    ['rank padded with zeros (8 → 16)', () => fingerprintOf(padRank(original, 16), { dtype: 'F32' })],
    ['tensor order and metadata changed', () => fingerprintOf(original, { dtype: 'F32', order: 'b-first', metadata: { format: 'pt', note: 'mine now' } })],
    ['every transformation combined', () => fingerprintOf(padRank(rotate(rescale(original, 0.01), 7), 16), { dtype: 'BF16', order: 'reversed', metadata: {} })],
  ]

  it.each(copies)('is the same for a copy %s', (_name, copy) => {
    const fingerprint = copy()
    const values = similarities(reference, fingerprint)
    expect(values).toHaveLength(reference.modules.length)
    expect(Math.min(...values)).toBeGreaterThan(0.999)
    expect(share(reference, fingerprint)).toBe(1)
    // Most module keys survive (SimHash bits of near-identical sketches), so the index finds the original.
    const keys = new Set(reference.modules.map(moduleKey))
    expect(fingerprint.modules.filter((m) => keys.has(moduleKey(m))).length).toBeGreaterThanOrEqual(reference.modules.length / 2)
  })

  it('keeps exact copies by data hash, and only them', () => {
    expect(fingerprintOf(original, { dtype: 'F32', order: 'reversed', metadata: { x: 'y' } }).exactKeys).toEqual(reference.exactKeys)
    expect(fingerprintOf(original, { dtype: 'BF16' }).exactKeys.some((key) => reference.exactKeys.includes(key))).toBe(false)
  })

  it('streams: any chunking gives the same fingerprint, with memory bounded by modules, not bytes', () => {
    const file = saveLora(original, { dtype: 'BF16', order: 'b-first' })
    const header = readSafetensorsHeader(file, file.length)
    const whole = fingerprintBytes(header, file)
    const { uniform } = prng(5)
    const fingerprinter = createFingerprinter(header)
    for (let at = 0; at < file.length; ) {
      const size = 1 + Math.floor(uniform() * 70_000)
      fingerprinter.update(file.subarray(at, at + size))
      at += size
    }
    expect(fingerprinter.finish()).toEqual(whole)
  })

  it('refuses dtypes it cannot read, naming the tensor', () => {
    const file = buildSafetensors([
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', dtype: 'I8', shape: [4, 4096] },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', dtype: 'I8', shape: [4096, 4] },
    ])
    expect(() => fingerprintBytes(readSafetensorsHeader(file, file.length), file)).toThrowError(
      expect.objectContaining({ code: 'unsupported_dtype', extra: expect.objectContaining({ tensor: expect.stringContaining('lora_A') }) }),
    )
  })

  it('treats untrained modules (B = 0) as carrying nothing', () => {
    const file = buildSafetensors([
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', dtype: 'F16', shape: [4, 4096] },
      { name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', dtype: 'F16', shape: [4096, 4] },
    ])
    const fingerprint = fingerprintBytes(readSafetensorsHeader(file, file.length), file)
    expect(fingerprint.modules[0]?.zero).toBe(true)
    expect(fingerprint.exactKeys).toEqual([])
    expect(moduleKey(fingerprint.modules[0]!)).toBeUndefined()
  })

  it('a copy with half of the modules shares half: flagged, not a duplicate', () => {
    const half = fingerprintOf(original.slice(0, original.length / 2), { dtype: 'BF16' })
    expect(share(reference, half)).toBe(0.5)
    expect(share(reference, half)).toBeLessThan(DUPLICATE_SHARE)
  })

  it('Qwen2-7B geometry (3584 / 512 / 18944 dims), r = 64: copies match, rotations included', () => {
    const qwenOriginal = randomLora(qwen, { r: 64, modules: ['self_attn.k_proj', 'mlp.down_proj'], layers: [3], seed: 11 })
    const a = fingerprintOf(qwenOriginal, { dtype: 'BF16' })
    const b = fingerprintOf(padRank(rotate(rescale(qwenOriginal, 3), 2), 80), { dtype: 'F16', order: 'reversed' })
    expect(Math.min(...similarities(a, b))).toBeGreaterThan(0.999)
  })

  it('unrelated adapters on the same base and geometry: no module match in ≥ 10,000 pairs (false-positive rate and margin)', () => {
    // 142 adapters → 10,011 pairs, two modules each at full Llama-2-7B width (4096 and 11008), r from
    // 8 to 64. Layers are reduced to one: every module pair is compared independently, so the layer
    // count only multiplies the comparisons (and the test's run time).
    const ranks = [8, 8, 8, 16, 64]
    const fingerprints = Array.from({ length: 142 }, (_, i) =>
      fingerprintOf(randomLora(llama, { r: ranks[i % ranks.length]!, modules: ['self_attn.q_proj', 'mlp.gate_proj'], layers: [0], seed: 1000 + i }), {
        dtype: 'BF16',
      }),
    )
    let pairs = 0
    let flagged = 0
    let closest = -1
    for (let i = 0; i < fingerprints.length; i++) {
      for (let j = i + 1; j < fingerprints.length; j++) {
        pairs++
        const values = similarities(fingerprints[i]!, fingerprints[j]!)
        closest = Math.max(closest, ...values)
        if (values.some((s) => s >= MODULE_MATCH_SIMILARITY)) flagged++
      }
    }
    // The farthest true copy: every transformation combined, saved in BF16.
    const farthest = Math.min(...copies.flatMap(([, copy]) => similarities(reference, copy())))
    console.info(`fingerprint FPR: ${flagged}/${pairs} unrelated pairs flagged; closest unrelated module similarity ${closest.toFixed(4)}, farthest true copy ${farthest.toFixed(6)}, threshold ${MODULE_MATCH_SIMILARITY}`)
    expect(pairs).toBeGreaterThanOrEqual(10_000)
    expect(flagged).toBe(0)
    expect(closest).toBeLessThan(MODULE_MATCH_SIMILARITY)
    expect(farthest).toBeGreaterThan(MODULE_MATCH_SIMILARITY)
  }, 180_000)
})
