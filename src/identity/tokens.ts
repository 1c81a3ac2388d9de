import { errors, jwtVerify, SignJWT } from 'jose'
import { ApiError } from '../lib/errors'

const ISSUER = 'refinery'
const AUDIENCE = 'refinery-api'
export const ACCESS_TOKEN_TTL_SECONDS = 3600

export type TokenSigner = {
  sign(userId: string): Promise<{ token: string; expiresAt: Date }>
  /** Returns the user id, or throws a 401 ApiError. */
  verify(token: string): Promise<string>
}

/** HS256 access tokens. `clock` is injected so expiry can be tested without waiting. */
export function createTokenSigner(secret: string, clock: () => Date = () => new Date()): TokenSigner {
  if (secret.length < 32) throw new Error('the token signing secret must be at least 32 characters')
  const key = new TextEncoder().encode(secret)
  return {
    async sign(userId) {
      const issuedAt = Math.floor(clock().getTime() / 1000)
      const expiresAt = issuedAt + ACCESS_TOKEN_TTL_SECONDS
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(key)
      return { token, expiresAt: new Date(expiresAt * 1000) }
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          currentDate: clock(),
          requiredClaims: ['sub', 'exp'],
        })
        if (!payload.sub) throw new ApiError(401, 'invalid_token', 'The access token has no subject.')
        return payload.sub
      } catch (error) {
        if (error instanceof ApiError) throw error
        if (error instanceof errors.JWTExpired) {
          throw new ApiError(401, 'token_expired', 'The access token has expired; log in again.')
        }
        throw new ApiError(401, 'invalid_token', 'The access token is not valid.')
      }
    },
  }
}
