import { createRoute } from '@hono/zod-openapi'
import { publicReadContext } from '../lib/context'
import { createRouter, json, optionalBearer, problems, sendJson } from '../lib/openapi'
import { SearchQuerySchema, SearchResultsSchema } from './schemas'
import { searchAdaptersJson } from './search'

const searchAdaptersRoute = createRoute({
  method: 'get',
  path: '/v1/adapters',
  operationId: 'searchAdapters',
  security: optionalBearer,
  tags: ['catalog'],
  summary: 'Find published adapters by text, the base model you run, serving engine, tag or license',
  request: { query: SearchQuerySchema },
  responses: { 200: json(SearchResultsSchema, 'A page of results'), ...problems(422) },
})

export const searchRoutes = createRouter().openapi(searchAdaptersRoute, async (c) => sendJson(c, await searchAdaptersJson(publicReadContext(c), c.req.valid('query')), 200))
