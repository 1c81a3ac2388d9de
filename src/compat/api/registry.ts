import { asc, sql } from 'drizzle-orm'
import type { Database } from '../../db/types'
import { uniqueViolation } from '../../db/types'
import { requireScope } from '../../identity/principal'
import type { ServiceContext } from '../../lib/context'
import { ApiError, notFound } from '../../lib/errors'
import { type BaseModel, baseModelFromHfConfig, CompatInputError, seededBaseModels } from '../index'
import { registeredBaseModels } from '../tables'

export type RegistryEntry = BaseModel & { origin: 'seeded' | 'registered' }

const seeded: RegistryEntry[] = seededBaseModels.map((base) => ({ ...base, origin: 'seeded' as const }))
const seededById = new Map(seeded.map((base) => [base.id.toLowerCase(), base]))

/** Every base model a version is checked against: the seeded table plus those registered through the API. */
export async function listRegistry(db: Database): Promise<RegistryEntry[]> {
  const rows = await db.select().from(registeredBaseModels).orderBy(asc(registeredBaseModels.id))
  return [...seeded, ...rows.map((row) => ({ ...(row.facts as BaseModel), origin: 'registered' as const }))]
}

/** A base by its Hugging Face id (case-insensitive, like the Hub), or undefined. */
export async function findBaseModel(db: Database, id: string): Promise<RegistryEntry | undefined> {
  const known = seededById.get(id.toLowerCase())
  if (known) return known
  const [row] = await db
    .select()
    .from(registeredBaseModels)
    .where(sql`lower(${registeredBaseModels.id}) = lower(${id})`)
    .limit(1)
  return row && { ...(row.facts as BaseModel), origin: 'registered' }
}

export async function requireBaseModel(db: Database, id: string): Promise<RegistryEntry> {
  const base = await findBaseModel(db, id)
  if (!base) throw new ApiError(404, 'unknown_base_model', `No base model '${id}' is registered; register it from its config.json first.`)
  return base
}

/** Turns a config.json into a base model, answering bad configs with a 422 problem. */
export function baseFromConfig(id: string, config: unknown): BaseModel {
  try {
    return baseModelFromHfConfig(id, config)
  } catch (error) {
    throw compatProblem(error)
  }
}

export async function registerBaseModel(ctx: ServiceContext, input: { id: string; config: Record<string, unknown> }) {
  requireScope(ctx.principal, 'publish')
  if (seededById.has(input.id.toLowerCase())) {
    throw new ApiError(409, 'base_model_exists', `'${input.id}' is already registered.`)
  }
  const base = baseFromConfig(input.id, input.config)
  try {
    await ctx.db.insert(registeredBaseModels).values({
      id: base.id,
      modelType: base.modelType,
      variantOf: base.variantOf ?? null,
      facts: base,
      hfConfig: input.config,
    })
  } catch (error) {
    if (uniqueViolation(error) !== undefined) throw new ApiError(409, 'base_model_exists', `'${input.id}' is already registered.`)
    throw error
  }
  return { ...base, origin: 'registered' as const }
}

/** The compat module's input errors as 422 problems with their stable code. */
export function compatProblem(error: unknown): unknown {
  if (error instanceof CompatInputError) {
    return new ApiError(422, error.code, error.message, error.extra ? { extra: error.extra } : {})
  }
  return error
}

export async function listBaseModels(ctx: ServiceContext, query: { family?: string | undefined }) {
  const all = await listRegistry(ctx.db)
  return query.family ? all.filter((base) => base.family === query.family) : all
}

export async function getBaseModel(ctx: ServiceContext, id: string) {
  const all = await listRegistry(ctx.db)
  const base = all.find((candidate) => candidate.id.toLowerCase() === id.toLowerCase())
  if (!base) throw notFound(`The base model '${id}'`)
  return { ...toBaseModelView(base), twins: shapeTwins(base, all).map((twin) => twin.id) }
}

/** Bases whose every layer module has the same name and shape, at the same depth. */
export function shapeTwins(base: BaseModel, all: BaseModel[]): BaseModel[] {
  const signature = layerSignature(base)
  return all.filter((other) => other.id !== base.id && layerSignature(other) === signature)
}

function layerSignature(base: BaseModel): string {
  const modules = Object.entries(base.modules)
    .map(([name, shape]) => `${name}=${shape.join('x')}`)
    .sort()
  return `${base.layerPrefix}|${base.numHiddenLayers}|${modules.join(',')}`
}

export const toBaseModelView = (base: RegistryEntry) => ({
  id: base.id,
  origin: base.origin,
  family: base.family,
  modelType: base.modelType,
  architecture: base.architecture,
  hiddenSize: base.hiddenSize,
  intermediateSize: base.intermediateSize,
  numHiddenLayers: base.numHiddenLayers,
  vocabSize: base.vocabSize,
  layerPrefix: base.layerPrefix,
  modules: base.modules,
  variantOf: base.variantOf ?? null,
  quantization: base.quantization ?? null,
})
