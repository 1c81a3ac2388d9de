import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { and, asc, eq, inArray, or, type SQL, sql } from 'drizzle-orm'
import { z } from 'zod'
import type { Database } from '../db/types'
import { checkStored } from '../db/stored'
import { uniqueViolation } from '../db/types'
import { isOperator } from '../identity'
import { type Principal, requireScope } from '../identity'
import { teamMembers, teams } from '../identity'
import { loadTeamAs } from '../identity'
import type { Deps, ServiceContext } from '../lib/context'
import { sha256Hex } from '../lib/crypto'
import { ApiError, notFound } from '../lib/errors'
import { enforceRateLimit } from '../lib/rate-limit'
import { type BaseModel, baseModelFromHfConfig, CompatInputError, seededBaseModels } from '../compat'
import { registeredBaseModels } from './tables'

export type RegistryEntry = BaseModel & {
  origin: 'seeded' | 'registered'
  /** Seeded and operator-verified bases are for everyone; a pending one only for its team. */
  status: 'verified' | 'pending'
  teamId: string | null
  configSha256: string | null
  sourceRevision: string | null
  shapeSignature: string
}

/**
 * Which pending registrations a read may use besides the verified registry: none, one team's
 * (validation of that team's version), or those of the teams the caller acts for.
 */
export type BaseAccess = 'verified' | { teamId: string } | { principal: Principal | null }

/** How many registrations a team may have waiting for review when the deps do not say. */
export const DEFAULT_MAX_PENDING_BASE_MODELS = 10

type Row = typeof registeredBaseModels.$inferSelect

/** The layer shapes that make two bases twins: prefix, depth and every module's [out, in]. */
export function shapeSignature(base: BaseModel): string {
  const modules = Object.entries(base.modules)
    .map(([name, shape]) => `${name}=${shape.join('x')}`)
    .sort()
  return bytesToHex(sha256(new TextEncoder().encode(`${base.layerPrefix}|${base.numHiddenLayers}|${modules.join(',')}`)))
}

/** The seeded bases as registry entries (verified from the start). */
export const seededEntries: readonly RegistryEntry[] = seededBaseModels.map((base) => ({
  ...base,
  origin: 'seeded' as const,
  status: 'verified' as const,
  teamId: null,
  configSha256: null,
  sourceRevision: null,
  shapeSignature: shapeSignature(base),
}))
const seededById = new Map(seededEntries.map((base) => [base.id.toLowerCase(), base]))

const VocabModuleSchema = z.object({ module: z.string(), shape: z.tuple([z.number().nullable(), z.number()]) })
const ModulesSchema = z.record(z.string(), z.tuple([z.number(), z.number()]))

/** The stored form of a registered base (`registered_base_models.facts`): a `BaseModel`, checked when read. */
const StoredBaseModelSchema = z.object({
  id: z.string(),
  family: z.string(),
  modelType: z.string(),
  architecture: z.string(),
  hiddenSize: z.number(),
  intermediateSize: z.number(),
  numHiddenLayers: z.number(),
  numAttentionHeads: z.number(),
  numKeyValueHeads: z.number(),
  headDim: z.number(),
  vocabSize: z.number().nullable(),
  layerPrefix: z.string(),
  modules: ModulesSchema,
  embed: VocabModuleSchema,
  lmHead: VocabModuleSchema.extend({ tied: z.boolean() }),
  tieWordEmbeddings: z.boolean().nullable(),
  linearBias: z.union([z.boolean(), z.record(z.string(), z.boolean())]),
  conv1d: z.boolean(),
  legacyRevision: z
    .object({ modelType: z.string(), layerPrefix: z.string(), modules: ModulesSchema, embed: VocabModuleSchema, lmHead: VocabModuleSchema })
    .optional(),
  variantOf: z.string().optional(),
  quantization: z.string().optional(),
  confidence: z.string().optional(),
  notes: z.string().optional(),
  sources: z.array(z.string()).optional(),
}) satisfies z.ZodType<BaseModel>

const factsColumn = 'registered_base_models.facts'

/** A registration's base model, checked before it is used: a damaged row is a `StoredShapeError` naming it. */
export const storedBaseModel = (row: Pick<Row, 'id' | 'facts'>): BaseModel => checkStored(row.facts, StoredBaseModelSchema, factsColumn, `'${row.id}'`)

/**
 * An entry about to be used (checked against, shown on its own): its facts checked, seeded ones
 * being code. Reads that only hold the registry (the cache, lists of ids) leave entries unchecked,
 * so one damaged row fails the reads that use it, not every read of the registry.
 */
export const checkedEntry = (entry: RegistryEntry): RegistryEntry =>
  entry.origin === 'seeded' ? entry : checkStored(entry, StoredBaseModelSchema, factsColumn, `'${entry.id}'`)

export function toEntry(row: Row): RegistryEntry {
  const facts = row.facts
  return {
    ...facts,
    origin: 'registered',
    status: row.status === 'verified' ? 'verified' : 'pending',
    teamId: row.teamId,
    configSha256: row.configSha256,
    sourceRevision: row.sourceRevision,
    shapeSignature: row.shapeSignature ?? shapeSignature(storedBaseModel(row)),
  }
}

/** The rows a read may use: verified ones, and pending ones of the teams `access` allows. */
function usable(access: BaseAccess): SQL {
  const verified = eq(registeredBaseModels.status, 'verified')
  if (access === 'verified') return verified
  if ('teamId' in access) return or(verified, and(eq(registeredBaseModels.status, 'pending'), eq(registeredBaseModels.teamId, access.teamId))) as SQL
  const principal = access.principal
  if (!principal) return verified
  const teamsOfCaller = sql`select ${teamMembers.teamId} from ${teamMembers} where ${teamMembers.userId} = ${principal.userId}${
    principal.teamId ? sql` and ${teamMembers.teamId} = ${principal.teamId}` : sql``
  }`
  return or(verified, and(eq(registeredBaseModels.status, 'pending'), sql`${registeredBaseModels.teamId} in (${teamsOfCaller})`)) as SQL
}

/** The verified registry: the seeded table plus the registrations operators verified. */
export async function listRegistry(db: Database): Promise<RegistryEntry[]> {
  return registryFor(db, 'verified')
}

/** The registry as `access` sees it (validation: the verified bases and the version's team's pending ones). */
export async function registryFor(db: Database, access: BaseAccess): Promise<RegistryEntry[]> {
  const rows = await db.select().from(registeredBaseModels).where(usable(access)).orderBy(asc(registeredBaseModels.id))
  return [...seededEntries, ...rows.map(toEntry)]
}

/**
 * A base by its Hugging Face id (case-insensitive, like the Hub), or undefined. A merged id
 * resolves to the base it was merged into; a pending one only for the teams `access` allows.
 */
export async function findBaseModel(db: Database, id: string, access: BaseAccess = 'verified'): Promise<RegistryEntry | undefined> {
  const known = seededById.get(id.toLowerCase())
  if (known) return known
  const [row] = await db
    .select()
    .from(registeredBaseModels)
    .where(and(sql`lower(${registeredBaseModels.id}) = lower(${id})`, or(usable(access), eq(registeredBaseModels.status, 'merged'))))
    .limit(1)
  if (!row) return undefined
  if (row.mergedInto !== null) return row.mergedInto.toLowerCase() === id.toLowerCase() ? undefined : findBaseModel(db, row.mergedInto, 'verified')
  return checkedEntry(toEntry(row))
}

export const unknownBaseModel = (id: string) => new ApiError('unknown_base_model', `No base model '${id}' is registered; register it from its config.json first.`)

/**
 * The usable bases with the same layer shapes as `base` (itself excluded): the seeded ones from
 * memory, registered ones through the signature index, so the cost does not grow with the registry.
 */
export async function shapeTwinsOf(db: Database, base: BaseModel, access: BaseAccess = 'verified'): Promise<RegistryEntry[]> {
  const signature = shapeSignature(base)
  const rows = await db
    .select()
    .from(registeredBaseModels)
    .where(and(eq(registeredBaseModels.shapeSignature, signature), usable(access)))
    .orderBy(asc(registeredBaseModels.id))
  return [...seededEntries.filter((other) => other.shapeSignature === signature), ...rows.map(toEntry)].filter((other) => other.id !== base.id)
}

/** Which of these ids are verified bases (seeded or reviewed): what search and other teams may see. */
export async function verifiedAmong(db: Database, ids: readonly string[]): Promise<Set<string>> {
  const verified = new Set(ids.filter((id) => seededById.get(id.toLowerCase())?.id === id))
  const rest = ids.filter((id) => !verified.has(id))
  if (rest.length > 0) {
    const rows = await db
      .select({ id: registeredBaseModels.id })
      .from(registeredBaseModels)
      .where(and(inArray(registeredBaseModels.id, rest), eq(registeredBaseModels.status, 'verified')))
    for (const row of rows) verified.add(row.id)
  }
  return verified
}

/** `verifiedAmong` answered from a verified registry already read (`listRegistry`): no query. */
export function verifiedIn(registry: readonly RegistryEntry[], ids: readonly string[]): Set<string> {
  const known = new Set(registry.filter((base) => base.status === 'verified').map((base) => base.id))
  return new Set(ids.filter((id) => known.has(id)))
}

/** Turns a config.json into a base model, answering bad configs with a 422 problem. */
export function baseFromConfig(id: string, config: unknown): BaseModel {
  try {
    return baseModelFromHfConfig(id, config)
  } catch (error) {
    throw compatProblem(error)
  }
}

const baseExists = (wanted: string, existing: string) =>
  new ApiError(
    'base_model_exists',
    existing === wanted ? `'${wanted}' is already registered.` : `'${wanted}' is already registered as '${existing}' (base ids ignore case, like the Hub).`,
    { extra: { existing } },
  )

export type RegistrationContext = ServiceContext & Pick<Deps, 'jobs' | 'operators' | 'baseModelLimiter' | 'maxPendingBaseModels' | 'registry'>

/**
 * Registers a base from its config.json. An operator's registration is verified at once; anyone
 * else's is pending, owned by a team (`team`, else the key's team, else the caller's only team),
 * until an operator reviews it. Rate-limited per team, and capped while pending.
 */
export async function registerBaseModel(
  ctx: RegistrationContext,
  input: { id: string; config: Record<string, unknown>; team?: string | undefined; revision?: string | undefined },
) {
  const caller = requireScope(ctx.principal, 'publish')
  const operator = await isOperator(ctx, caller)
  const teamId = await registeringTeam(ctx, caller, input.team, operator)
  if (!operator) await enforceRateLimit(ctx.baseModelLimiter, `base-models:${teamId}`, 'base-model registrations for this team')
  const seededBase = seededById.get(input.id.toLowerCase())
  if (seededBase) throw baseExists(input.id, seededBase.id)
  const base = baseFromConfig(input.id, input.config)
  const status = operator ? ('verified' as const) : ('pending' as const)
  const maxPending = ctx.maxPendingBaseModels ?? DEFAULT_MAX_PENDING_BASE_MODELS
  const now = ctx.clock()
  let row: Row | undefined
  try {
    row = await ctx.db.transaction(async (tx) => {
      if (status === 'pending' && teamId) {
        // One registration at a time per team, so concurrent requests cannot pass the cap together.
        await tx.select({ id: teams.id }).from(teams).where(eq(teams.id, teamId)).for('update')
        const [pending] = await tx
          .select({ count: sql<number>`count(*)::int` })
          .from(registeredBaseModels)
          .where(and(eq(registeredBaseModels.teamId, teamId), eq(registeredBaseModels.status, 'pending')))
        if ((pending?.count ?? 0) >= maxPending) {
          throw new ApiError(
            'too_many_pending_base_models',
            `This team has ${maxPending} base models waiting for review; wait for an operator's decision before registering more.`,
            { extra: { limit: maxPending } },
          )
        }
      }
      const [inserted] = await tx
        .insert(registeredBaseModels)
        .values({
          id: base.id,
          modelType: base.modelType,
          variantOf: base.variantOf ?? null,
          facts: base,
          hfConfig: input.config,
          status,
          teamId,
          registeredBy: caller.userId,
          configSha256: await sha256Hex(JSON.stringify(input.config)),
          sourceRevision: input.revision ?? null,
          shapeSignature: shapeSignature(base),
          ...(operator && { reviewedBy: caller.userId, reviewedAt: now }),
          createdAt: now,
          updatedAt: now,
        })
        .returning()
      return inserted
    })
  } catch (error) {
    if (uniqueViolation(error) !== undefined) {
      const [existing] = await ctx.db
        .select({ id: registeredBaseModels.id })
        .from(registeredBaseModels)
        .where(sql`lower(${registeredBaseModels.id}) = lower(${input.id})`)
      throw baseExists(input.id, existing?.id ?? input.id)
    }
    throw error
  }
  if (!row) throw new Error('insert returned no base model')
  if (status === 'verified') {
    ctx.registry?.invalidate()
    await ctx.jobs.enqueue({ kind: 'base_model_compatibility', baseId: row.id })
  }
  return toEntry(row)
}

/** The team a registration belongs to; an operator may register without one. */
async function registeringTeam(ctx: ServiceContext, caller: Principal, team: string | undefined, operator: boolean): Promise<string | null> {
  if (team !== undefined) return (await loadTeamAs(ctx.db, caller, team)).team.id
  if (caller.teamId) return caller.teamId
  const memberships = await ctx.db.select({ teamId: teamMembers.teamId }).from(teamMembers).where(eq(teamMembers.userId, caller.userId)).limit(2)
  const only = memberships.length === 1 ? memberships[0]?.teamId : undefined
  if (only) return only
  if (operator) return null
  throw new ApiError(
    'team_required',
    memberships.length === 0
      ? 'A base model is registered for a team, which reviews it with the operators; create a team first.'
      : 'You belong to several teams: say which one registers this base model (`team`).',
  )
}

/** The compat module's input errors as 422 problems with their stable code. */
export function compatProblem(error: unknown): unknown {
  if (error instanceof CompatInputError) {
    return new ApiError(error.code, error.message, error.extra ? { extra: error.extra } : {})
  }
  return error
}

export async function listBaseModels(ctx: ServiceContext & Pick<Deps, 'registry'>, query: { family?: string | undefined }) {
  const all = ctx.registry ? (await ctx.registry.verified(ctx.db, ctx.clock())).entries : await listRegistry(ctx.db)
  return (query.family ? all.filter((base) => base.family === query.family) : all).map(checkedEntry)
}

/** A verified base and its shape twins (pending registrations are not shown here, even to their team). */
export async function getBaseModel(ctx: ServiceContext, id: string) {
  const base = await findBaseModel(ctx.db, id, 'verified')
  if (!base) throw notFound(`The base model '${id}'`)
  return { ...toBaseModelView(base), twins: (await shapeTwinsOf(ctx.db, base, 'verified')).map((twin) => twin.id) }
}

export const toBaseModelView = (base: RegistryEntry) => ({
  id: base.id,
  origin: base.origin,
  status: base.status,
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
  configSha256: base.configSha256,
  sourceRevision: base.sourceRevision,
})
