import { z } from '@hono/zod-openapi'
import { SlugSchema } from '../identity'
import { visibilities } from './tables'

const TAG = /^[\p{Ll}\p{Lo}\p{N}][\p{Ll}\p{Lo}\p{N}+.-]*$/u

// The document states the pattern as its source: JSON Schema patterns are ECMA-262 (Unicode
// mode), while zod writes a flagged RegExp as `/…/u`, which matches nothing.
export const TagSchema = z.string().min(1).max(40).regex(TAG, 'lower-case words, digits, + . - only').openapi({ pattern: TAG.source })

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

export const RatingSchema = z.object({ average: z.number(), count: z.number().int() }).openapi('Rating')

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
