import { z } from '@hono/zod-openapi'
import { queryParam } from '../lib/openapi'
import { RatingSchema, TagSchema } from '../catalog'

const runtimes = ['vllm', 'lorax', 'tgi', 'llamacpp'] as const
const pagingFields = {
  runtime: queryParam(z.enum(runtimes).optional(), 'runtime').openapi({ description: 'Only adapters a serving engine can load (on `base` when given)' }),
  tag: queryParam(TagSchema.optional(), 'tag'),
  license: queryParam(z.string().max(100).optional(), 'license').openapi({ description: 'An SPDX id, e.g. Apache-2.0' }),
  // A query string carries text: `true`/`false` on the wire, a boolean in the document so generated clients take one.
  commercial: queryParam(z.enum(['true', 'false']).transform((value) => value === 'true').optional(), 'commercial').openapi({
    type: 'boolean',
    description: 'Only adapters whose licence allows commercial use (true) or does not (false)',
  }),
  maxPrice: queryParam(z.coerce.number().int().min(0).max(100_000_000).optional(), 'maxPrice').openapi({
    description: 'Only adapters with a free offer or a one-time price at most this many minor units (cents)',
  }),
  currency: queryParam(z.string().length(3).toLowerCase().optional(), 'currency').openapi({ description: 'With maxPrice: the price’s currency (any when omitted)' }),
  sort: queryParam(z.enum(['relevance', 'newest', 'downloads', 'rating']).optional(), 'sort'),
  cursor: queryParam(z.string().max(500).optional(), 'cursor'),
  limit: queryParam(z.coerce.number().int().min(1).max(100).default(20), 'limit'),
}

export const SearchQuerySchema = z.object({
  q: queryParam(z.string().trim().min(1).max(200).optional(), 'q'),
  base: queryParam(z.string().max(200).optional(), 'base').openapi({ description: 'A base model id; matches what the tensors fit, not what the seller declared' }),
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
