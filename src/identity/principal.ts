import { type AnyColumn, type Placeholder, type SQL, sql } from 'drizzle-orm'
import { ApiError } from '../lib/errors'
import type { Scope } from './tables'
import { teamMembers } from './tables'

/**
 * Who is calling: a user through an access token (all scopes) or through an API key.
 *
 * The holder rule, one for every verb: a key bound to a team (`teamId`) acts as that team for
 * every read and write — it reads only that team's things (`actingTeams`, `heldBy`) and writes
 * only as that team (`loadHolder` in ./teams) — never as its user personally nor as the
 * user's other teams. Anyone else acts as the user, who may name one of their teams.
 */
export type Principal = {
  userId: string
  via: 'token' | 'api_key'
  scopes: readonly Scope[]
  apiKeyId?: string
  /** Set for API keys bound to a team: they act only as it. */
  teamId?: string | null
  /**
   * An access token's version (`users.token_version` when signed) that `authenticate` left to
   * the verb to check in its own query (`downloadFile`). Only a verb that asks for it with
   * `requireScope(…, { tokenVersionCheckedBy: 'caller' })` accepts such a principal.
   */
  uncheckedTokenVersion?: number
}

/** Who holds what a write grants or records: a user personally, or a team. */
export type Holder = { kind: 'user'; userId: string } | { kind: 'team'; teamId: string }

/** A principal as SQL sees it; either field may be a prepared-statement placeholder. */
export type Acting = { userId: string | Placeholder; teamId: string | null | Placeholder }

export const actingOf = (principal: Principal): { userId: string; teamId: string | null } => ({
  userId: principal.userId,
  teamId: principal.teamId ?? null,
})

/**
 * The teams the principal acts within, as a subquery: all of its user's teams, or only a bound
 * key's team (and only while its user still belongs to it).
 */
export function actingTeams(who: Acting): SQL {
  const members = sql`select ${teamMembers.teamId} from ${teamMembers} where ${teamMembers.userId} = ${who.userId}`
  if (who.teamId === null) return sql`(${members})`
  if (typeof who.teamId === 'string') return sql`(${members} and ${teamMembers.teamId} = ${who.teamId})`
  return sql`(${members} and (${who.teamId}::uuid is null or ${teamMembers.teamId} = ${who.teamId}))`
}

/**
 * Rows held by the principal, for a table holding things by user or by team: the user's own
 * and their teams' for an unbound principal; only the bound team's for a team-bound key.
 */
export function heldByPrincipal(who: Acting, columns: { user: AnyColumn; team: AnyColumn }): SQL {
  const byTeam = sql`${columns.team} in ${actingTeams(who)}`
  if (who.teamId === null) return sql`(${columns.user} = ${who.userId} or ${byTeam})`
  if (typeof who.teamId === 'string') return byTeam
  return sql`((${who.teamId}::uuid is null and ${columns.user} = ${who.userId}) or ${byTeam})`
}

export function requirePrincipal(principal: Principal | null): Principal {
  if (!principal) {
    throw new ApiError('unauthorized', 'Send an access token or API key in the Authorization header.', {
      headers: { 'WWW-Authenticate': 'Bearer realm="refinery"' },
    })
  }
  return principal
}

/** The caller, checked to hold `scope`. Scope is checked before anything else is read. */
export function requireScope(principal: Principal | null, scope: Scope, options: { tokenVersionCheckedBy?: 'caller' } = {}): Principal {
  const caller = requirePrincipal(principal)
  // Fails closed: a route that deferred the check must reach a verb that makes it.
  if (caller.uncheckedTokenVersion !== undefined && options.tokenVersionCheckedBy !== 'caller') {
    throw new Error('this verb does not check the access token version that authenticate left to it')
  }
  if (!caller.scopes.includes(scope) && !caller.scopes.includes('admin')) {
    throw new ApiError('insufficient_scope', `This API key lacks the '${scope}' scope.`, {
      extra: { requiredScope: scope },
    })
  }
  return caller
}

/** A team-bound API key may not act for another team. */
export function assertKeyMayActFor(principal: Principal, teamId: string): void {
  if (principal.teamId && principal.teamId !== teamId) {
    throw new ApiError('key_team_mismatch', 'This API key is bound to another team.')
  }
}
