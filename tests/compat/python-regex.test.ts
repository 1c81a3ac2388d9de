import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { analyzeAdapter, CompatInputError, parseAdapterConfig, patternValue, targetsModule, validateHeaderObject } from '../../src/compat'
import { MAX_CONFIG_MATCH_STEPS } from '../../src/compat/adapter-config'
import { PythonRegex, PythonRegexError } from '../../src/compat/python-regex'
import { PATTERNS, SUBJECTS } from './fixtures/python-regex-cases'

/** CPython's verdicts, written by scripts/python-regex-verdicts.ts from python3's `re`. */
type Verdict = { pattern: string; fullMatch?: number[]; matchStart?: number[]; error?: string }
const fixture: { python: string; subjects: string[]; verdicts: Verdict[] } = JSON.parse(readFileSync(new URL('./fixtures/python-regex-verdicts.json', import.meta.url), 'utf8'))

const indicesWhere = (test: (subject: string) => boolean) => SUBJECTS.flatMap((subject, index) => (test(subject) ? [index] : []))

describe('Python regular expressions in linear time', () => {
  it('has CPython verdicts for exactly the cases (else: npx tsx scripts/python-regex-verdicts.ts)', () => {
    expect(fixture.subjects).toEqual(SUBJECTS)
    expect(fixture.verdicts.map((verdict) => verdict.pattern)).toEqual(PATTERNS)
    // A refusal is a refusal; anything else carries both verdicts.
    for (const verdict of fixture.verdicts) expect(verdict.error === undefined).toBe(Array.isArray(verdict.fullMatch) && Array.isArray(verdict.matchStart))
  })

  it.each(fixture.verdicts.map((verdict) => [verdict.pattern, verdict] as const))(`%s compiles and matches like CPython ${fixture.python}`, (pattern, verdict) => {
    if (verdict.error !== undefined) {
      expect(() => new PythonRegex(pattern)).toThrow(PythonRegexError)
      return
    }
    const regex = new PythonRegex(pattern)
    expect(indicesWhere((subject) => regex.fullMatch(subject))).toEqual(verdict.fullMatch)
    expect(indicesWhere((subject) => regex.matchStart(subject))).toEqual(verdict.matchStart)
  })

  // Patterns in the syntax JavaScript and Python share, on ASCII subjects without newlines, where
  // both engines must agree; subjects stay short so the backtracking reference stays fast.
  const atom = fc.constantFrom('a', 'b', '_', '.', '\\.', '\\d', '\\w', '\\W', '[ab]', '[^a]', '[a-c_]', 'q_proj')
  const quantifier = fc.constantFrom('', '', '', '*', '+', '?', '{2}', '{1,3}', '{2,}', '*?', '+?')
  // JavaScript refuses quantified look-behinds: zero-width items stay unquantified here. `\B`
  // differs on the empty string (Python before 3.14 never matches there); the table covers it.
  const anchor = fc.constantFrom('^', '$', '\\b', '(?=a)', '(?!b)', '(?<=a)', '(?<!\\.)')
  function alternation(depth: number): fc.Arbitrary<string> {
    const quantified = fc.tuple(atom, quantifier).map(([a, q]) => a + q)
    const group = depth > 0 ? fc.tuple(fc.constantFrom('(', '(?:'), alternation(depth - 1), quantifier).map(([open, inner, q]) => `${open}${inner})${q}`) : quantified
    const sequence = fc.array(fc.oneof(quantified, quantified, group, anchor), { maxLength: 4 }).map((items) => items.join(''))
    return fc.array(sequence, { minLength: 1, maxLength: 2 }).map((options) => options.join('|'))
  }
  const subject = fc.string({ unit: fc.constantFrom('a', 'b', '_', '.', '1', 'q'), maxLength: 10 })

  it('agrees with JavaScript RegExp on their common syntax', () => {
    fc.assert(
      fc.property(alternation(2), fc.array(subject, { minLength: 1, maxLength: 4 }), (pattern, subjects) => {
        const regex = new PythonRegex(pattern)
        const full = new RegExp(`^(?:${pattern})$`)
        const start = new RegExp(`^(?:${pattern})`)
        for (const text of subjects) {
          expect(regex.fullMatch(text), `${pattern} fullmatch ${text}`).toBe(full.test(text))
          expect(regex.matchStart(text), `${pattern} match ${text}`).toBe(start.test(text))
        }
      }),
      { numRuns: 500 },
    )
  })

  it('stays linear on patterns that make backtracking engines explode', () => {
    const long = `${'a'.repeat(5_000)}!`
    expect(new PythonRegex('(a+)+b').fullMatch(long)).toBe(false)
    expect(new PythonRegex('(?:(?:a*)*)*b').matchStart(long)).toBe(false)
    expect(new PythonRegex('(.*a){20}$').matchStart(long)).toBe(false)
    expect(new PythonRegex('(?!(a|aa)+$)a*!').fullMatch(long)).toBe(true)
    expect(new PythonRegex('(?<=a)(?:.*.*.*.*.*)+b').matchStart(long)).toBe(false)
  })

  it.each([
    ['a pattern over 10,000 characters', 'a'.repeat(10_001)],
    ['groups nested deeper than 100', `${'('.repeat(101)}a${')'.repeat(101)}`],
    ['counted repetitions expanding beyond the program limit', '(a{1000}){1000}'],
    ['a backreference', '(a)\\1'],
    ['a named backreference', '(?P<n>a)(?P=n)'],
    ['verbose mode', '(?x) a'],
    ['an atomic group', '(?>a)'],
    ['a possessive quantifier', 'a*+'],
    ['a variable-width look-behind', '(?<=a|bc)d'],
  ])('refuses %s', (_case, pattern) => {
    expect(() => new PythonRegex(pattern)).toThrow(PythonRegexError)
  })

  it('answers a catastrophic target_modules or rank_pattern through the adapter analysis at once', () => {
    // Tensor names an uploader controls, the shape `(a+)+b` needs to backtrack for hours.
    const name = `base_model.model.${'a'.repeat(40)}!`
    const header = validateHeaderObject({
      [`${name}.lora_A.weight`]: { dtype: 'F16', shape: [4, 8], data_offsets: [0, 64] },
      [`${name}.lora_B.weight`]: { dtype: 'F16', shape: [8, 4], data_offsets: [64, 128] },
    })
    const targeted = analyzeAdapter(header, parseAdapterConfig({ r: 4, target_modules: '(a+)+b' }))
    expect(targeted.findings.map((finding) => finding.code)).toContain('target_modules_mismatch')
    const ranked = analyzeAdapter(header, parseAdapterConfig({ r: 4, target_modules: ['x'], rank_pattern: { '(a+)+b': 8 } }))
    expect(ranked.findings.map((finding) => finding.code)).not.toContain('config_rank_mismatch')
  })

  it('turns patterns Python refuses into invalid_adapter_config', () => {
    for (const input of [{ target_modules: '(?P<n>a)(?P=n)' }, { rank_pattern: { 'q_proj{3,2}': 8 } }, { alpha_pattern: { '(': 8 } }]) {
      let error: unknown
      try {
        parseAdapterConfig(input)
      } catch (caught) {
        error = caught
      }
      expect(error).toBeInstanceOf(CompatInputError)
      expect((error as CompatInputError).code).toBe('invalid_adapter_config')
    }
  })

  const moduleKey = fc.array(fc.constantFrom('model', 'layers', '0', '12', 'self_attn', 'q_proj', 'q', 'a.b', 'x\n', 'é'), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.'))

  it('matches plain rank_pattern keys without the automaton, exactly as the automaton would', () => {
    const plain = fc.array(fc.constantFrom('q_proj', 'layers', '0', '.', '\\.', 'self_attn', 'a', 'é', '-'), { minLength: 1, maxLength: 5 }).map((parts) => parts.join(''))
    fc.assert(
      fc.property(plain, moduleKey, (pattern, key) => {
        const expected = new PythonRegex(`(^|.*\\.)${pattern}$`).matchStart(key)
        expect(patternValue(parseAdapterConfig({ rank_pattern: { [pattern]: 7 } }).rankPattern, key), `${pattern} on ${key}`).toBe(expected ? 7 : undefined)
      }),
      { numRuns: 1000 },
    )
  })

  it('matches a target_modules list by exact name or dotted suffix', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('q_proj', 'self_attn.q_proj', 'attn.q_proj', 'q', 'model', 'a.b', 'é'), { maxLength: 4 }), moduleKey, (targets, key) => {
        const expected = targets.some((target) => key === target || key.endsWith(`.${target}`))
        expect(targetsModule(parseAdapterConfig({ target_modules: targets }), key, 'lm_head')).toBe(expected)
      }),
      { numRuns: 1000 },
    )
  })

  it(`refuses a config that takes more than ${MAX_CONFIG_MATCH_STEPS} steps to match as invalid_adapter_config`, () => {
    // 4,000 modules against 4,000 rank_pattern regexes that never match: 16 million pairs.
    const tensors: Record<string, unknown> = {}
    let offset = 0
    for (let i = 0; i < 4000; i++) {
      for (const part of ['A', 'B']) {
        tensors[`base_model.model.m${i}.q.lora_${part}.weight`] = { dtype: 'F16', shape: [1, 1], data_offsets: [offset, offset + 2] }
        offset += 2
      }
    }
    const header = validateHeaderObject(tensors)
    const rankPattern = Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`z${i}+.q`, 1]))
    let error: unknown
    try {
      analyzeAdapter(header, parseAdapterConfig({ r: 1, target_modules: ['q'], rank_pattern: rankPattern }))
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(CompatInputError)
    expect((error as CompatInputError).code).toBe('invalid_adapter_config')
    // The same adapter with a config of ordinary size is analysed.
    expect(analyzeAdapter(header, parseAdapterConfig({ r: 1, target_modules: '.*q', rank_pattern: { 'm1.q': 1, 'm2+.q': 1 } })).tensorCount).toBe(8000)
  })
})
