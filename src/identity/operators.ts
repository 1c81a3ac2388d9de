import { eq } from 'drizzle-orm'
import type { Deps, ServiceContext } from '../lib/context'
import { ApiError } from '../lib/errors'
import { normalizeEmail } from './schemas'
import { type Principal, requireScope } from './principal'
import type { Scope } from './tables'
import { users } from './tables'

/**
 * Platform operators: the accounts whose emails are listed in OPERATOR_EMAILS. They own the
 * base-model registry (and later other platform-wide reviews). The role is the person's, so a
 * key bound to a team never carries it: that key acts only as its team.
 */
export type OperatorContext = ServiceContext & Pick<Deps, 'operators'>

export function isOperatorEmail(operators: readonly string[] | undefined, email: string): boolean {
  const wanted = normalizeEmail(email)
  return operators !== undefined && operators.some((operator) => normalizeEmail(operator) === wanted)
}

/** Whether the caller acts as a platform operator (an unbound token or key of a listed email). */
export async function isOperator(ctx: OperatorContext, principal: Principal | null = ctx.principal): Promise<boolean> {
  if (!principal || principal.teamId || !ctx.operators || ctx.operators.length === 0) return false
  const [user] = await ctx.db.select({ email: users.email }).from(users).where(eq(users.id, principal.userId)).limit(1)
  return user !== undefined && isOperatorEmail(ctx.operators, user.email)
}

/** The caller, checked to hold `scope` and to be a platform operator; 403 `not_operator` otherwise. */
export async function requireOperator(ctx: OperatorContext, scope: Scope = 'admin'): Promise<Principal> {
  const caller = requireScope(ctx.principal, scope)
  if (!(await isOperator(ctx, caller))) {
    throw new ApiError('not_operator', 'Only a platform operator (OPERATOR_EMAILS), with a token or a key not bound to a team, may do this.')
  }
  return caller
}
