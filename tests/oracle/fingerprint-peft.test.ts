import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { readSafetensorsHeader } from '../../src/compat'
import { type AdapterFingerprint, fingerprintBytes } from '../../src/compat/fingerprint'
import { compareEntries, decide, type FingerprintMatch } from '../../src/publishing/fingerprints'
import { describeOracle, runPython } from '../helpers/python'

/**
 * PEFT as the oracle for the fingerprint's reading of real DoRA + modules_to_save files:
 * tests/oracle/fingerprint_adapters.py builds them with get_peft_model(use_dora=True,
 * modules_to_save=['lm_head']) on a small seeded Llama and saves them with save_pretrained
 * (safetensors), together with the copies a buyer could make.
 */
type Made = { files: Record<string, string>; keys: string[] }

describeOracle('fingerprints of PEFT-made DoRA and modules_to_save adapters', () => {
  let dir: string
  let fingerprints: Record<string, AdapterFingerprint>
  let keys: string[]

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'refinery-fp-'))
    const made = await runPython<Made>('tests/oracle/fingerprint_adapters.py', { dir, hidden: 256, intermediate: 688, vocab: 512, layers: 2 })
    keys = made.keys
    fingerprints = Object.fromEntries(
      Object.entries(made.files).map(([name, path]) => {
        const file = new Uint8Array(readFileSync(path))
        return [name, fingerprintBytes(readSafetensorsHeader(file, file.length), file)]
      }),
    )
  }, 300_000)
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  const compare = (a: string, b: string) =>
    compareEntries(
      fingerprints[a]!.modules.filter((m) => !m.zero),
      fingerprints[b]!.modules.filter((m) => !m.zero),
      ['lora', 'magnitude', 'saved'],
    )
  const verdict = (copy: string) => {
    const comparison = compare(copy, 'original')
    if (comparison.matchedModules === 0) return 'unique'
    const match: FingerprintMatch = { versionId: 'o', ref: 'seller/original@1.0.0', teamId: 't', status: 'published', nameable: true, kind: 'function', ...comparison }
    return decide([match]).verdict
  }

  it('reads every piece PEFT saves: LoRA A/B, lora_magnitude_vector and the saved lm_head', () => {
    expect(keys).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector')
    expect(keys).toContain('base_model.model.lm_head.weight')
    const kinds = fingerprints.original!.modules.map((m) => m.kind)
    expect(kinds.filter((k) => k === 'lora')).toHaveLength(6)
    expect(kinds.filter((k) => k === 'magnitude')).toHaveLength(6)
    expect(fingerprints.original!.modules.filter((m) => m.kind === 'saved').map((m) => m.module)).toEqual(['lm_head|saved|512|256'])
    expect(fingerprints.original!.modules.every((m) => !m.zero)).toBe(true)
  })

  it.each(['bf16', 'f16', 'reparam'])('a copy (%s) matches on every entry: duplicate', (copy) => {
    expect(compare(copy, 'original')).toMatchObject({ matchedModules: 13, share: 1 })
    expect(verdict(copy)).toBe('duplicate')
  })

  it('m kept with the LoRA part replaced: the magnitudes match, flagged', () => {
    expect(compare('m_kept', 'original')).toMatchObject({ matchedModules: 7, loraMatched: 0 })
    expect(verdict('m_kept')).toBe('flagged')
  })

  it('only the saved lm_head kept: flagged', () => {
    expect(compare('head_kept', 'original')).toMatchObject({ matchedModules: 1, loraMatched: 0 })
    expect(verdict('head_kept')).toBe('flagged')
  })

  it('unrelated DoRA adapters of the same base never match (all pairs of seven)', () => {
    const names = ['original', ...Array.from({ length: 6 }, (_, i) => `unrelated_${i}`)]
    for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) expect(compare(names[i]!, names[j]!).matchedModules).toBe(0)
  })
})
