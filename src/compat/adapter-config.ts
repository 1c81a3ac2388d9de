import { CompatInputError } from './errors'

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
  return config
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
    if (value !== 'all-linear') compilePythonRegex(value, 'target_modules', true)
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
    compilePythonRegex(`(^|.*\\.)${pattern}$`, key, false)
    out[pattern] = number as number
  }
  return out
}

const regexCache = new Map<string, RegExp>()

/** Python `re` syntax to JS for the subset PEFT configs use (named groups). */
function compilePythonRegex(source: string, field: string, fullMatch: boolean): RegExp {
  const key = `${fullMatch ? 'F' : 'M'}${source}`
  const cached = regexCache.get(key)
  if (cached) return cached
  const translated = source.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>')
  let regex: RegExp
  try {
    regex = new RegExp(fullMatch ? `^(?:${translated})$` : `^(?:${translated})`)
  } catch {
    throw fail(`${field} holds a regular expression this engine cannot compile: ${source}`, field)
  }
  if (regexCache.size > 1000) regexCache.clear()
  regexCache.set(key, regex)
  return regex
}

/**
 * Whether PEFT would adapt the module at `key` (e.g. 'model.layers.0.self_attn.q_proj'):
 * `check_target_module_exists` — a string is a regex full match, a list matches the exact name
 * or a '.'-suffix; 'all-linear' matches every linear layer but the output head.
 */
export function targetsModule(config: AdapterConfig, key: string, outputHead: string): boolean {
  const targets = config.targetModules
  if (typeof targets === 'string') {
    if (targets === 'all-linear') return key !== outputHead
    return compilePythonRegex(targets, 'target_modules', true).test(key)
  }
  for (const target of targets) if (key === target || key.endsWith(`.${target}`)) return true
  return false
}

/** PEFT's `get_pattern_key`: the first pattern with `re.match(rf"(^|.*\.){pattern}$", key)`. */
export function patternValue(patterns: Record<string, number>, key: string): number | undefined {
  for (const pattern in patterns) {
    if (compilePythonRegex(`(^|.*\\.)${pattern}$`, 'pattern', false).test(key)) return patterns[pattern]
  }
  return undefined
}
