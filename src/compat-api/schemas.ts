import { queryParam } from '../lib/openapi'
import { z } from '@hono/zod-openapi'
import { SlugSchema } from '../identity'
import { FindingSchema, RuntimesSchema } from '../registry'

// Hugging Face ids: `owner/name`, letters, digits and . _ -
export const BaseModelIdSchema = z
  .string()
  .min(3)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a Hugging Face id such as meta-llama/Llama-2-7b-hf')
  .openapi({ example: 'meta-llama/Llama-2-7b-hf' })

const idPart = z.string().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)

export const BaseModelParamsSchema = z.object({
  owner: idPart.openapi({ param: { name: 'owner', in: 'path' }, example: 'meta-llama' }),
  name: idPart.openapi({ param: { name: 'name', in: 'path' }, example: 'Llama-2-7b-hf' }),
})

const ShapeSchema = z.array(z.number().int())

export const BaseModelSchema = z
  .object({
    id: z.string(),
    origin: z.enum(['seeded', 'registered']),
    status: z.enum(['verified', 'pending']).openapi({ description: 'Pending: registered by a team, usable only by it until an operator reviews it' }),
    family: z.string(),
    modelType: z.string(),
    architecture: z.string(),
    hiddenSize: z.number().int(),
    intermediateSize: z.number().int(),
    numHiddenLayers: z.number().int(),
    vocabSize: z.number().int().nullable(),
    layerPrefix: z.string(),
    modules: z.record(z.string(), ShapeSchema).openapi({ description: 'Linear modules in each layer: [out, in]' }),
    variantOf: z.string().nullable(),
    quantization: z.string().nullable(),
    configSha256: z.string().nullable().openapi({ description: 'sha256 of the registered config.json (JSON.stringify of the body sent); null for seeded bases' }),
    sourceRevision: z.string().nullable().openapi({ description: 'The Hugging Face revision the config was read from, when given' }),
  })
  .openapi('BaseModel')

export const BaseModelDetailSchema = BaseModelSchema.extend({
  twins: z.array(z.string()).openapi({ description: 'Registered bases whose layer shapes are identical' }),
}).openapi('BaseModelDetail')

/** How deep a config or header sent as JSON may nest; real ones nest three or four levels. */
export const MAX_JSON_DEPTH = 64

/** Whether a parsed JSON value nests at most `max` levels, walked without recursion. */
export function nestsWithin(value: unknown, max: number): boolean {
  // Objects and their depths side by side: no pair allocated per value.
  const pending: object[] = []
  const depths: number[] = []
  if (typeof value === 'object' && value !== null) {
    pending.push(value)
    depths.push(1)
  }
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const depth = depths.pop() as number
    if (depth > max) return false
    if (Array.isArray(item)) {
      for (let i = 0; i < item.length; i++) {
        const child: unknown = item[i]
        if (typeof child === 'object' && child !== null) {
          pending.push(child)
          depths.push(depth + 1)
        }
      }
      continue
    }
    const record = item as Record<string, unknown>
    for (const key of Object.keys(record)) {
      const child = record[key]
      if (typeof child === 'object' && child !== null) {
        pending.push(child)
        depths.push(depth + 1)
      }
    }
  }
  return true
}

/** A JSON object of anything, bounded in depth so nothing downstream (jsonb, messages) recurses without end. */
const jsonObject = () =>
  z.record(z.string(), z.unknown()).refine((value) => nestsWithin(value, MAX_JSON_DEPTH), { message: `nests deeper than ${MAX_JSON_DEPTH} levels` })

const HfConfigSchema = jsonObject().openapi({
  description: "A Hugging Face config.json",
  example: { model_type: 'llama', hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32, vocab_size: 32000 },
})

export const RegisterBaseModelSchema = z.strictObject({
  id: BaseModelIdSchema,
  // Stored as jsonb: the router refuses a NUL character anywhere in it (see createRouter).
  config: HfConfigSchema,
  team: SlugSchema.optional().openapi({
    description: "The team the registration belongs to while pending; default: the key's team, or the caller's only team",
  }),
  revision: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'a commit id, branch or tag')
    .optional()
    .openapi({ description: 'The Hugging Face revision (commit id or tag) the config.json comes from', example: 'cdbee75b05a37fe4ef6b1e2ad1ec2ae67dbd14b5' }),
})

export const PendingBaseModelSchema = z
  .object({
    id: z.string(),
    team: z.string().nullable(),
    modelType: z.string(),
    architecture: z.string(),
    numHiddenLayers: z.number().int(),
    hiddenSize: z.number().int(),
    variantOf: z.string().nullable(),
    configSha256: z.string().nullable(),
    sourceRevision: z.string().nullable(),
    config: z.record(z.string(), z.unknown()),
    registeredAt: z.iso.datetime(),
  })
  .openapi('PendingBaseModel')

export const ListPendingBaseModelsQuerySchema = z.object({
  cursor: queryParam(z.string().max(500).optional(), 'cursor'),
  limit: queryParam(z.coerce.number().int().min(1).max(100).default(50), 'limit'),
})

export const ReviewBaseModelSchema = z
  .strictObject({
    decision: z.enum(['verify', 'reject', 'merge']),
    into: BaseModelIdSchema.optional().openapi({ description: 'For merge: the verified base with the same layer shapes this id becomes an alias of' }),
  })
  .openapi('BaseModelReview')

export const BaseModelReviewResultSchema = z
  .object({ id: z.string(), status: z.enum(['verified', 'rejected', 'merged']), mergedInto: z.string().nullable() })
  .openapi('BaseModelReviewResult')

export const ListBaseModelsQuerySchema = z.object({
  family: queryParam(z.string().max(50).optional(), 'family'),
})

const SafetensorsHeaderSchema = jsonObject().openapi({ description: 'The safetensors header as JSON: tensor name → {dtype, shape, data_offsets}, plus __metadata__' })

const AdapterConfigSchema = jsonObject().openapi({ description: 'A PEFT adapter_config.json' })

export const CheckCompatibilitySchema = z
  .strictObject({
    base: z.union([
      BaseModelIdSchema,
      z.strictObject({ id: BaseModelIdSchema.optional(), config: HfConfigSchema }),
    ]),
    adapter: z.union([
      z.strictObject({ config: AdapterConfigSchema.optional(), header: SafetensorsHeaderSchema }),
      z.strictObject({
        version: z
          .string()
          .regex(/^[a-z0-9-]+\/[a-z0-9-]+@[0-9A-Za-z.+-]+$/, 'team/slug@version')
          .openapi({ example: 'acme/legal-zh@1.0.0' }),
      }),
    ]),
  })
  .openapi('CompatibilityRequest')

export const CompatReportSchema = z
  .object({
    compatible: z.boolean(),
    base: z.string(),
    checks: z.array(FindingSchema),
    twins: z.array(z.string()),
    declaredBase: z.object({ value: z.string().nullable(), matches: z.boolean().nullable(), normalized: z.string().optional() }),
    runtimes: RuntimesSchema,
  })
  .openapi('CompatibilityReport')

export const InspectionSchema = z
  .object({
    headerBytes: z.number().int(),
    fileSize: z.number().int(),
    metadata: z.record(z.string(), z.string()),
    tensors: z.array(z.object({ name: z.string(), dtype: z.string(), shape: z.array(z.number().int()) })),
    lora: z.record(z.string(), z.unknown()).openapi({ description: 'LoRA facts derived from the tensors: rank, target modules, layers, parameter count…' }),
  })
  .openapi('SafetensorsInspection')
