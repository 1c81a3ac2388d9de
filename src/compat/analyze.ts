import { type AdapterConfig, matchBudget, patternValue, targetsModule } from './adapter-config'
import type { SafetensorsHeader } from './safetensors'

export type Severity = 'error' | 'warning' | 'info'

/** One check result; `code` is stable, `tensor` the first offending tensor. */
export type Finding = {
  code: string
  severity: Severity
  tensor?: string
  expected?: unknown
  actual?: unknown
  message: string
  /** How many tensors share this finding (grouped per module across layers). */
  count?: number
}

export type TensorRole =
  | 'lora_A'
  | 'lora_B'
  | 'lora_B_bias'
  | 'magnitude'
  | 'embedding_A'
  | 'embedding_B'
  | 'weight'
  | 'bias'

/** What one module needs from a base, across every layer it appears in. */
export type ModuleGroup = {
  /** 'model.layers' for layer modules, null for modules outside the layers (embeddings, head). */
  container: string | null
  /** Path below the layer ('self_attn.q_proj'), or the full path outside layers ('lm_head'). */
  module: string
  kind: 'lora' | 'embedding' | 'copy'
  layers: number[]
  tensorCount: number
  /** Distinct dimension values per role: lora_A in, lora_B out, magnitude out, embedding vocab… */
  needs: Partial<Record<TensorRole, { values: number[]; tensor: string }>>
  /** Distinct full-copy weight shapes. */
  weightShapes: number[][]
}

export type AdapterAnalysis = {
  /** Distinct LoRA ranks. */
  ranks: number[]
  /** The most common rank over adapted modules (ties: the larger) — what a person calls "r". */
  rank: number
  /** What a server must be sized for (vLLM's --max-lora-rank). */
  maxRank: number
  /** Leaf names of LoRA-adapted modules: 'q_proj', 'W_pack'. */
  targetModules: string[]
  /** Paths of adapted modules below a layer, or full paths outside: 'self_attn.q_proj', 'lm_head'. */
  modulePaths: string[]
  layerContainers: string[]
  layers: number[]
  layerCount: number
  parameterCount: number
  tensorCount: number
  dtypes: string[]
  dora: boolean
  /** Modules stored as full copies (`modules_to_save`, resized embeddings). */
  modulesToSave: string[]
  hasEmbeddingLora: boolean
  hasBias: boolean
  declaredBase?: string
  loraAlpha?: number
  useRslora?: boolean
  fanInFanOut?: boolean
  groups: ModuleGroup[]
  /** Base-independent findings (level 1 of DESIGN.md), repeated in every report. */
  findings: Finding[]
}

const PREFIX = 'base_model.model.'
const LORA_ROLE = new Map<string | undefined, TensorRole>([
  ['lora_A', 'lora_A'],
  ['lora_B', 'lora_B'],
])

export type ParsedKey = { role: TensorRole; path: string; adapterName?: string }
type Parsed = ParsedKey

/** Splits a PEFT key into module path and role; undefined when it is not a PEFT adapter key. */
export function parseKey(name: string): Parsed | undefined {
  if (!name.startsWith(PREFIX)) return undefined
  // The last three '.'-separated parts, found from the end; a path is the text before one of them.
  const start = PREFIX.length
  const dot1 = name.lastIndexOf('.')
  if (dot1 < start) return undefined
  const last = name.slice(dot1 + 1)
  const dot2 = dot1 > start ? name.lastIndexOf('.', dot1 - 1) : -1
  const previous = dot2 >= start ? name.slice(dot2 + 1, dot1) : name.slice(start, dot1)
  const path = (end: number) => (end > start ? name.slice(start, end) : '')
  if (last === 'weight' || last === 'bias') {
    const role = LORA_ROLE.get(previous)
    if (role) {
      if (last === 'bias') return role === 'lora_B' ? { role: 'lora_B_bias', path: path(dot2) } : undefined
      return { role, path: path(dot2) }
    }
    if (last === 'weight' && dot2 >= start) {
      const dot3 = dot2 > start ? name.lastIndexOf('.', dot2 - 1) : -1
      const named = LORA_ROLE.get(dot3 >= start ? name.slice(dot3 + 1, dot2) : name.slice(start, dot2))
      if (named) return { role: named, path: path(dot3), adapterName: previous }
    }
    if (previous === 'lora_magnitude_vector') return { role: 'magnitude', path: path(dot2) }
    // A full copy; PEFT strips 'modules_to_save.<adapter>' when saving, older writers did not.
    const copy = name.slice(start, dot1).split('.')
    const saved = copy.indexOf('modules_to_save')
    if (saved >= 0) copy.splice(saved, 2)
    if (copy.length === 0) return undefined
    return { role: last === 'weight' ? 'weight' : 'bias', path: copy.join('.') }
  }
  if (last === 'lora_magnitude_vector') return { role: 'magnitude', path: path(dot1) }
  if (last === 'lora_embedding_A' || last === 'lora_embedding_B') {
    return { role: last === 'lora_embedding_A' ? 'embedding_A' : 'embedding_B', path: path(dot1) }
  }
  if (previous === 'lora_embedding_A' || previous === 'lora_embedding_B') {
    return { role: previous === 'lora_embedding_A' ? 'embedding_A' : 'embedding_B', path: path(dot2), adapterName: last }
  }
  return undefined
}

/**
 * Where a module path has its layer index: the first part made of digits only, when it is neither
 * the first nor the last part ('model.layers.0.self_attn.q_proj': container 'model.layers',
 * layer 0, module 'self_attn.q_proj').
 */
type Placement = { inLayer: boolean; container: string | null; module: string; layer: number }

function placementOf(path: string): Placement {
  let from = 0
  let index = 0
  for (;;) {
    const dot = path.indexOf('.', from)
    const end = dot < 0 ? path.length : dot
    let digits = end > from
    for (let i = from; digits && i < end; i++) {
      const c = path.charCodeAt(i)
      digits = c >= 0x30 && c <= 0x39
    }
    if (digits) {
      // The first digit part decides, as `findIndex` would: layer only when inside the path.
      if (index > 0 && dot >= 0) return { inLayer: true, container: path.slice(0, from - 1), module: path.slice(dot + 1), layer: Number(path.slice(from, end)) }
      return { inLayer: false, container: null, module: path, layer: -1 }
    }
    if (dot < 0) return { inLayer: false, container: null, module: path, layer: -1 }
    from = dot + 1
    index++
  }
}

/** One adapted module (its path and kind): its A and B ranks, its DoRA magnitude. */
type Instance = { path: string; a?: { tensor: string; rank: number }; b?: { tensor: string; rank: number }; magnitude?: string }

/** Records a dimension a group needs from the base (each distinct value once, in order of appearance). */
function addNeed(group: ModuleGroup, seenBy: Map<ModuleGroup, Partial<Record<TensorRole, Set<number>>>>, role: TensorRole, value: number | undefined, tensor: string): void {
  if (value === undefined) return
  let byRole = seenBy.get(group)
  if (!byRole) {
    byRole = {}
    seenBy.set(group, byRole)
  }
  const slot = group.needs[role]
  if (!slot) {
    group.needs[role] = { values: [value], tensor }
    byRole[role] = new Set([value])
    return
  }
  const seen = (byRole[role] ??= new Set(slot.values))
  if (seen.has(value)) return
  seen.add(value)
  slot.values.push(value)
}

/**
 * Derives the LoRA facts of an adapter from its tensors (and its config when given), plus the
 * checks that need no base: key grammar, zero-size tensors (the DeepSpeed ZeRO-3 save bug),
 * A/B rank agreement, ranks against `r`/`rank_pattern`, DoRA pieces, declared targets and layers.
 * Throws `invalid_adapter_config` when matching the config's patterns against these modules would
 * take more than `MAX_CONFIG_MATCH_STEPS` (millions of pattern × module pairs).
 */
export function analyzeAdapter(header: SafetensorsHeader, config?: AdapterConfig): AdapterAnalysis {
  const findings: Finding[] = []
  const groups = new Map<string, ModuleGroup>()
  const instances = new Map<string, Instance>()
  const dtypes = new Set<string>()
  const layers = new Set<number>()
  const containers = new Set<string>()
  const copies = new Set<string>()
  const unexpected: string[] = []
  const zeroSize: { tensor: string; shape: number[] }[] = []
  const adapterNames = new Set<string>()
  let parameterCount = 0
  let hasBias = false
  let hasEmbeddingLora = false
  let dora = false
  // Membership sets beside the arrays the analysis returns: 100,000 tensors in one group stay linear.
  const groupLayers = new Map<ModuleGroup, Set<number>>()
  const needValues = new Map<ModuleGroup, Partial<Record<TensorRole, Set<number>>>>()
  const shapeKeys = new Map<ModuleGroup, Set<string>>()
  // The tensors of one module instance (lora_A, lora_B, magnitude) are usually neighbours: the
  // previous tensor's path, group and instance are reused when the path and kind repeat.
  let lastPath: string | undefined
  let lastKind: ModuleGroup['kind'] | undefined
  let group: ModuleGroup | undefined
  let instance: Instance | undefined

  for (const tensor of header.tensors) {
    dtypes.add(tensor.dtype)
    let elements = 1
    for (const dim of tensor.shape) elements *= dim
    parameterCount += elements
    if (elements === 0) zeroSize.push({ tensor: tensor.name, shape: tensor.shape })
    const parsed = parseKey(tensor.name)
    if (!parsed) {
      unexpected.push(tensor.name)
      continue
    }
    if (parsed.adapterName !== undefined) adapterNames.add(parsed.adapterName)
    const role = parsed.role
    const kind = role === 'weight' || role === 'bias' ? 'copy' : role === 'embedding_A' || role === 'embedding_B' ? 'embedding' : 'lora'
    if (group === undefined || parsed.path !== lastPath || kind !== lastKind) {
      const { inLayer, container, module, layer } = placementOf(parsed.path)
      const key = `${container ?? ''}|${module}|${kind}`
      group = groups.get(key)
      if (!group) {
        group = { container, module, kind, layers: [], tensorCount: 0, needs: {}, weightShapes: [] }
        groups.set(key, group)
      }
      if (inLayer) {
        if (container !== null) containers.add(container)
        if (kind !== 'copy') layers.add(layer)
        let seen = groupLayers.get(group)
        if (!seen) {
          seen = new Set<number>()
          groupLayers.set(group, seen)
        }
        if (!seen.has(layer)) {
          seen.add(layer)
          group.layers.push(layer)
        }
      }
      if (kind === 'copy') copies.add(parsed.path)
      lastPath = parsed.path
      lastKind = kind
      instance = undefined
    }
    group.tensorCount++
    if (role === 'bias' || role === 'lora_B_bias') hasBias = true
    if (kind === 'embedding') hasEmbeddingLora = true
    if (role === 'magnitude') dora = true

    const shape = tensor.shape
    if (role === 'weight') {
      if (!group.needs.weight) group.needs.weight = { values: [], tensor: tensor.name }
      let known = shapeKeys.get(group)
      if (!known) {
        known = new Set<string>()
        shapeKeys.set(group, known)
      }
      const shapeKey = shape.join('x')
      if (!known.has(shapeKey)) {
        known.add(shapeKey)
        group.weightShapes.push(shape)
      }
      continue
    }
    const rankAxis = role === 'lora_A' || role === 'embedding_A' ? 0 : role === 'lora_B' || role === 'embedding_B' ? 1 : -1
    const expectedRank = rankAxis >= 0 ? 2 : 1
    if (shape.length !== expectedRank) {
      findings.push({
        code: 'shape_mismatch',
        severity: 'error',
        tensor: tensor.name,
        expected: rankAxis === 0 ? '[r, in]' : rankAxis === 1 ? '[out, r]' : '[out]',
        actual: shape,
        message: `${tensor.name} has ${shape.length} dimensions; a ${role} tensor has ${expectedRank}.`,
      })
      continue
    }
    addNeed(group, needValues, role, role === 'lora_A' || role === 'embedding_A' ? shape[1] : shape[0], tensor.name)
    if (rankAxis >= 0) {
      if (!instance) {
        const instanceKey = `${parsed.path}|${kind}`
        instance = instances.get(instanceKey)
        if (!instance) {
          instance = { path: parsed.path }
          instances.set(instanceKey, instance)
        }
      }
      const rank = shape[rankAxis] ?? 0
      if (rankAxis === 0) instance.a = { tensor: tensor.name, rank }
      else instance.b = { tensor: tensor.name, rank }
    } else if (role === 'magnitude') {
      // kind is 'lora' for a magnitude: the instance of the module's lora_A and lora_B.
      if (!instance) {
        const instanceKey = `${parsed.path}|lora`
        instance = instances.get(instanceKey)
        if (!instance) {
          instance = { path: parsed.path }
          instances.set(instanceKey, instance)
        }
      }
      instance.magnitude = tensor.name
    }
  }

  if (unexpected.length > 0) {
    findings.push({
      code: 'unexpected_tensor',
      severity: 'error',
      tensor: unexpected[0],
      expected: 'base_model.model.<module>.(lora_A|lora_B).weight, .lora_magnitude_vector, .lora_embedding_A|B, or a full module copy',
      actual: unexpected[0],
      count: unexpected.length,
      message: `${unexpected.length} tensor(s) are not PEFT LoRA keys, e.g. ${unexpected[0]}.`,
    })
  }
  if (zeroSize.length > 0) {
    const first = zeroSize[0]
    findings.push({
      code: 'zero_size_tensor',
      severity: 'error',
      tensor: first?.tensor,
      expected: 'every dimension > 0',
      actual: first?.shape,
      count: zeroSize.length,
      message: `${zeroSize.length} tensor(s) have a zero-size dimension (an empty save, typically DeepSpeed ZeRO-3 without gathering), e.g. ${first?.tensor}.`,
    })
  }
  if (adapterNames.size > 0) {
    findings.push({
      code: 'adapter_name_in_key',
      severity: 'warning',
      actual: [...adapterNames],
      message: `Keys carry an adapter name (${[...adapterNames].join(', ')}) that PEFT's save_pretrained strips; loaders expect '.lora_A.weight'.`,
    })
  }

  // Ranks: A and B agree per module; the config's r / rank_pattern agrees with the tensors.
  const rankCounts = new Map<number, number>()
  const budget = matchBudget()
  const rankMismatch: Finding[] = []
  const configMismatch: Finding[] = []
  const incomplete: string[] = []
  for (const instance of instances.values()) {
    const path = instance.path
    if (!instance.a || !instance.b) {
      if (instance.a || instance.b) incomplete.push(instance.a?.tensor ?? instance.b?.tensor ?? path)
      else if (instance.magnitude) incomplete.push(instance.magnitude)
      continue
    }
    const rank = instance.a.rank
    if (rank !== instance.b.rank) {
      rankMismatch.push({
        code: 'rank_mismatch',
        severity: 'error',
        tensor: instance.b.tensor,
        expected: rank,
        actual: instance.b.rank,
        message: `${instance.b.tensor} has rank ${instance.b.rank} but ${instance.a.tensor} has rank ${rank}.`,
      })
    }
    if (rank > 0) rankCounts.set(rank, (rankCounts.get(rank) ?? 0) + 1)
    if (config) {
      const expected = patternValue(config.rankPattern, path, budget) ?? config.r
      if (expected !== rank) {
        configMismatch.push({
          code: 'config_rank_mismatch',
          severity: 'error',
          tensor: instance.a.tensor,
          expected,
          actual: rank,
          message: `adapter_config.json gives ${path} rank ${expected} (r / rank_pattern) but the tensors have rank ${rank}; PEFT fails to load it with a size mismatch.`,
        })
      }
    }
  }
  findings.push(...summarise(rankMismatch), ...summarise(configMismatch))
  if (incomplete.length > 0) {
    findings.push({
      code: 'lora_pair_incomplete',
      severity: 'error',
      tensor: incomplete[0],
      expected: 'lora_A and lora_B for every adapted module',
      count: incomplete.length,
      message: `${incomplete.length} module(s) lack their lora_A or lora_B partner, e.g. ${incomplete[0]}.`,
    })
  }

  const allGroups = [...groups.values()]
  for (const group of allGroups) group.layers.sort((a, b) => a - b)
  const loraGroups = allGroups.filter((group) => group.kind !== 'copy')
  const ranks = [...rankCounts.keys()].sort((a, b) => a - b)
  let rank = 0
  let best = 0
  for (const [value, count] of rankCounts) {
    if (count > best || (count === best && value > rank)) {
      rank = value
      best = count
    }
  }
  const modulePaths = unique(loraGroups.map((group) => group.module))
  const analysis: AdapterAnalysis = {
    ranks,
    rank,
    maxRank: ranks.at(-1) ?? 0,
    targetModules: unique(loraGroups.map((group) => group.module.split('.').pop() ?? group.module)),
    modulePaths,
    layerContainers: [...containers].sort(),
    layers: [...layers].sort((a, b) => a - b),
    layerCount: layers.size,
    parameterCount,
    tensorCount: header.tensors.length,
    dtypes: [...dtypes].sort(),
    dora,
    modulesToSave: [...copies].sort(),
    hasEmbeddingLora,
    hasBias,
    groups: allGroups,
    findings,
  }
  if (dtypes.size > 1) {
    findings.push({ code: 'mixed_dtypes', severity: 'info', actual: analysis.dtypes, message: `Tensors mix dtypes: ${analysis.dtypes.join(', ')}.` })
  }
  if (config) applyConfig(analysis, config, instances, budget)
  return analysis
}

function applyConfig(analysis: AdapterAnalysis, config: AdapterConfig, instances: Map<string, Instance>, budget: ReturnType<typeof matchBudget>): void {
  const findings = analysis.findings
  if (config.baseModelNameOrPath) analysis.declaredBase = config.baseModelNameOrPath
  analysis.loraAlpha = config.loraAlpha
  analysis.useRslora = config.useRslora
  analysis.fanInFanOut = config.fanInFanOut
  // PEFT matches targets against the base's module names ('model.layers.0.self_attn.q_proj').
  const untargeted: string[] = []
  const targets = config.targetModules
  if (typeof targets === 'string' || targets.length > 0) {
    for (const [instanceKey, instance] of instances) {
      // The key is `${path}|${kind}`; a path holding '|' is cut at its first one, as it always was.
      const cut = instance.path.indexOf('|')
      const path = cut < 0 ? instance.path : instance.path.slice(0, cut)
      const kind = cut < 0 ? instanceKey.slice(instance.path.length + 1) : instanceKey.split('|')[1]
      if (kind === 'embedding') continue
      if (!targetsModule(config, path, 'lm_head', budget)) untargeted.push(path)
    }
  }
  if (untargeted.length > 0) {
    findings.push({
      code: 'target_modules_mismatch',
      severity: 'warning',
      tensor: `${PREFIX}${untargeted[0]}`,
      expected: config.targetModules,
      actual: untargeted[0],
      count: untargeted.length,
      message: `${untargeted.length} adapted module(s) are not matched by target_modules, e.g. ${untargeted[0]}; PEFT would not create them and ignores their weights.`,
    })
  }
  if (Array.isArray(config.targetModules)) {
    // A target is present when it is a module path or one of its '.'-suffixes.
    const present = new Set(analysis.modulePaths.flatMap((path) => path.split('.').map((_part, index, parts) => parts.slice(index).join('.'))))
    const absent = config.targetModules.filter((target) => !present.has(target))
    if (absent.length > 0 && analysis.modulePaths.length > 0) {
      findings.push({
        code: 'declared_target_absent',
        severity: 'info',
        expected: config.targetModules,
        actual: analysis.targetModules,
        message: `target_modules lists ${absent.join(', ')}, which no tensor adapts.`,
      })
    }
  }
  if (config.layersToTransform) {
    const allowed = new Set(config.layersToTransform)
    const outside = analysis.layers.filter((layer) => !allowed.has(layer))
    if (outside.length > 0) {
      findings.push({
        code: 'layers_mismatch',
        severity: 'warning',
        expected: config.layersToTransform,
        actual: outside,
        message: `Tensors adapt layers ${outside.join(', ')}, outside layers_to_transform.`,
      })
    }
  }
  if (config.useDora && !analysis.dora && analysis.modulePaths.length > 0) {
    findings.push({
      code: 'dora_magnitude_missing',
      severity: 'error',
      expected: 'lora_magnitude_vector for every adapted module',
      actual: 'none',
      message: 'use_dora is true but the file has no lora_magnitude_vector tensors.',
    })
  }
  if (!config.useDora && analysis.dora) {
    findings.push({
      code: 'dora_not_declared',
      severity: 'warning',
      expected: 'use_dora: true',
      actual: 'use_dora: false',
      message: 'The file has DoRA magnitude vectors but use_dora is false; PEFT would ignore them and compute plain LoRA.',
    })
  }
  const saved = new Set(analysis.modulesToSave.map((path) => path.split('.').pop() ?? path))
  const missing = config.modulesToSave.filter((module) => !saved.has(module))
  if (missing.length > 0) {
    findings.push({
      code: 'modules_to_save_missing',
      severity: 'warning',
      expected: config.modulesToSave,
      actual: analysis.modulesToSave,
      message: `modules_to_save lists ${missing.join(', ')} but the file holds no copy of it.`,
    })
  }
}

/** One finding per code with a count, keeping the first occurrence's tensor and values. */
function summarise(findings: Finding[]): Finding[] {
  const first = findings[0]
  if (!first) return []
  if (findings.length === 1) return [first]
  return [{ ...first, count: findings.length, message: `${first.message} (${findings.length - 1} more module(s) alike)` }]
}

function unique(values: string[]): string[] {
  return [...new Set(values)].sort()
}
