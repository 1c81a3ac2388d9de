import type { AdapterAnalysis, Finding, ModuleGroup, TensorRole } from './analyze'
import type { BaseModel, ModuleShape, VocabModule } from './base-models'
import { seededBaseModels } from './base-models'
import { type NormalizedBaseId, normalizeBaseId } from './normalize'
import { type RuntimeVerdict, runtimeVerdicts } from './runtimes'
import type { SafetensorsHeader } from './safetensors'

export type CompatReport = {
  compatible: boolean
  base: string
  checks: Finding[]
  /** Other bases this adapter fits just as well: indistinguishable by its tensors. */
  twins: string[]
  declaredBase: { value: string | null; matches: boolean | null; normalized?: string }
  runtimes: { vllm: RuntimeVerdict; lorax: RuntimeVerdict; tgi: RuntimeVerdict; llamacpp: RuntimeVerdict }
}

/** One naming of a base: the current one, or an older revision's (Phi-2). */
type Layout = {
  container: string
  layerPrefix: string
  modules: Record<string, ModuleShape>
  embed: VocabModule
  lmHead: VocabModule
  legacy: boolean
}

const layoutCache = new WeakMap<BaseModel, Layout[]>()

function layoutsOf(base: BaseModel): Layout[] {
  const cached = layoutCache.get(base)
  if (cached) return cached
  const layouts: Layout[] = [
    { container: containerOf(base.layerPrefix), layerPrefix: base.layerPrefix, modules: base.modules, embed: base.embed, lmHead: base.lmHead, legacy: false },
  ]
  const legacy = base.legacyRevision
  if (legacy) {
    layouts.push({ container: containerOf(legacy.layerPrefix), layerPrefix: legacy.layerPrefix, modules: legacy.modules, embed: legacy.embed, lmHead: legacy.lmHead, legacy: true })
  }
  layoutCache.set(base, layouts)
  return layouts
}

function containerOf(layerPrefix: string): string {
  return layerPrefix.endsWith('.{i}') ? layerPrefix.slice(0, -4) : layerPrefix
}

/** The naming the adapter was trained against: the legacy one only when its layers use it. */
function layoutFor(analysis: AdapterAnalysis, base: BaseModel): Layout {
  const layouts = layoutsOf(base)
  const [current, legacy] = layouts
  if (legacy && current && analysis.layerContainers.length > 0) {
    const usesLegacy = analysis.layerContainers.includes(legacy.container) && !analysis.layerContainers.includes(current.container)
    if (usesLegacy) return legacy
  }
  return current ?? (layouts[0] as Layout)
}

/**
 * Checks one module group against a layout. With `out` null it only answers whether it fits
 * (first problem wins); otherwise it appends findings and returns whether no error was found.
 */
function checkGroup(group: ModuleGroup, layout: Layout, base: BaseModel, out: Finding[] | null): boolean {
  const count = group.tensorCount
  // Only findings name a tensor: the yes/no check (`out` null) skips finding it.
  const first = out ? firstTensor(group) : ''
  if (group.container !== null) {
    if (group.container !== layout.container) {
      if (out) {
        out.push({
          code: 'unknown_module',
          severity: group.kind === 'copy' ? 'warning' : 'error',
          tensor: first,
          expected: `base_model.model.${layout.layerPrefix}.<module>`,
          actual: `base_model.model.${group.container}.{i}.${group.module}`,
          count,
          message: `${first} is under ${group.container}, but ${base.id} keeps its layers under ${layout.layerPrefix}.`,
        })
      }
      return group.kind === 'copy'
    }
    const shape = Object.hasOwn(layout.modules, group.module) ? layout.modules[group.module] : undefined
    if (!shape) {
      if (out) {
        out.push({
          code: group.kind === 'copy' ? 'unverified_module' : 'unknown_module',
          severity: group.kind === 'copy' ? 'warning' : 'error',
          tensor: first,
          expected: Object.keys(layout.modules),
          actual: group.module,
          count,
          message:
            group.kind === 'copy'
              ? `${first} copies ${group.module}, which the ${base.id} table does not describe; its shape is not verified.`
              : `${base.id} has no module ${group.module} in its layers (it has ${Object.keys(layout.modules).join(', ')}).`,
        })
      }
      if (group.kind !== 'copy') return false
    }
    let ok = true
    const maxLayer = group.layers[group.layers.length - 1] ?? -1
    if (maxLayer >= base.numHiddenLayers) {
      if (!out) return false
      ok = false
      const beyond = group.layers.filter((layer) => layer >= base.numHiddenLayers)
      out.push({
        code: 'layer_out_of_range',
        severity: 'error',
        tensor: tensorAtLayer(first, group, maxLayer),
        expected: `layer < ${base.numHiddenLayers}`,
        actual: maxLayer,
        count: beyond.length,
        message: `${group.module} is adapted at layer ${maxLayer}, but ${base.id} has ${base.numHiddenLayers} layers (${beyond.length} layer(s) beyond).`,
      })
    }
    if (!shape) return ok
    return checkShapes(group, shape[0], shape[1], null, base, out) && ok
  }

  const { embed, lmHead } = layout
  if (group.module === embed.module) {
    // nn.Embedding as a map vocab → hidden: LoRA "in" is the vocabulary.
    return checkShapes(group, embed.shape[1], embed.shape[0], 'in', base, out)
  }
  if (group.module === lmHead.module || (group.module === 'lm_head' && base.lmHead.tied)) {
    return checkShapes(group, lmHead.shape[0], lmHead.shape[1], 'out', base, out)
  }
  if (out) {
    out.push({
      code: group.kind === 'copy' ? 'unverified_module' : 'unknown_module',
      severity: group.kind === 'copy' ? 'warning' : 'error',
      tensor: first,
      expected: [embed.module, lmHead.module, `${layout.layerPrefix}.<module>`],
      actual: group.module,
      count,
      message:
        group.kind === 'copy'
          ? `${first} copies ${group.module}, which the ${base.id} table does not describe; its shape is not verified.`
          : `${base.id} has no module ${group.module}.`,
    })
  }
  return group.kind === 'copy'
}

/**
 * Compares the group's needs with a module of [out, in]. `vocabSide` says which side is the
 * vocabulary (a null dimension = unknown vocabulary, not checked).
 */
function checkShapes(
  group: ModuleGroup,
  out: number | null,
  inFeatures: number | null,
  vocabSide: 'in' | 'out' | null,
  base: BaseModel,
  findings: Finding[] | null,
): boolean {
  let ok = true
  const compare = (role: TensorRole, expected: number | null, side: 'in' | 'out', axisLabel: string) => {
    const need = group.needs[role]
    if (!need) return
    if (expected === null) {
      if (findings) {
        findings.push({
          code: 'vocab_unknown',
          severity: 'info',
          tensor: need.tensor,
          actual: need.values.length === 1 ? need.values[0] : need.values,
          message: `${base.id}'s vocabulary size is not verified; ${need.tensor} carries ${need.values.join('/')} rows and is not checked.`,
        })
      }
      return
    }
    if (need.values.length === 1 && need.values[0] === expected) return
    ok = false
    if (!findings) return
    const isVocab = vocabSide === side
    const code = isVocab ? 'vocab_mismatch' : role === 'magnitude' ? 'dora_magnitude_mismatch' : 'shape_mismatch'
    const actual = need.values.length === 1 ? need.values[0] : need.values
    findings.push({
      code,
      severity: 'error',
      tensor: need.tensor,
      expected: expectedShape(role, expected),
      actual: expectedShape(role, actual),
      count: group.tensorCount,
      message: isVocab
        ? `${need.tensor} has a vocabulary of ${String(actual)}; ${base.id} has ${expected}.`
        : `${need.tensor} needs ${axisLabel} = ${expected} for ${base.id}${group.container === null ? '' : ` ${group.module}`}, but has ${String(actual)}.`,
    })
  }
  if (group.kind === 'lora' || group.kind === 'embedding') {
    const a: TensorRole = group.kind === 'lora' ? 'lora_A' : 'embedding_A'
    const b: TensorRole = group.kind === 'lora' ? 'lora_B' : 'embedding_B'
    compare(a, inFeatures, 'in', 'in_features')
    if (!ok && !findings) return false
    compare(b, out, 'out', 'out_features')
    compare('magnitude', out, 'out', 'out_features')
    compare('lora_B_bias', out, 'out', 'out_features')
    return ok
  }
  compare('bias', out, 'out', 'out_features')
  for (const shape of group.weightShapes) {
    // A copy of the weight itself: [out, in] (for embeddings [vocab, hidden]).
    const expected = vocabSide === 'in' ? [inFeatures, out] : [out, inFeatures]
    const matches = shape.length === 2 && (expected[0] === null || shape[0] === expected[0]) && (expected[1] === null || shape[1] === expected[1])
    if (matches) {
      if (findings && vocabSide !== null && expected[0] === null) {
        findings.push({
          code: 'vocab_unknown',
          severity: 'info',
          tensor: group.needs.weight?.tensor,
          actual: shape[0],
          message: `${base.id}'s vocabulary size is not verified; the copy of ${group.module} has ${String(shape[0])} rows and is not checked.`,
        })
      }
      continue
    }
    ok = false
    if (!findings) return false
    const vocabWrong = vocabSide !== null && shape.length === 2 && expected[0] !== null && shape[0] !== expected[0] && shape[1] === expected[1]
    const tensor = group.needs.weight?.tensor ?? `base_model.model.${group.module}.weight`
    findings.push({
      code: vocabWrong ? 'vocab_mismatch' : 'shape_mismatch',
      severity: 'error',
      tensor,
      expected,
      actual: shape,
      message: vocabWrong
        ? `The copy of ${group.module} has ${shape[0]} vocabulary rows; ${base.id} has ${String(expected[0])} (a resized vocabulary).`
        : `The copy of ${group.module} is [${shape.join(', ')}]; ${base.id} has [${expected.map(String).join(', ')}].`,
    })
  }
  return ok
}

function expectedShape(role: TensorRole, value: unknown): unknown {
  switch (role) {
    case 'lora_A':
      return ['r', value]
    case 'lora_B':
      return [value, 'r']
    case 'embedding_A':
      return ['r', value]
    case 'embedding_B':
      return [value, 'r']
    default:
      return [value]
  }
}

function firstTensor(group: ModuleGroup): string {
  for (const role of ['lora_A', 'lora_B', 'magnitude', 'embedding_A', 'embedding_B', 'weight', 'bias', 'lora_B_bias'] as const) {
    const need = group.needs[role]
    if (need) return need.tensor
  }
  const layer = group.layers[0]
  const path = group.container === null ? group.module : `${group.container}.${layer ?? 0}.${group.module}`
  return `base_model.model.${path}.${group.kind === 'copy' ? 'weight' : 'lora_A.weight'}`
}

function tensorAtLayer(example: string, group: ModuleGroup, layer: number): string {
  if (group.container === null) return example
  const marker = `${group.container}.`
  const at = example.indexOf(marker)
  if (at < 0) return example
  const rest = example.slice(at + marker.length)
  const dot = rest.indexOf('.')
  return `${example.slice(0, at + marker.length)}${layer}${dot >= 0 ? rest.slice(dot) : ''}`
}

/** Whether the adapter's tensors fit this base (no findings built). */
export function fitsBase(analysis: AdapterAnalysis, base: BaseModel): boolean {
  const layout = layoutFor(analysis, base)
  for (const group of analysis.groups) if (!checkGroup(group, layout, base, null)) return false
  return true
}

/**
 * Normalised declarations per set of known bases. A set is named by what normalisation reads of
 * it (each base's id and whether it is a variant), so a list rebuilt per request (the API's
 * candidates) finds the answers of the previous requests.
 */
const normalizedCache = new Map<string, Map<string, NormalizedBaseId>>()
const knownKeys = new WeakMap<BaseModel[], string>()

function knownKey(known: BaseModel[]): string {
  let key = knownKeys.get(known)
  if (key === undefined) {
    key = ''
    for (const base of known) key += `${base.variantOf ? '~' : ''}${base.id}\n`
    knownKeys.set(known, key)
  }
  return key
}

function normalizeCached(value: string, known: BaseModel[]): NormalizedBaseId {
  const key = knownKey(known)
  let cache = normalizedCache.get(key)
  if (!cache) {
    if (normalizedCache.size >= 100) normalizedCache.clear()
    cache = new Map()
    normalizedCache.set(key, cache)
  }
  let result = cache.get(value)
  if (!result) {
    if (cache.size > 1000) cache.clear()
    result = normalizeBaseId(value, known)
    cache.set(value, result)
  }
  return result
}

/**
 * Decides from the tensors whether an adapter loads on `base` (DESIGN.md levels 1–5): names,
 * prefix and layer index; [r, in] / [out, r] / magnitude [out]; the vocabulary; shape twins and
 * the declared base; serving engines. `compatible` is false exactly when a check is an error.
 */
export function checkAgainstBase(analysis: AdapterAnalysis, header: SafetensorsHeader, base: BaseModel, options: { allBases?: BaseModel[] } = {}): CompatReport {
  const known = options.allBases ?? seededBaseModels
  const report = buildReport(analysis, header, base, known)
  if (report.compatible && options.allBases) {
    report.twins = options.allBases.filter((other) => other.id !== base.id && fitsBase(analysis, other)).map((other) => other.id)
  }
  return report
}

function buildReport(analysis: AdapterAnalysis, _header: SafetensorsHeader, base: BaseModel, known: BaseModel[]): CompatReport {
  const checks: Finding[] = analysis.findings.slice()
  const layout = layoutFor(analysis, base)
  let fits = true
  for (const group of analysis.groups) if (!checkGroup(group, layout, base, checks)) fits = false
  // Layers beyond the base are one fact, not one per module.
  const outOfRange = checks.findIndex((finding) => finding.code === 'layer_out_of_range')
  if (outOfRange >= 0) {
    for (let i = checks.length - 1; i > outOfRange; i--) if (checks[i]?.code === 'layer_out_of_range') checks.splice(i, 1)
  }
  if (layout.legacy) {
    checks.push({
      code: 'legacy_revision_naming',
      severity: 'warning',
      expected: base.layerPrefix,
      actual: layout.layerPrefix,
      message: `The adapter uses the module names of ${base.id}'s older ${base.legacyRevision?.modelType ?? ''} revision (${layout.layerPrefix}); load it with that revision, not with the current transformers model.`,
    })
  }
  if (analysis.groups.some((group) => group.container === null && group.kind !== 'copy' && group.module === base.lmHead.module) && base.lmHead.tied) {
    checks.push({
      code: 'tied_lm_head',
      severity: 'warning',
      actual: base.lmHead.module,
      message: `${base.id} ties lm_head to the input embeddings; LoRA on lm_head breaks the tie or is refused by several engines.`,
    })
  }
  if (analysis.fanInFanOut !== undefined && analysis.targetModules.length > 0 && analysis.fanInFanOut !== base.conv1d) {
    checks.push({
      code: 'fan_in_fan_out',
      severity: 'info',
      expected: base.conv1d,
      actual: analysis.fanInFanOut,
      message: base.conv1d
        ? `${base.id} uses Conv1D layers (weights [in, out]); PEFT switches fan_in_fan_out to true when loading.`
        : `${base.id} uses nn.Linear; PEFT switches fan_in_fan_out to false when loading.`,
    })
  }
  if (analysis.groups.length === 0) {
    checks.push({ code: 'no_lora_tensors', severity: 'error', message: 'The file has no LoRA tensors.' })
  }
  const declaredBase = declaredBaseOf(analysis, base, known, checks, fits)
  const compatible = fits && !checks.some((finding) => finding.severity === 'error')
  return {
    compatible,
    base: base.id,
    checks,
    twins: [],
    declaredBase,
    runtimes: runtimeVerdicts(analysis, base, { fits: compatible, legacy: layout.legacy }),
  }
}

function declaredBaseOf(analysis: AdapterAnalysis, base: BaseModel, known: BaseModel[], checks: Finding[], fits: boolean): CompatReport['declaredBase'] {
  const value = analysis.declaredBase
  if (value === undefined) return { value: null, matches: null }
  const { normalized, reason } = normalizeCached(value, known)
  if (normalized === undefined) {
    checks.push({
      code: 'declared_base_unknown',
      severity: 'info',
      actual: value,
      message: `The declared base ${JSON.stringify(value)} is not a registered model${reason ? ` (${reason})` : ''}; the verdict comes from the tensors.`,
    })
    return { value, matches: null }
  }
  const declaredModel = known.find((candidate) => candidate.id === normalized)
  const matches = normalized === base.id || base.variantOf === normalized || declaredModel?.variantOf === base.id
  if (!matches) {
    const twin = declaredModel !== undefined && fits && fitsBase(analysis, declaredModel)
    checks.push({
      code: 'declared_base_mismatch',
      severity: 'warning',
      expected: base.id,
      actual: value,
      message: twin
        ? `The adapter declares ${normalized}, a shape twin of ${base.id}: the tensors load on both, but it was trained for ${normalized}.`
        : `The adapter declares ${normalized}${normalized === value ? '' : ` (from ${JSON.stringify(value)})`}, not ${base.id}.`,
    })
  }
  return { value, matches, normalized }
}

/**
 * The adapter against every base: one report per base. `twins` of a fitting base lists the other
 * fitting bases; a base the adapter does not fit has none.
 */
export function compatibilityMatrix(analysis: AdapterAnalysis, header: SafetensorsHeader, bases: BaseModel[]): CompatReport[] {
  const reports = bases.map((base) => buildReport(analysis, header, base, bases))
  const fitting = reports.filter((report) => report.compatible).map((report) => report.base)
  for (const report of reports) {
    if (report.compatible) report.twins = fitting.filter((id) => id !== report.base)
  }
  return reports
}
