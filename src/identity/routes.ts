import { createRoute, z } from '@hono/zod-openapi'
import { clientAddressOf, serviceContext } from '../lib/context'
import { bearer, createRouter, json, jsonBody, noCredential, problems } from '../lib/openapi'
import { getMe, login, signup } from './accounts'
import { logout } from './sessions'
import { EmailSchema, PasswordSchema, RoleSchema, ScopeSchema, UserSchema, ApiKeySchema, SlugSchema, InvitationIdParamSchema, InvitationSchema, TeamParamSchema, MemberSchema, TeamSchema, UserIdParamSchema } from './schemas'
import { createApiKey, listApiKeys, revokeApiKey } from './api-keys'
import { decideInvitation, listMyInvitations, listTeamInvitations, revokeTeamInvitation, inviteTeamMember } from './invitations'
import { leaveTeam, removeTeamMember, updateTeamMember } from './members'
import { createTeam, listTeamMembers } from './teams'

const TokenSchema = z.object({ token: z.string(), expiresAt: z.iso.datetime() })

const signupRoute = createRoute({
  method: 'post',
  path: '/v1/signup',
  operationId: 'signup',
  security: noCredential,
  tags: ['identity'],
  summary: 'Create an account and get an access token',
  request: {
    body: jsonBody(z.strictObject({ email: EmailSchema, password: PasswordSchema, name: z.string().trim().min(1).max(100) })),
  },
  responses: {
    201: json(z.object({ user: UserSchema }).extend(TokenSchema.shape).openapi('SignupResult'), 'Account created'),
    ...problems(409, 413, 422),
  },
})

const loginRoute = createRoute({
  method: 'post',
  path: '/v1/login',
  operationId: 'login',
  security: noCredential,
  tags: ['identity'],
  summary: 'Exchange email and password for an access token (valid one hour)',
  request: { body: jsonBody(z.strictObject({ email: EmailSchema, password: z.string().min(1).max(256) })) },
  responses: { 200: json(TokenSchema.openapi('LoginResult'), 'Access token'), ...problems(413, 422) },
})

const getMeRoute = createRoute({
  method: 'get',
  path: '/v1/me',
  operationId: 'getMe',
  tags: ['identity'],
  summary: 'The caller, their teams and how they authenticated',
  security: bearer('read'),
  responses: {
    200: json(
      z
        .object({
          user: UserSchema,
          teams: z.array(z.object({ slug: z.string(), name: z.string(), role: RoleSchema })),
          operator: z.boolean().openapi({ description: 'Whether the caller is a platform operator (OPERATOR_EMAILS)' }),
          auth: z.object({
            via: z.enum(['token', 'api_key']),
            scopes: z.array(ScopeSchema),
            apiKeyId: z.uuid().nullable(),
            team: z.string().nullable().openapi({ description: 'The team a team-bound API key acts as (for every read and write); null otherwise.' }),
          }),
        })
        .openapi('Me'),
      'The caller',
    ),
    ...problems(),
  },
})

const logoutRoute = createRoute({
  method: 'post',
  path: '/v1/logout',
  operationId: 'logout',
  tags: ['identity'],
  summary: "Sign out: revokes every access token of the caller's account at once (API keys stay; revoke them with revokeApiKey)",
  security: bearer('read'),
  responses: { 204: { description: 'Signed out; the tokens now get 401 token_revoked' }, ...problems() },
})

export const accountRoutes = createRouter()
  .openapi(signupRoute, async (c) => c.json(await signup(c.get('deps'), c.req.valid('json'), { address: clientAddressOf(c) }), 201))
  .openapi(loginRoute, async (c) => c.json(await login(c.get('deps'), c.req.valid('json'), { address: clientAddressOf(c) }), 200))
  .openapi(getMeRoute, async (c) => c.json(await getMe(serviceContext(c)), 200))
  .openapi(logoutRoute, async (c) => {
    await logout(serviceContext(c))
    return c.body(null, 204)
  })

const createApiKeyRoute = createRoute({
  method: 'post',
  path: '/v1/api-keys',
  operationId: 'createApiKey',
  tags: ['identity'],
  summary: 'Create a scoped API key; the key itself is shown only in this response',
  security: bearer('admin'),
  request: {
    body: jsonBody(
      z.strictObject({
        name: z.string().trim().min(1).max(100),
        scopes: z.array(ScopeSchema).min(1),
        team: SlugSchema.optional().openapi({ description: 'Bind the key to this team (owners and admins)' }),
      }),
    ),
  },
  responses: {
    201: json(z.object({ key: z.string().openapi({ example: 'rfy_…' }), apiKey: ApiKeySchema }), 'Key created'),
    ...problems(404, 413, 422),
  },
})

const listApiKeysRoute = createRoute({
  method: 'get',
  path: '/v1/api-keys',
  operationId: 'listApiKeys',
  tags: ['identity'],
  summary: "The caller's API keys (never the secret)",
  security: bearer('admin'),
  responses: { 200: json(z.object({ items: z.array(ApiKeySchema) }), 'Keys'), ...problems() },
})

const revokeApiKeyRoute = createRoute({
  method: 'delete',
  path: '/v1/api-keys/{id}',
  operationId: 'revokeApiKey',
  tags: ['identity'],
  summary: 'Revoke an API key at once (idempotent); needs the admin scope, except for a key revoking itself',
  security: bearer('admin'),
  request: { params: z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' } }) }) },
  responses: { 200: json(z.object({ apiKey: ApiKeySchema }), 'Key revoked'), ...problems(404) },
})

export const apiKeyRoutes = createRouter()
  .openapi(createApiKeyRoute, async (c) => c.json(await createApiKey(serviceContext(c), c.req.valid('json')), 201))
  .openapi(listApiKeysRoute, async (c) => c.json(await listApiKeys(serviceContext(c)), 200))
  .openapi(revokeApiKeyRoute, async (c) =>
    c.json(await revokeApiKey(serviceContext(c), c.req.valid('param').id), 200),
  )

const InvitationResult = z.object({ invitation: InvitationSchema })

const listTeamInvitationsRoute = createRoute({
  method: 'get',
  path: '/v1/teams/{team}/invitations',
  operationId: 'listTeamInvitations',
  tags: ['identity'],
  summary: "The team's open invitations, expired ones marked (owners and admins)",
  security: bearer('read'),
  request: { params: TeamParamSchema },
  responses: {
    200: json(z.object({ items: z.array(InvitationSchema) }), 'Open invitations'),
    ...problems(404, 422),
  },
})

const revokeTeamInvitationRoute = createRoute({
  method: 'delete',
  path: '/v1/teams/{team}/invitations/{id}',
  operationId: 'revokeTeamInvitation',
  tags: ['identity'],
  summary: 'Withdraw an open invitation (owners and admins; only owners withdraw an invitation to become owner)',
  security: bearer('admin'),
  request: { params: TeamParamSchema.extend(InvitationIdParamSchema.shape) },
  responses: { 200: json(InvitationResult, 'Invitation revoked'), ...problems(404, 409, 422) },
})

const listMyInvitationsRoute = createRoute({
  method: 'get',
  path: '/v1/me/invitations',
  operationId: 'listMyInvitations',
  tags: ['identity'],
  summary: "Open invitations addressed to the caller's email",
  security: bearer('read'),
  responses: { 200: json(z.object({ items: z.array(InvitationSchema) }), 'Open invitations'), ...problems() },
})

const decisionRoute = (decision: 'accept' | 'decline') =>
  createRoute({
    method: 'post',
    path: `/v1/me/invitations/{id}/${decision}`,
    operationId: decision === 'accept' ? 'acceptInvitation' : 'declineInvitation',
    tags: ['identity'],
    summary:
      decision === 'accept'
        ? 'Accept an invitation addressed to you: you join the team with its role'
        : 'Decline an invitation addressed to you',
    description: "Another person's invitation is 404; one already decided is 409 `invitation_not_pending`, an expired one 409 `invitation_expired`.",
    security: bearer('admin'),
    request: { params: InvitationIdParamSchema },
    responses: { 200: json(InvitationResult, decision === 'accept' ? 'Joined the team' : 'Declined'), ...problems(404, 409, 422) },
  })

export const invitationRoutes = createRouter()
  .openapi(listTeamInvitationsRoute, async (c) => c.json(await listTeamInvitations(serviceContext(c), c.req.valid('param').team), 200))
  .openapi(revokeTeamInvitationRoute, async (c) => {
    const { team, id } = c.req.valid('param')
    return c.json({ invitation: await revokeTeamInvitation(serviceContext(c), team, id) }, 200)
  })
  .openapi(listMyInvitationsRoute, async (c) => c.json(await listMyInvitations(serviceContext(c)), 200))
  .openapi(decisionRoute('accept'), async (c) =>
    c.json({ invitation: await decideInvitation(serviceContext(c), c.req.valid('param').id, 'accepted') }, 200),
  )
  .openapi(decisionRoute('decline'), async (c) =>
    c.json({ invitation: await decideInvitation(serviceContext(c), c.req.valid('param').id, 'declined') }, 200),
  )

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
