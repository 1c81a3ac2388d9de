import { normalizeEmail } from './schemas'
import { and, eq } from 'drizzle-orm'
import type { Deps, ServiceContext } from '../lib/context'
import { addressKey } from '../lib/client-address'
import { ApiError, notFound } from '../lib/errors'
import { enforceRateLimit } from '../lib/rate-limit'
import { uniqueViolation } from '../db/types'
import { isOperatorEmail } from './operators'
import { requireScope } from './principal'
import { teamMembers, teams, users } from './tables'

export type UserView = { id: string; email: string; name: string; createdAt: string }

export const toUserView = (user: typeof users.$inferSelect): UserView => ({
  id: user.id,
  email: user.email,
  name: user.name,
  createdAt: user.createdAt.toISOString(),
})

type AccountDeps = Pick<Deps, 'db' | 'passwords' | 'tokens'>
type SignupDeps = AccountDeps & Pick<Deps, 'signupAddressLimiter' | 'signupGlobalLimiter'>
type LoginDeps = AccountDeps & Pick<Deps, 'loginLimiter' | 'loginAddressLimiter' | 'loginGlobalLimiter'>
/** Where the request came from (`clientAddressOf(c)`); undefined when the platform cannot tell. */
export type RequestOrigin = { address: string | undefined }

export async function signup(deps: SignupDeps, input: { email: string; password: string; name: string }, origin: RequestOrigin) {
  // Before the hash: a flood of sign-ups costs neither hashing time nor rows.
  await enforceRateLimit(deps.signupAddressLimiter, `signup:${addressKey(origin.address)}`, 'sign-ups from this address')
  await enforceRateLimit(deps.signupGlobalLimiter, 'signup', 'sign-ups right now')
  const passwordHash = await deps.passwords.hash(input.password)
  let user: typeof users.$inferSelect | undefined
  try {
    ;[user] = await deps.db
      .insert(users)
      .values({ email: normalizeEmail(input.email), name: input.name.trim(), passwordHash })
      .returning()
  } catch (error) {
    if (uniqueViolation(error) !== undefined) {
      throw new ApiError('email_taken', 'An account with this email already exists.')
    }
    throw error
  }
  if (!user) throw new Error('insert returned no user')
  const { token, expiresAt } = await deps.tokens.sign(user.id, user.tokenVersion)
  return { user: toUserView(user), token, expiresAt: expiresAt.toISOString() }
}

export async function login(deps: LoginDeps, input: { email: string; password: string }, origin: RequestOrigin) {
  const email = normalizeEmail(input.email)
  // All counted before any work. Per address: one address cannot guess across many accounts.
  // Per account: guessing one account's password stays slow however many addresses the guesses
  // come from (its owner may wait out the window too). Globally: a cap on the hashing work.
  await enforceRateLimit(deps.loginAddressLimiter, `login:${addressKey(origin.address)}`, 'sign-in attempts from this address')
  await enforceRateLimit(deps.loginLimiter, `login:${email}`, 'sign-in attempts for this account')
  await enforceRateLimit(deps.loginGlobalLimiter, 'login', 'sign-in attempts right now')
  const [user] = await deps.db.select().from(users).where(eq(users.email, email)).limit(1)
  // An unknown email costs one hash at the current cost, as does a wrong password for any
  // account (verify pads older, cheaper hashes), so timing does not tell which emails have accounts.
  const valid = user ? await deps.passwords.verify(input.password, user.passwordHash) : !(await deps.passwords.hash(input.password))
  if (!user || !valid) throw new ApiError('invalid_credentials', 'The email or password is wrong.')
  if (deps.passwords.needsRehash(user.passwordHash)) await upgradePasswordHash(deps, user, input.password)
  const { token, expiresAt } = await deps.tokens.sign(user.id, user.tokenVersion)
  return { token, expiresAt: expiresAt.toISOString() }
}

/**
 * PASSWORD_ITERATIONS changed since this hash was made: store one at the current cost, unless
 * the password changed meanwhile. When the hasher is saturated the sign-in still succeeds and
 * the upgrade waits for the next one.
 */
async function upgradePasswordHash(deps: LoginDeps, user: typeof users.$inferSelect, password: string) {
  let passwordHash: string
  try {
    passwordHash = await deps.passwords.hash(password)
  } catch (error) {
    if (error instanceof ApiError && error.code === 'server_busy') return
    throw error
  }
  await deps.db
    .update(users)
    .set({ passwordHash })
    .where(and(eq(users.id, user.id), eq(users.passwordHash, user.passwordHash)))
}

export async function getMe(ctx: ServiceContext & Pick<Deps, 'operators'>) {
  const caller = requireScope(ctx.principal, 'read')
  const [user] = await ctx.db.select().from(users).where(eq(users.id, caller.userId)).limit(1)
  if (!user) throw notFound('The user')
  // A team-bound key sees only its team: the user's other teams are none of its business.
  const memberships = await ctx.db
    .select({ id: teams.id, slug: teams.slug, name: teams.name, role: teamMembers.role })
    .from(teamMembers)
    .innerJoin(teams, eq(teams.id, teamMembers.teamId))
    .where(and(eq(teamMembers.userId, caller.userId), caller.teamId ? eq(teamMembers.teamId, caller.teamId) : undefined))
    .orderBy(teams.slug)
  const actingAs = caller.teamId ? (memberships.find((team) => team.id === caller.teamId)?.slug ?? null) : null
  return {
    user: toUserView(user),
    teams: memberships.map(({ slug, name, role }) => ({ slug, name, role })),
    // The operator role is the person's; a key bound to a team does not carry it.
    operator: !caller.teamId && isOperatorEmail(ctx.operators, user.email),
    auth: { via: caller.via, scopes: [...caller.scopes], apiKeyId: caller.apiKeyId ?? null, team: actingAs },
  }
}
