import { eq } from 'drizzle-orm'
import { sha256Hex } from '../lib/crypto'
import { ApiError } from '../lib/errors'
import type { Deps } from '../lib/context'
import type { Principal } from './principal'
import { API_KEY_PREFIX } from './api-keys'
import { assertTokenCurrent } from './sessions'
import { apiKeys } from './tables'

// last_used_at is informational: refresh it at most once a minute per key, not on every call.
const LAST_USED_RESOLUTION_MS = 60_000

/**
 * Resolves an Authorization header to a principal; no header means anonymous (null). With
 * `tokenVersion: 'left-to-verb'` an access token's version is not read here: the principal
 * carries it (`uncheckedTokenVersion`) for a verb that checks it in its own query.
 */
export async function authenticate(deps: Deps, header: string | undefined, options: { tokenVersion?: 'left-to-verb' } = {}): Promise<Principal | null> {
  if (header === undefined) return null
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (!match?.[1]) {
    throw new ApiError('invalid_authorization', 'Use "Authorization: Bearer <access token or API key>".')
  }
  const credential = match[1]
  if (!credential.startsWith(API_KEY_PREFIX)) {
    const { userId, version } = await deps.tokens.verify(credential)
    const scopes: Principal['scopes'] = ['read', 'publish', 'purchase', 'admin']
    if (options.tokenVersion === 'left-to-verb') return { userId, via: 'token', scopes, uncheckedTokenVersion: version }
    await assertTokenCurrent(deps, userId, version)
    return { userId, via: 'token', scopes }
  }

  const [key] = await deps.db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.keyHash, await sha256Hex(credential)))
    .limit(1)
  if (!key) throw new ApiError('invalid_api_key', 'The API key is not valid.')
  if (key.revokedAt) throw new ApiError('api_key_revoked', 'The API key has been revoked.')

  const now = deps.clock()
  if (!key.lastUsedAt || now.getTime() - key.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
    await deps.db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, key.id))
  }
  return { userId: key.userId, via: 'api_key', scopes: key.scopes, apiKeyId: key.id, teamId: key.teamId }
}
