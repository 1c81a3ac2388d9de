import { type BaseModel, seededBaseModels } from './base-models'

export type NormalizedBaseId = {
  /** What was declared, trimmed. */
  value: string
  /** The known base id it stands for, or undefined. */
  normalized?: string
  /** How it was resolved (or why not). */
  reason?: string
}

/** Quantisation / export suffixes of mirrors: unsloth/llama-3-8b-bnb-4bit, TheBloke/…-GPTQ. */
const QUANT_SUFFIX = /[-_.](?:bnb[-_]?[48]bit|unsloth[-_]bnb[-_]?4bit|[48]bit|gptq|awq|int[48]|nf4|fp16|bf16|gguf|exl2|mlx)$/i
/** Chat/instruct fine-tunes share the base's shapes: Llama-2-7b-chat-hf, internlm2-chat-7b, gemma-7b-it. */
const TUNE_TOKEN = /-(?:chat|instruct|it)(?=-|$)/gi

/** A comparison key for model names: case, '_' vs '-', 'meta-' prefix and '-hf'/'-base' suffixes ignored. */
export function nameKey(name: string): string {
  return name
    .toLowerCase()
    .replace(/_/g, '-')
    .replace(/^meta-/, '')
    .replace(/-(?:hf|base)$/, '')
}

type Index = { byId: Map<string, BaseModel>; byName: Map<string, BaseModel> }
const indexes = new WeakMap<BaseModel[], Index>()

function indexOf(known: BaseModel[]): Index {
  const cached = indexes.get(known)
  if (cached) return cached
  const byId = new Map<string, BaseModel>()
  const byName = new Map<string, BaseModel>()
  for (const base of known) {
    byId.set(base.id.toLowerCase(), base)
    const name = base.id.split('/').pop() ?? base.id
    // A quantised variant never claims a name: its base does.
    if (!base.variantOf && !byName.has(nameKey(name))) byName.set(nameKey(name), base)
  }
  const index = { byId, byName }
  indexes.set(known, index)
  return index
}

/**
 * Maps what a seller declared (`base_model_name_or_path`) to a known base id. Rules, in order:
 * 1. a local path (`/content/chatglm2-6b`, `C:\models\x`, `./out`) keeps its last one or two segments;
 * 2. an exact id (case-insensitive, like the Hub);
 * 3. the same model name under another owner or none (`Llama-2-7b-hf`, `NousResearch/Llama-2-7b-hf`);
 * 4. a quantised mirror's suffix is dropped (`unsloth/llama-3-8b-bnb-4bit` → Meta-Llama-3-8B);
 * 5. a chat/instruct tune maps to its base (`Llama-2-7b-chat-hf` → Llama-2-7b-hf), same shapes.
 * Registered quantised variants (variantOf) resolve to themselves by id only.
 */
export function normalizeBaseId(declared: string, known: BaseModel[] = seededBaseModels): NormalizedBaseId {
  const value = declared.trim()
  const steps: string[] = []
  let id = value.replace(/[\\/]+$/, '')
  const isPath = /^(?:[a-z]:)?[\\/]|^\.{1,2}[\\/]|^~|\\/i.test(id) || id.split('/').length > 2
  if (isPath) {
    const segments = id.split(/[\\/]/).filter((segment) => segment !== '' && segment !== '.' && segment !== '..')
    id = segments.slice(-2).join('/')
    steps.push('local path')
  }
  if (id === '') return { value, reason: 'empty declaration' }
  const index = indexOf(known)
  const exact = index.byId.get(id.toLowerCase())
  if (exact) return resolved(value, exact.id, steps, isPath ? 'local path ending in a known id' : undefined)

  let name = id.split('/').pop() ?? id
  const byName = (candidate: string) => index.byName.get(nameKey(candidate))
  let found = byName(name)
  if (found) return resolved(value, found.id, steps, id.includes('/') && !isPath ? 'same model name under another owner' : 'model name without owner')
  // With a path, the last segment alone may be the name (/content/chatglm2-6b).
  if (isPath && id.includes('/')) {
    const last = id.split('/').pop() ?? id
    found = byName(last)
    if (found) return resolved(value, found.id, steps, 'model name')
  }
  let stripped = name
  while (QUANT_SUFFIX.test(stripped)) stripped = stripped.replace(QUANT_SUFFIX, '')
  if (stripped !== name) {
    steps.push('quantised mirror')
    name = stripped
    found = byName(name)
    if (found) return resolved(value, found.id, steps)
  }
  const untuned = name.replace(TUNE_TOKEN, '')
  if (untuned !== name) {
    found = byName(untuned)
    if (found) return resolved(value, found.id, [...steps, 'chat/instruct tune of the base (same shapes)'])
  }
  return { value, reason: `${steps.length ? `${steps.join(', ')}: ` : ''}${name} is not a registered base model` }
}

function resolved(value: string, id: string, steps: string[], last?: string): NormalizedBaseId {
  const all = last ? [...steps, last] : steps
  const result: NormalizedBaseId = { value, normalized: id }
  if (all.length > 0) result.reason = all.join(', ')
  return result
}
