import { createRoute, z } from '@hono/zod-openapi'
import { clientAddressOf, serviceContext } from '../../lib/context'
import { bearer, createRouter, json, jsonBody, noCredential, problems } from '../../lib/openapi'
import { getMe, login, signup } from '../accounts'
import { logout } from '../sessions'
import { EmailSchema, PasswordSchema, RoleSchema, ScopeSchema, UserSchema } from '../schemas'

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
