import { z } from '@hono/zod-openapi'
import { AdapterParamsSchema } from '../catalog'
import { FindingSchema, RuntimesSchema } from '../registry'
import { versionStatuses } from './tables'

// semver.org's recommended expression.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/

export const SemverSchema = z.string().max(64).regex(SEMVER, 'a semantic version such as 1.2.0').openapi({ example: '1.0.0' })

export const VersionParamsSchema = AdapterParamsSchema.extend({
  version: SemverSchema.openapi({ param: { name: 'version', in: 'path' } }),
})

export const MAX_FILE_BYTES = 10 * 1024 ** 3

export const FilePathSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/, 'a relative path of letters, digits, . _ - and /')

export const DeclaredFileSchema = z.strictObject({
  path: FilePathSchema,
  size: z.number().int().min(1).max(MAX_FILE_BYTES),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'lower-case hex SHA-256'),
})

export const EvalSchema = z
  .strictObject({
    benchmark: z.string().min(1).max(100).openapi({ example: 'C-Eval' }),
    score: z.number().finite(),
    baseScore: z.number().finite().optional().openapi({ description: "The base model's score on the same benchmark" }),
    metric: z.string().max(50).optional().openapi({ example: 'accuracy' }),
  })
  .openapi('EvalResult')

export type EvalResult = z.infer<typeof EvalSchema>

export const CreateVersionSchema = z.strictObject({
  version: SemverSchema,
  baseModel: z.string().min(1).max(200).openapi({ example: 'baichuan-inc/Baichuan2-7B-Base' }),
  changelog: z.string().max(20_000).default(''),
  evals: z.array(EvalSchema).max(50).default([]),
  files: z
    .array(DeclaredFileSchema)
    .min(1)
    .max(50)
    .refine((files) => new Set(files.map((f) => f.path)).size === files.length, { message: 'file paths must be unique' })
    .refine((files) => files.some((f) => f.path.endsWith('.safetensors')), {
      message: 'include the adapter weights as a .safetensors file',
    }),
})

export const CompleteVersionSchema = z
  .strictObject({
    parts: z
      .record(FilePathSchema, z.array(z.strictObject({ partNumber: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(512) })))
      .default({}),
  })
  .default({ parts: {} })

export const UpdateVersionSchema = z
  .strictObject({ changelog: z.string().max(20_000), evals: z.array(EvalSchema).max(50) })
  .partial()
  .refine((patch) => Object.keys(patch).length > 0, { message: 'change at least one field' })

export const VersionSchema = z
  .object({
    id: z.uuid(),
    version: z.string(),
    commit: z
      .string()
      .regex(/^[0-9a-f]{40}$/)
      .openapi({ description: 'The version’s commit id on the Hugging Face protocol (`/hf`): 40 hex digits, fixed forever; usable as a revision there' }),
    status: z.enum(versionStatuses),
    baseModel: z.string().openapi({ description: 'The declared base model, normalised to a registered id' }),
    changelog: z.string(),
    evals: z.array(EvalSchema),
    files: z.array(z.object({ path: z.string(), size: z.number().int(), sha256: z.string() })),
    findings: z.array(z.record(z.string(), z.unknown())).openapi({ description: 'Why validation rejected the version, or warnings' }),
    lora: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'Facts derived from the tensors once validated' }),
    compatibleBases: z.array(z.string()),
    createdAt: z.iso.datetime(),
    downloads: z.number().int().openapi({ description: 'Granted downloads of its files (updated within seconds)' }),
    publishedAt: z.iso.datetime().nullable(),
    fingerprint: z
      .object({
        status: z.enum(['unique', 'flagged', 'duplicate', 'overruled']),
        modules: z.number().int(),
        reviewedAt: z.iso.datetime().nullable(),
      })
      .nullable()
      .optional()
      .openapi({ description: 'Seller protection (the seller team only, getVersion): how the function the weights compute compares with other teams’ versions; null until validated' }),
  })
  .openapi('Version')

export const VersionListSchema = z.object({ items: z.array(VersionSchema) }).openapi('VersionList')

export const VersionCompatibilitySchema = z
  .object({
    version: z.string(),
    items: z.array(
      z.object({
        base: z.string(),
        compatible: z.boolean(),
        twins: z.array(z.string()).openapi({ description: 'Other registered bases with the same layer shapes' }),
        runtimes: RuntimesSchema,
        findings: z.array(FindingSchema).openapi({ description: 'Errors and warnings against this base (info checks left out)' }),
      }),
    ),
  })
  .openapi('VersionCompatibility')

const SingleUploadSchema = z.object({
  path: z.string(),
  kind: z.literal('single'),
  method: z.literal('PUT'),
  url: z.string(),
  headers: z.record(z.string(), z.string()).openapi({ description: 'Send these headers with the PUT; the checksum header lets storage verify the bytes' }),
  expiresAt: z.iso.datetime(),
})

const MultipartUploadSchema = z.object({
  path: z.string(),
  kind: z.literal('multipart'),
  partSize: z.number().int(),
  parts: z.array(z.object({ partNumber: z.number().int(), url: z.string(), size: z.number().int() })),
  expiresAt: z.iso.datetime(),
  complete: z.string(),
})

export const CreateVersionResponseSchema = z
  .object({ version: VersionSchema, uploads: z.array(z.discriminatedUnion('kind', [SingleUploadSchema, MultipartUploadSchema])) })
  .openapi('VersionUploads')
