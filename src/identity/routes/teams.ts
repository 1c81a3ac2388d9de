import { createRoute, z } from '@hono/zod-openapi'
import { serviceContext } from '../../lib/context'
import { bearer, createRouter, json, jsonBody, problems } from '../../lib/openapi'
import { addTeamMember, createTeam, listTeamMembers } from '../teams'
import { EmailSchema, MemberSchema, RoleSchema, SlugSchema, TeamParamSchema, TeamSchema } from '../schemas'

const createTeamRoute = createRoute({
  method: 'post',
  path: '/v1/teams',
  operationId: 'createTeam',
  tags: ['identity'],
  summary: 'Create a team; the caller becomes its owner',
  security: bearer('admin'),
  request: { body: jsonBody(z.object({ slug: SlugSchema, name: z.string().trim().min(1).max(100) })) },
  responses: {
    201: json(z.object({ team: TeamSchema, role: RoleSchema }), 'Team created'),
    ...problems(400, 401, 403, 409, 413, 422),
  },
})

const addTeamMemberRoute = createRoute({
  method: 'post',
  path: '/v1/teams/{team}/members',
  operationId: 'addTeamMember',
  tags: ['identity'],
  summary: 'Add a registered user to the team (owners and admins; only owners add owners)',
  security: bearer('admin'),
  request: { params: TeamParamSchema, body: jsonBody(z.object({ email: EmailSchema, role: RoleSchema })) },
  responses: {
    201: json(z.object({ member: MemberSchema }), 'Member added'),
    ...problems(400, 401, 403, 404, 409, 413, 422),
  },
})

const listTeamMembersRoute = createRoute({
  method: 'get',
  path: '/v1/teams/{team}/members',
  operationId: 'listTeamMembers',
  tags: ['identity'],
  summary: "The team's members and their roles (members only)",
  security: bearer('read'),
  request: { params: TeamParamSchema },
  responses: {
    200: json(z.object({ items: z.array(MemberSchema) }), 'Members'),
    ...problems(401, 403, 404, 422),
  },
})

export const teamRoutes = createRouter()
  .openapi(createTeamRoute, async (c) => c.json(await createTeam(serviceContext(c), c.req.valid('json')), 201))
  .openapi(addTeamMemberRoute, async (c) => {
    const member = await addTeamMember(serviceContext(c), c.req.valid('param').team, c.req.valid('json'))
    return c.json({ member }, 201)
  })
  .openapi(listTeamMembersRoute, async (c) =>
    c.json(await listTeamMembers(serviceContext(c), c.req.valid('param').team), 200),
  )
