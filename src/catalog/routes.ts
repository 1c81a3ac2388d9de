import { createRoute, z } from '@hono/zod-openapi'
import { TeamParamSchema } from '../identity'
import { publicReadContext, serviceContext } from '../lib/context'
import { bearer, createRouter, json, jsonBody, optionalBearer, problems } from '../lib/openapi'
import { createAdapter, getAdapter, listTeamAdapters, updateAdapter } from './adapters'
import { AdapterParamsSchema, AdapterSchema, CreateAdapterSchema, UpdateAdapterSchema } from './schemas'

const createAdapterRoute = createRoute({
  method: 'post',
  path: '/v1/adapters',
  operationId: 'createAdapter',
  tags: ['catalog'],
  summary: 'Create an adapter listing for a team (members with the publish scope)',
  security: bearer('publish'),
  request: { body: jsonBody(CreateAdapterSchema) },
  responses: { 201: json(AdapterSchema, 'Listing created'), ...problems(404, 409, 413, 422) },
})


const getAdapterRoute = createRoute({
  method: 'get',
  path: '/v1/adapters/{team}/{slug}',
  operationId: 'getAdapter',
  security: optionalBearer,
  tags: ['catalog'],
  summary: 'A listing; drafts are visible only to the seller team',
  request: { params: AdapterParamsSchema },
  responses: { 200: json(AdapterSchema, 'The listing'), ...problems(404, 422) },
})

const updateAdapterRoute = createRoute({
  method: 'patch',
  path: '/v1/adapters/{team}/{slug}',
  operationId: 'updateAdapter',
  tags: ['catalog'],
  summary: 'Change a listing’s text, tags, license or visibility',
  security: bearer('publish'),
  request: { params: AdapterParamsSchema, body: jsonBody(UpdateAdapterSchema) },
  responses: { 200: json(AdapterSchema, 'The updated listing'), ...problems(404, 413, 422) },
})

const listTeamAdaptersRoute = createRoute({
  method: 'get',
  path: '/v1/teams/{team}/adapters',
  operationId: 'listTeamAdapters',
  security: optionalBearer,
  tags: ['catalog'],
  summary: 'A team’s listings, newest first: every one (with its visibility) for members, published ones for everyone else',
  request: { params: TeamParamSchema },
  responses: { 200: json(z.object({ items: z.array(AdapterSchema) }).openapi('AdapterList'), 'The listings'), ...problems(404, 422) },
})

export const adapterRoutes = createRouter()
  .openapi(createAdapterRoute, async (c) => c.json(await createAdapter(serviceContext(c), c.req.valid('json')), 201))
  .openapi(getAdapterRoute, async (c) => {
    const { team, slug } = c.req.valid('param')
    return c.json(await getAdapter(publicReadContext(c), team, slug), 200)
  })
  .openapi(listTeamAdaptersRoute, async (c) => c.json(await listTeamAdapters(serviceContext(c), c.req.valid('param').team), 200))
  .openapi(updateAdapterRoute, async (c) => {
    const { team, slug } = c.req.valid('param')
    return c.json(await updateAdapter(serviceContext(c), team, slug, c.req.valid('json')), 200)
  })
