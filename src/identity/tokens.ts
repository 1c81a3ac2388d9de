import { errors, jwtVerify, SignJWT } from 'jose'
import { ApiError } from '../lib/errors'

const ISSUER = 'refinery'
const AUDIENCE = 'refinery-api'
export const ACCESS_TOKEN_TTL_SECONDS = 3600

export type TokenSigner = {
  /** `version` is the user's token version (`users.token_version`) when signed: logout bumps it. */
  sign(userId: string, version?: number): Promise<{ token: string; expiresAt: Date }>
  /** Returns the user id and the token version it was signed at, or throws a 401 ApiError. */
  verify(token: string): Promise<{ userId: string; version: number }>
}

/** How many verified tokens each signer remembers (oldest forgotten first); about 3 MB. */
const VERIFIED_TOKENS_KEPT = 10_000

const expired = () => new ApiError('token_expired', 'The access token has expired; log in again.')

/** HS256 access tokens. `clock` is injected so expiry can be tested without waiting. */
export function createTokenSigner(secret: string, clock: () => Date = () => new Date()): TokenSigner {
  if (secret.length < 32) throw new Error('the token signing secret must be at least 32 characters')
  // Tokens whose signature and claims already verified, by their exact text (which includes the
  // signature): a client sends the same one for an hour, and the HMAC check through Web Crypto
  // was a sixth of a download's CPU. Expiry is still checked on every use.
  const verified = new Map<string, { sub: string; exp: number; ver: number }>()
  // Imported once: given raw bytes, jose would import a CryptoKey on every sign and verify.
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
  return {
    async sign(userId, version = 0) {
      const issuedAt = Math.floor(clock().getTime() / 1000)
      const expiresAt = issuedAt + ACCESS_TOKEN_TTL_SECONDS
      const token = await new SignJWT({ ver: version })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(await key)
      return { token, expiresAt: new Date(expiresAt * 1000) }
    },
    async verify(token) {
      const known = verified.get(token)
      if (known) {
        // As jose decides it: expired once `exp` is not after the current second.
        if (known.exp <= Math.floor(clock().getTime() / 1000)) throw expired()
        return { userId: known.sub, version: known.ver }
      }
      try {
        const { payload } = await jwtVerify(token, await key, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          currentDate: clock(),
          requiredClaims: ['sub', 'exp'],
        })
        if (!payload.sub) throw new ApiError('invalid_token', 'The access token has no subject.')
        // Tokens signed before versions existed carry none: version 0, valid until the first logout.
        const ver = payload.ver ?? 0
        if (typeof ver !== 'number' || !Number.isSafeInteger(ver)) throw new ApiError('invalid_token', 'The access token is not valid.')
        if (verified.size >= VERIFIED_TOKENS_KEPT) verified.delete(verified.keys().next().value!)
        verified.set(token, { sub: payload.sub, exp: payload.exp!, ver })
        return { userId: payload.sub, version: ver }
      } catch (error) {
        if (error instanceof ApiError) throw error
        if (error instanceof errors.JWTExpired) throw expired()
        throw new ApiError('invalid_token', 'The access token is not valid.')
      }
    },
  }
}
