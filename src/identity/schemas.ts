import { z } from '@hono/zod-openapi'
import { apiKeyScopes, invitationStatuses, teamRoles } from './tables'

export const SlugSchema = z
  .string()
  .min(2)
  .max(40)
  .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'lower-case letters, digits and inner hyphens only')
  .openapi({ example: 'acme-labs' })

export const TeamParamSchema = z.object({
  team: SlugSchema.openapi({ param: { name: 'team', in: 'path' } }),
})

export const UserSchema = z
  .object({ id: z.uuid(), email: z.email(), name: z.string(), createdAt: z.iso.datetime() })
  .openapi('User')

export const TeamSchema = z
  .object({ id: z.uuid(), slug: z.string(), name: z.string(), createdAt: z.iso.datetime() })
  .openapi('Team')

export const RoleSchema = z.enum(teamRoles).openapi('TeamRole')
export const ScopeSchema = z.enum(apiKeyScopes).openapi('Scope')

export const MemberSchema = z
  .object({ userId: z.uuid(), email: z.string(), name: z.string(), role: RoleSchema, joinedAt: z.iso.datetime() })
  .openapi('TeamMember')

export const InvitationSchema = z
  .object({
    id: z.uuid(),
    team: z.string(),
    teamName: z.string(),
    email: z.string(),
    role: RoleSchema,
    status: z.enum([...invitationStatuses, 'expired']).openapi({ description: 'A pending invitation past its expiry is `expired`' }),
    invitedBy: z.string().nullable().openapi({ description: "The inviter's name" }),
    expiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
  })
  .openapi('TeamInvitation')

export const UserIdParamSchema = TeamParamSchema.extend({
  userId: z.uuid().openapi({ param: { name: 'userId', in: 'path' } }),
})

export const InvitationIdParamSchema = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) })

export const ApiKeySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    prefix: z.string().openapi({ example: 'rfy_Ab12Cd34' }),
    scopes: z.array(ScopeSchema),
    team: z.string().nullable(),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable(),
    revokedAt: z.iso.datetime().nullable(),
  })
  .openapi('ApiKey')

// NIST SP 800-63B: at least 8 characters, allow long passphrases; the cap bounds KDF input.
export const PasswordSchema = z.string().min(8).max(256)
export const EmailSchema = z.email().max(254)

export const normalizeEmail = (email: string) => email.trim().toLowerCase()
