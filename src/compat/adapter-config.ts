import { CompatInputError } from './errors'
import { type MatchBudget, PythonRegex, PythonRegexError } from './python-regex'
import { unstorable } from '../lib/text'

/**
 * A PEFT `adapter_config.json`, normalised. Tolerant of old and new PEFT versions: unknown keys
 * (`enable_lora`, `peft_version`, `target_parameters`, `megatron_config`…) are ignored, nulls take
 * PEFT's defaults (`LoraConfig`: r=8, lora_alpha=8, bias 'none').
 */
export type AdapterConfig = {
  peftType?: string
  r: number
  loraAlpha: number
  /** list: exact name or '.'-suffix match; string: regex full match; 'all-linear'; [] when only `target_parameters`. */
  targetModules: string[] | string
  targetParameters?: string[]
  /** regex → rank, matched like PEFT's `get_pattern_key`. */
  rankPattern: Record<string, number>
  alphaPattern: Record<string, number>
  layersToTransform?: number[]
  layersPattern?: string[]
  modulesToSave: string[]
  useDora: boolean
  useRslora: boolean
  fanInFanOut: boolean
  bias: 'none' | 'all' | 'lora_only'
  loraBias: boolean
  baseModelNameOrPath?: string
  revision?: string
  taskType?: string
  peftVersion?: string
}

function fail(message: string, field?: string): CompatInputError {
  return new CompatInputError('invalid_adapter_config', message, field ? { field } : undefined)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function parseAdapterConfig(json: unknown): AdapterConfig {
  let input = json
  if (typeof input === 'string') {
    try {
      input = JSON.parse(input)
    } catch {
      throw fail('adapter_config.json is not valid JSON.')
    }
  }
  if (!isRecord(input)) throw fail('adapter_config.json must be a JSON object.')
  const peftType = optionalString(input, 'peft_type')
  if (peftType !== undefined && peftType.toUpperCase() !== 'LORA') {
    throw fail(`peft_type ${peftType} is not LoRA; only LoRA adapters are checked.`, 'peft_type')
  }
  const r = positiveInteger(input.r ?? 8, 'r')
  const loraAlpha = finiteNumber(input.lora_alpha ?? 8, 'lora_alpha')
  const config: AdapterConfig = {
    r,
    loraAlpha,
    targetModules: targetModules(input.target_modules),
    rankPattern: patternMap(input.rank_pattern, 'rank_pattern', true),
    alphaPattern: patternMap(input.alpha_pattern, 'alpha_pattern', false),
    modulesToSave: stringList(input.modules_to_save, 'modules_to_save') ?? [],
    useDora: flag(input.use_dora, 'use_dora'),
    useRslora: flag(input.use_rslora, 'use_rslora'),
    fanInFanOut: flag(input.fan_in_fan_out, 'fan_in_fan_out'),
    bias: biasMode(input.bias),
    loraBias: flag(input.lora_bias, 'lora_bias'),
  }
  if (peftType !== undefined) config.peftType = peftType
  const targetParameters = stringList(input.target_parameters, 'target_parameters')
  if (targetParameters) config.targetParameters = targetParameters
  const layers = input.layers_to_transform
  if (layers !== undefined && layers !== null) {
    const list = typeof layers === 'number' ? [layers] : layers
    if (!Array.isArray(list) || !list.every((layer) => Number.isInteger(layer) && layer >= 0)) {
      throw fail('layers_to_transform must be a layer index or a list of them.', 'layers_to_transform')
    }
    config.layersToTransform = list as number[]
  }
  const layersPattern = typeof input.layers_pattern === 'string' ? [input.layers_pattern] : stringList(input.layers_pattern, 'layers_pattern')
  if (layersPattern) config.layersPattern = layersPattern
  const base = optionalString(input, 'base_model_name_or_path')
  if (base !== undefined && base.trim() !== '') config.baseModelNameOrPath = base
  const revision = optionalString(input, 'revision')
  if (revision !== undefined) config.revision = revision
  const taskType = optionalString(input, 'task_type')
  if (taskType !== undefined) config.taskType = taskType
  const peftVersion = optionalString(input, 'peft_version')
  if (peftVersion !== undefined) config.peftVersion = peftVersion
  rejectUnstorable(config)
  return config
}

/** The parsed config is stored (jsonb), which refuses U+0000 and lone surrogates in any string. */
function rejectUnstorable(config: AdapterConfig): void {
  const strings = [
    config.peftType,
    config.baseModelNameOrPath,
    config.revision,
    config.taskType,
    config.peftVersion,
    ...(typeof config.targetModules === 'string' ? [config.targetModules] : config.targetModules),
    ...(config.targetParameters ?? []),
    ...(config.layersPattern ?? []),
    ...config.modulesToSave,
    ...Object.keys(config.rankPattern),
    ...Object.keys(config.alphaPattern),
  ]
  for (const text of strings) {
    const reason = text === undefined ? undefined : unstorable(text)
    if (reason) throw fail(`adapter_config.json ${reason} in a value it keeps (${JSON.stringify(text).slice(0, 80)}).`)
  }
}

function optionalString(input: Record<string, unknown>, key: string): string | undefined {
  const value = input[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw fail(`${key} must be a string.`, key)
  return value
}

function positiveInteger(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw fail(`${key} must be a positive integer.`, key)
  return value
}

function finiteNumber(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw fail(`${key} must be a number.`, key)
  return value
}

function flag(value: unknown, key: string): boolean {
  if (value === undefined || value === null) return false
  if (typeof value !== 'boolean') throw fail(`${key} must be true or false.`, key)
  return value
}

function biasMode(value: unknown): AdapterConfig['bias'] {
  if (value === undefined || value === null) return 'none'
  if (value === 'none' || value === 'all' || value === 'lora_only') return value
  throw fail("bias must be 'none', 'all' or 'lora_only'.", 'bias')
}

function stringList(value: unknown, key: string): string[] | undefined {
  if (value === undefined || value === null) return undefined
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw fail(`${key} must be a list of strings.`, key)
  return value as string[]
}

function targetModules(value: unknown): string[] | string {
  if (value === undefined || value === null) return []
  if (typeof value === 'string') {
    if (value !== 'all-linear') compilePythonRegex(value, 'target_modules')
    return value
  }
  const list = stringList(value, 'target_modules')
  return list ?? []
}

function patternMap(value: unknown, key: string, integers: boolean): Record<string, number> {
  if (value === undefined || value === null) return {}
  if (!isRecord(value)) throw fail(`${key} must map module patterns to numbers.`, key)
  const out = Object.create(null) as Record<string, number>
  for (const [pattern, number] of Object.entries(value)) {
    if (integers) positiveInteger(number, `${key}.${pattern}`)
    else finiteNumber(number, `${key}.${pattern}`)
    compilePythonRegex(`(^|.*\\.)${pattern}$`, key)
    out[pattern] = number as number
  }
  return out
}

const regexCache = new Map<string, PythonRegex>()

/** A Python `re` pattern, compiled once; matched in linear time whatever the pattern and subject. */
function compilePythonRegex(source: string, field: string): PythonRegex {
  const cached = regexCache.get(source)
  if (cached) return cached
  let regex: PythonRegex
  try {
    regex = new PythonRegex(source)
  } catch (error) {
    if (!(error instanceof PythonRegexError)) throw error
    throw fail(`${field} holds a regular expression that cannot be compiled (${error.message}): ${source.slice(0, 200)}`, field)
  }
  if (regexCache.size > 1000) regexCache.clear()
  regexCache.set(source, regex)
  return regex
}

/** How much matching one analysis may do (NFA steps and pattern comparisons): far above any real config. */
export const MAX_CONFIG_MATCH_STEPS = 20_000_000

/** A fresh work budget for matching a config's patterns against one adapter's modules. */
export const matchBudget = (): MatchBudget => ({ steps: MAX_CONFIG_MATCH_STEPS })

function overBudget(field: string): CompatInputError {
  return fail(`${field} takes more than ${MAX_CONFIG_MATCH_STEPS} steps to match against this adapter's modules.`, field)
}

const targetSets = new WeakMap<string[], Set<string>>()

/**
 * Whether PEFT would adapt the module at `key` (e.g. 'model.layers.0.self_attn.q_proj'):
 * `check_target_module_exists` — a string is a regex full match, a list matches the exact name
 * or a '.'-suffix; 'all-linear' matches every linear layer but the output head.
 */
export function targetsModule(config: AdapterConfig, key: string, outputHead: string, budget: MatchBudget = matchBudget()): boolean {
  const targets = config.targetModules
  if (typeof targets === 'string') {
    if (targets === 'all-linear') return key !== outputHead
    try {
      return compilePythonRegex(targets, 'target_modules').fullMatch(key, budget)
    } catch (error) {
      throw error instanceof PythonRegexError ? overBudget('target_modules') : error
    }
  }
  // The name itself or a suffix after a '.': a set lookup per dot, however long the list.
  let set = targetSets.get(targets)
  if (!set) {
    set = new Set(targets)
    targetSets.set(targets, set)
  }
  // Shortest suffix first: targets are usually leaf names ('q_proj'), matched at the first look.
  for (let at = key.lastIndexOf('.'); at >= 0; at = at > 0 ? key.lastIndexOf('.', at - 1) : -1) {
    if (set.has(key.slice(at + 1))) return true
  }
  return set.has(key)
}

type PatternMatcher = { value: number; plain: ((key: string, budget: MatchBudget) => boolean) | undefined; regex: PythonRegex | undefined; source: string }

const patternLists = new WeakMap<Record<string, number>, PatternMatcher[]>()

/**
 * `(^|.*\.)P$` for a P of plain characters and `.` (the usual module paths) is a comparison of
 * the key's last |P| characters, preceded by the start or a '.': no automaton needed.
 */
function plainPattern(pattern: string): ((key: string, budget: MatchBudget) => boolean) | undefined {
  const codes: number[] = []
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern.charCodeAt(i)
    if (ch === 0x5c) {
      const next = pattern[i + 1]
      if (next === undefined || /[\w\s]/.test(next)) return undefined
      codes.push(next.charCodeAt(0))
      i++
    } else if (ch === 0x2e) codes.push(-1)
    else if ('^$*+?{}[]()|'.includes(pattern[i] ?? '') || (ch >= 0xd800 && ch <= 0xdfff) || ch === 0x0a) return undefined
    else codes.push(ch)
  }
  const length = codes.length
  return (key, budget) => {
    budget.steps -= 1
    const n = key.length
    if (n < length || (n > length && key.charCodeAt(n - length - 1) !== 0x2e)) return false
    for (let i = 0; i < length; i++) {
      const code = codes[i] as number
      const ch = key.charCodeAt(n - length + i)
      budget.steps -= 1
      if (code === -1 ? ch === 0x0a : code !== ch) return false
    }
    return true
  }
}

function patternMatchers(patterns: Record<string, number>): PatternMatcher[] {
  const cached = patternLists.get(patterns)
  if (cached) return cached
  const list: PatternMatcher[] = []
  for (const pattern in patterns) list.push({ value: patterns[pattern] as number, plain: plainPattern(pattern), regex: undefined, source: `(^|.*\\.)${pattern}$` })
  patternLists.set(patterns, list)
  return list
}

/** PEFT's `get_pattern_key`: the first pattern with `re.match(rf"(^|.*\.){pattern}$", key)`. */
export function patternValue(patterns: Record<string, number>, key: string, budget: MatchBudget = matchBudget()): number | undefined {
  const matchers = patternMatchers(patterns)
  if (matchers.length === 0) return undefined
  // A key with a newline or a surrogate takes the automaton, which handles them exactly.
  const plainKey = !/[\n\ud800-\udfff]/.test(key)
  for (const matcher of matchers) {
    let matched: boolean
    try {
      if (matcher.plain && plainKey) matched = matcher.plain(key, budget)
      else {
        matcher.regex ??= compilePythonRegex(matcher.source, 'pattern')
        matched = matcher.regex.matchStart(key, budget)
      }
    } catch (error) {
      throw error instanceof PythonRegexError ? overBudget('rank_pattern/alpha_pattern') : error
    }
    if (budget.steps < 0) throw overBudget('rank_pattern/alpha_pattern')
    if (matched) return matcher.value
  }
  return undefined
}
