import { createRoute, z } from '@hono/zod-openapi'
import { serviceContext } from '../../lib/context'
import { bearer, createRouter, json, jsonBody, problems } from '../../lib/openapi'
import { inviteTeamMember } from '../invitations'
import { leaveTeam, removeTeamMember, updateTeamMember } from '../members'
import { createTeam, listTeamMembers } from '../teams'
import { EmailSchema, InvitationSchema, MemberSchema, RoleSchema, SlugSchema, TeamParamSchema, TeamSchema, UserIdParamSchema } from '../schemas'

const createTeamRoute = createRoute({
  method: 'post',
  path: '/v1/teams',
  operationId: 'createTeam',
  tags: ['identity'],
  summary: 'Create a team; the caller becomes its owner',
  security: bearer('admin'),
  request: { body: jsonBody(z.strictObject({ slug: SlugSchema, name: z.string().trim().min(1).max(100) })) },
  responses: {
    201: json(z.object({ team: TeamSchema, role: RoleSchema }), 'Team created'),
    ...problems(409, 413, 422),
  },
})

const addTeamMemberRoute = createRoute({
  method: 'post',
  path: '/v1/teams/{team}/members',
  operationId: 'addTeamMember',
  tags: ['identity'],
  summary: 'Invite an email to the team (owners and admins; only owners invite owners)',
  description:
    'Nobody joins without accepting (`acceptInvitation`). The answer is the same whether or not the email has an account; inviting the same email again refreshes the open invitation. Invitations expire after `INVITATION_TTL_DAYS`.',
  security: bearer('admin'),
  request: { params: TeamParamSchema, body: jsonBody(z.strictObject({ email: EmailSchema, role: RoleSchema })) },
  responses: {
    202: json(z.object({ invitation: InvitationSchema }), 'Invitation open'),
    ...problems(404, 409, 413, 422),
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
    ...problems(404, 422),
  },
})

const updateTeamMemberRoute = createRoute({
  method: 'patch',
  path: '/v1/teams/{team}/members/{userId}',
  operationId: 'updateTeamMember',
  tags: ['identity'],
  summary: "Change a member's role (owners and admins; only owners change owners or make owners; the last owner stays owner)",
  security: bearer('admin'),
  request: { params: UserIdParamSchema, body: jsonBody(z.strictObject({ role: RoleSchema })) },
  responses: {
    200: json(z.object({ member: MemberSchema }), 'Role changed'),
    ...problems(404, 409, 413, 422),
  },
})

const removeTeamMemberRoute = createRoute({
  method: 'delete',
  path: '/v1/teams/{team}/members/{userId}',
  operationId: 'removeTeamMember',
  tags: ['identity'],
  summary: "Remove a member (owners and admins; only owners remove owners; never the last owner). The member's team-bound API keys are revoked",
  security: bearer('admin'),
  request: { params: UserIdParamSchema },
  responses: {
    200: json(z.object({ member: MemberSchema }), 'Member removed'),
    ...problems(404, 409, 422),
  },
})

const leaveTeamRoute = createRoute({
  method: 'post',
  path: '/v1/teams/{team}/leave',
  operationId: 'leaveTeam',
  tags: ['identity'],
  summary: 'Leave the team (not as its last owner); the team-bound API keys you created for it are revoked',
  security: bearer('admin'),
  request: { params: TeamParamSchema },
  responses: {
    200: json(z.object({ member: MemberSchema }), 'Left the team'),
    ...problems(404, 409, 422),
  },
})

export const teamRoutes = createRouter()
  .openapi(createTeamRoute, async (c) => c.json(await createTeam(serviceContext(c), c.req.valid('json')), 201))
  .openapi(addTeamMemberRoute, async (c) => {
    const invitation = await inviteTeamMember(serviceContext(c), c.req.valid('param').team, c.req.valid('json'))
    return c.json({ invitation }, 202)
  })
  .openapi(listTeamMembersRoute, async (c) =>
    c.json(await listTeamMembers(serviceContext(c), c.req.valid('param').team), 200),
  )
  .openapi(updateTeamMemberRoute, async (c) => {
    const { team, userId } = c.req.valid('param')
    return c.json({ member: await updateTeamMember(serviceContext(c), team, userId, c.req.valid('json')) }, 200)
  })
  .openapi(removeTeamMemberRoute, async (c) => {
    const { team, userId } = c.req.valid('param')
    return c.json({ member: await removeTeamMember(serviceContext(c), team, userId) }, 200)
  })
  .openapi(leaveTeamRoute, async (c) => c.json({ member: await leaveTeam(serviceContext(c), c.req.valid('param').team) }, 200))
