import { z } from '@hono/zod-openapi'
import { apiKeyScopes, teamRoles } from './tables'

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
