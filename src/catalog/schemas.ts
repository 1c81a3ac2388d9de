import { z } from '@hono/zod-openapi'
import { FindingSchema, RuntimesSchema } from '../compat/api/schemas'
import { SlugSchema } from '../identity/schemas'
import { versionStatuses, visibilities } from './tables'

const TAG = /^[\p{Ll}\p{Lo}\p{N}][\p{Ll}\p{Lo}\p{N}+.-]*$/u

// The document states the pattern as its source: JSON Schema patterns are ECMA-262 (Unicode
// mode), while zod writes a flagged RegExp as `/…/u`, which matches nothing.
const TagSchema = z.string().min(1).max(40).regex(TAG, 'lower-case words, digits, + . - only').openapi({ pattern: TAG.source })

const TagListSchema = z.array(TagSchema).max(10)

export const TagsSchema = z
  .strictObject({ task: TagListSchema.default([]), domain: TagListSchema.default([]), language: TagListSchema.default([]) })
  .openapi('AdapterTags', { example: { task: ['chat'], domain: ['legal'], language: ['zh', 'en'] } })

// An SPDX license id or expression (e.g. "Apache-2.0", "llama2"), or custom text, or both.
export const LicenseSchema = z
  .strictObject({
    spdx: z
      .string()
      .max(100)
      .regex(/^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$/, 'an SPDX license id or expression')
      .optional(),
    text: z.string().min(1).max(50_000).optional(),
    commercialUse: z.boolean(),
    derivatives: z.boolean(),
  })
  .refine((license) => license.spdx !== undefined || license.text !== undefined, {
    message: 'give an SPDX id, custom license text, or both',
  })
  .openapi('License')

export const VisibilitySchema = z.enum(visibilities).openapi('Visibility')

export const AdapterParamsSchema = z.object({
  team: SlugSchema.openapi({ param: { name: 'team', in: 'path' } }),
  slug: SlugSchema.openapi({ param: { name: 'slug', in: 'path' } }),
})

const listingFields = {
  title: z.string().trim().min(1).max(200),
  summary: z.string().trim().max(500),
  description: z.string().max(100_000),
  tags: TagsSchema,
  license: LicenseSchema,
}

export const CreateAdapterSchema = z.strictObject({
  team: SlugSchema,
  slug: SlugSchema,
  ...listingFields,
  summary: listingFields.summary.default(''),
  description: listingFields.description.default(''),
  tags: TagsSchema.default({ task: [], domain: [], language: [] }),
  visibility: VisibilitySchema.default('draft'),
})

export const UpdateAdapterSchema = z
  .strictObject({ ...listingFields, visibility: VisibilitySchema })
  .partial()
  .refine((patch) => Object.keys(patch).length > 0, { message: 'change at least one field' })

const RatingSchema = z.object({ average: z.number(), count: z.number().int() }).openapi('Rating')

export const AdapterSchema = z
  .object({
    id: z.uuid(),
    team: z.string(),
    slug: z.string(),
    title: z.string(),
    summary: z.string(),
    description: z.string(),
    tags: z.object({ task: z.array(z.string()), domain: z.array(z.string()), language: z.array(z.string()) }),
    license: z.object({
      spdx: z.string().nullable(),
      text: z.string().nullable(),
      commercialUse: z.boolean(),
      derivatives: z.boolean(),
    }),
    visibility: VisibilitySchema,
    downloads: z.number().int(),
    rating: RatingSchema,
    latestVersion: z.string().nullable().openapi({ description: 'Highest published version (semver order)' }),
    compatibleBases: z.array(z.string()).openapi({ description: 'Base models the published versions’ tensors fit' }),
    publishedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Adapter')

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

const runtimes = ['vllm', 'lorax', 'tgi', 'llamacpp'] as const
const query = <T extends z.ZodType>(schema: T, name: string) => schema.openapi({ param: { name, in: 'query' } })

const pagingFields = {
  runtime: query(z.enum(runtimes).optional(), 'runtime').openapi({ description: 'Only adapters a serving engine can load (on `base` when given)' }),
  tag: query(TagSchema.optional(), 'tag'),
  license: query(z.string().max(100).optional(), 'license').openapi({ description: 'An SPDX id, e.g. Apache-2.0' }),
  // A query string carries text: `true`/`false` on the wire, a boolean in the document so generated clients take one.
  commercial: query(z.enum(['true', 'false']).transform((value) => value === 'true').optional(), 'commercial').openapi({
    type: 'boolean',
    description: 'Only adapters whose licence allows commercial use (true) or does not (false)',
  }),
  maxPrice: query(z.coerce.number().int().min(0).max(100_000_000).optional(), 'maxPrice').openapi({
    description: 'Only adapters with a free offer or a one-time price at most this many minor units (cents)',
  }),
  currency: query(z.string().length(3).toLowerCase().optional(), 'currency').openapi({ description: 'With maxPrice: the price’s currency (any when omitted)' }),
  sort: query(z.enum(['relevance', 'newest', 'downloads', 'rating']).optional(), 'sort'),
  cursor: query(z.string().max(500).optional(), 'cursor'),
  limit: query(z.coerce.number().int().min(1).max(100).default(20), 'limit'),
}

export const SearchQuerySchema = z.object({
  q: query(z.string().trim().min(1).max(200).optional(), 'q'),
  base: query(z.string().max(200).optional(), 'base').openapi({ description: 'A base model id; matches what the tensors fit, not what the seller declared' }),
  ...pagingFields,
})

export const CompatibleAdaptersQuerySchema = z.object(pagingFields)

export const SearchResultsSchema = z
  .object({
    items: z.array(
      z.object({
        id: z.uuid(),
        team: z.string(),
        slug: z.string(),
        title: z.string(),
        summary: z.string(),
        tags: z.object({ task: z.array(z.string()), domain: z.array(z.string()), language: z.array(z.string()) }),
        license: z.object({ spdx: z.string().nullable(), commercialUse: z.boolean(), derivatives: z.boolean() }),
        downloads: z.number().int(),
        rating: RatingSchema,
        latestVersion: z.string().nullable(),
        compatibleBases: z.array(z.string()),
        publishedAt: z.iso.datetime().nullable(),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .openapi('SearchResults')

export const CompatibleAdaptersSchema = SearchResultsSchema

export const CreateReviewSchema = z.strictObject({
  rating: z.number().int().min(1).max(5),
  text: z.string().trim().max(10_000).default(''),
  team: SlugSchema.optional().openapi({ description: 'Review for a team that holds the entitlement' }),
})

export const UpdateReviewSchema = z
  .strictObject({ rating: z.number().int().min(1).max(5), text: z.string().trim().max(10_000) })
  .partial()
  .refine((patch) => Object.keys(patch).length > 0, { message: 'change the rating, the text, or both' })
  .openapi('UpdateReview')

export const ReviewParamsSchema = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) })

export const ReviewSchema = z
  .object({
    id: z.uuid(),
    version: z.string(),
    rating: z.number().int(),
    text: z.string(),
    author: z.string(),
    team: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Review')

export const ReviewListQuerySchema = z.object({
  cursor: query(z.string().max(500).optional(), 'cursor'),
  limit: query(z.coerce.number().int().min(1).max(100).default(20), 'limit'),
})

export const ReviewListSchema = z
  .object({ items: z.array(ReviewSchema), ratingAverage: z.number(), ratingCount: z.number().int(), nextCursor: z.string().nullable() })
  .openapi('Reviews')
