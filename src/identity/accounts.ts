import { eq } from 'drizzle-orm'
import type { Deps, ServiceContext } from '../lib/context'
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

export const normalizeEmail = (email: string) => email.trim().toLowerCase()

type AccountDeps = Pick<Deps, 'db' | 'passwords' | 'tokens'>
type LoginDeps = AccountDeps & Pick<Deps, 'loginLimiter'>

export async function signup(deps: AccountDeps, input: { email: string; password: string; name: string }) {
  const passwordHash = await deps.passwords.hash(input.password)
  let user: typeof users.$inferSelect | undefined
  try {
    ;[user] = await deps.db
      .insert(users)
      .values({ email: normalizeEmail(input.email), name: input.name.trim(), passwordHash })
      .returning()
  } catch (error) {
    if (uniqueViolation(error) !== undefined) {
      throw new ApiError(409, 'email_taken', 'An account with this email already exists.')
    }
    throw error
  }
  if (!user) throw new Error('insert returned no user')
  const { token, expiresAt } = await deps.tokens.sign(user.id)
  return { user: toUserView(user), token, expiresAt: expiresAt.toISOString() }
}

export async function login(deps: LoginDeps, input: { email: string; password: string }) {
  const email = normalizeEmail(input.email)
  // Counted per account before any work: guessing one account's password stays slow however
  // many addresses the guesses come from (its owner may wait out the window too).
  await enforceRateLimit(deps.loginLimiter, `login:${email}`, 'sign-in attempts for this account')
  const [user] = await deps.db.select().from(users).where(eq(users.email, email)).limit(1)
  // An unknown email costs one hash too, so timing does not tell which emails have accounts.
  const valid = user ? await deps.passwords.verify(input.password, user.passwordHash) : !(await deps.passwords.hash(input.password))
  if (!user || !valid) throw new ApiError(401, 'invalid_credentials', 'The email or password is wrong.')
  const { token, expiresAt } = await deps.tokens.sign(user.id)
  return { token, expiresAt: expiresAt.toISOString() }
}

export async function getMe(ctx: ServiceContext & Pick<Deps, 'operators'>) {
  const caller = requireScope(ctx.principal, 'read')
  const [user] = await ctx.db.select().from(users).where(eq(users.id, caller.userId)).limit(1)
  if (!user) throw notFound('The user')
  const memberships = await ctx.db
    .select({ slug: teams.slug, name: teams.name, role: teamMembers.role })
    .from(teamMembers)
    .innerJoin(teams, eq(teams.id, teamMembers.teamId))
    .where(eq(teamMembers.userId, caller.userId))
    .orderBy(teams.slug)
  return {
    user: toUserView(user),
    teams: memberships,
    // The operator role is the person's; a key bound to a team does not carry it.
    operator: !caller.teamId && isOperatorEmail(ctx.operators, user.email),
    auth: { via: caller.via, scopes: [...caller.scopes], apiKeyId: caller.apiKeyId ?? null },
  }
}
