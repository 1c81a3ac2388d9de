import { ApiError } from '../lib/errors'
import type { Scope } from './tables'

/** Who is calling: a user through an access token (all scopes) or through an API key. */
export type Principal = {
  userId: string
  via: 'token' | 'api_key'
  scopes: readonly Scope[]
  apiKeyId?: string
  /** Set for API keys bound to a team: they may act only for it. */
  teamId?: string | null
}

export function requirePrincipal(principal: Principal | null): Principal {
  if (!principal) {
    throw new ApiError(401, 'unauthorized', 'Send an access token or API key in the Authorization header.', {
      headers: { 'WWW-Authenticate': 'Bearer realm="refinery"' },
    })
  }
  return principal
}

/** The caller, checked to hold `scope`. Scope is checked before anything else is read. */
export function requireScope(principal: Principal | null, scope: Scope): Principal {
  const caller = requirePrincipal(principal)
  if (!caller.scopes.includes(scope) && !caller.scopes.includes('admin')) {
    throw new ApiError(403, 'insufficient_scope', `This API key lacks the '${scope}' scope.`, {
      extra: { requiredScope: scope },
    })
  }
  return caller
}

/** A team-bound API key may not act for another team. */
export function assertKeyMayActFor(principal: Principal, teamId: string): void {
  if (principal.teamId && principal.teamId !== teamId) {
    throw new ApiError(403, 'key_team_mismatch', 'This API key is bound to another team.')
  }
}
