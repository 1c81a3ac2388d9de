import { SignJWT, errors as joseErrors, jwtVerify } from 'jose'
import { ApiError } from '../lib/errors'
import { LOCAL_STORAGE_PATH } from './types'

/**
 * The URLs of stores the app serves itself (the local folder on Node, R2 through its binding on
 * Workers): a short-lived HS256 token in the path names the operation, the object and what the
 * bytes must be. One protocol for both stores; the routes are in routes.ts.
 */

/** A whole file: its size and sha256 are checked before it becomes visible. */
export type PutClaims = { op: 'put'; key: string; size: number; sha256: string }
/** One part of a multipart upload (R2): its size is checked, and its sha256 when the uploader sends one. */
export type PartClaims = { op: 'part'; key: string; uploadId: string; partNumber: number; size: number }
/** A download, with the name the attachment gets. */
export type GetClaims = { op: 'get'; key: string; filename?: string; headers?: Record<string, string> }
export type UploadClaims = PutClaims | PartClaims

const nounOf = (op: string) => (op === 'get' ? ('download' as const) : ('upload' as const))

/** What the stores that sign URLs share: where the app is reachable, the key, and the clock. */
export type UrlSignerConfig = {
  /** Where the app is reachable; signed URLs point at its /v1/storage/local routes. */
  publicUrl: string
  /** HS256 key for the signed URLs. */
  secret: Uint8Array
  /** The time URLs are signed and checked at (default: the system clock; tests move it). */
  clock?: () => Date
}

export function createUrlSigner(config: UrlSignerConfig) {
  const clock = config.clock ?? (() => new Date())
  async function sign(claims: Record<string, unknown>, expiresInSeconds: number, subject?: string) {
    const now = Math.floor(clock().getTime() / 1000)
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now).setExpirationTime(now + expiresInSeconds)
    if (subject) jwt.setSubject(subject)
    return jwt.sign(config.secret)
  }

  /** The token's claims when it is valid and for one of `ops`; a 403 naming why otherwise. */
  async function verify<T extends { op: string }>(token: string, ops: T['op'][]): Promise<T> {
    const noun = nounOf(ops[0] ?? 'get')
    try {
      const { payload } = await jwtVerify(token, config.secret, { algorithms: ['HS256'], currentDate: clock() })
      if (!ops.includes(payload.op as string) || typeof payload.key !== 'string') throw new ApiError(`invalid_${noun}_token`, `This URL is not a ${noun} URL.`)
      return payload as unknown as T
    } catch (error) {
      if (error instanceof ApiError) throw error
      if (error instanceof joseErrors.JWTExpired && ops.includes(error.payload.op as string)) {
        throw new ApiError(`${noun}_url_expired`, `This ${noun} URL has expired; ask the API for a new one.`)
      }
      throw new ApiError(`invalid_${noun}_token`, `This ${noun} URL is not valid.`)
    }
  }

  return {
    sign,
    verify,
    urlFor: (token: string) => `${config.publicUrl}${LOCAL_STORAGE_PATH}/${token}`,
    /** When a URL signed now for `seconds` expires, as the API reports it. */
    expiresAt: (seconds: number) => new Date(clock().getTime() + seconds * 1000).toISOString(),
  }
}

export const storageUnavailable = () =>
  new ApiError('storage_unavailable', 'Object storage is unavailable right now; try again shortly.', { headers: { 'Retry-After': '5' } })

export const sizeMismatch = (declared: number, received: number) =>
  new ApiError('size_mismatch', `The upload has ${received > declared ? `more than ${declared}` : received} bytes; the version declared ${declared}.`, {
    extra: { declared, received },
  })

export const checksumMismatch = (expected: string, actual: string) =>
  new ApiError('checksum_mismatch', 'The uploaded bytes do not match the declared sha256.', { extra: { expected, actual } })
