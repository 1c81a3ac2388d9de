import { createRoute, z } from '@hono/zod-openapi'
import { serviceContext } from '../../lib/context'
import { bearer, createRouter, json, problems } from '../../lib/openapi'
import { decideInvitation, listMyInvitations, listTeamInvitations, revokeTeamInvitation } from '../invitations'
import { InvitationIdParamSchema, InvitationSchema, TeamParamSchema } from '../schemas'

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
