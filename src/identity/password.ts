import { createConcurrencyLimit, type ConcurrencyLimit } from '../lib/concurrency'
import { base64url, fromBase64url, randomBytes, timingSafeEqual } from '../lib/crypto'
import { ApiError } from '../lib/errors'

/**
 * PBKDF2-HMAC-SHA256 through Web Crypto, so the same code runs in workerd.
 * OWASP's Password Storage Cheat Sheet asks for 600,000 iterations of PBKDF2-HMAC-SHA256.
 * workerd refuses a single deriveBits above 100,000 iterations, so the work is done in
 * stages of at most 100,000: each stage is standard PBKDF2 keyed by the password, salted
 * with the salt plus the previous stage's output. The attacker's cost per guess stays the
 * full iteration count, and up to 100,000 iterations the result is plain PBKDF2.
 *
 * On Node, Web Crypto's PBKDF2 runs on libuv's thread pool (4 threads by default), which file
 * reads share: unbounded, a flood of sign-ins stalls downloads from the local store. So at most
 * `concurrency` hashes run at once, at most `maxWaiting` wait, and beyond that the request is
 * answered 503 `server_busy` with `Retry-After` (the server is saturated; the caller did nothing
 * wrong, so not 429).
 */
export const DEFAULT_PASSWORD_ITERATIONS = 600_000
export const DEFAULT_HASH_CONCURRENCY = 2
export const DEFAULT_HASH_QUEUE = 20
const STAGE_ITERATIONS = 100_000
// Stored hashes are parsed on login: a forged row must not buy unbounded work.
const MAX_ITERATIONS = 10_000_000
const SALT_BYTES = 16
const HASH_BITS = 256
const ALGORITHM = 'pbkdf2-sha256'

const encoder = new TextEncoder()

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(password), 'PBKDF2', false, ['deriveBits'])
  let output = new Uint8Array(0)
  for (let remaining = iterations; remaining > 0; remaining -= STAGE_ITERATIONS) {
    const stageSalt = new Uint8Array(salt.length + output.length)
    stageSalt.set(salt)
    stageSalt.set(output, salt.length)
    const bits = await crypto.subtle.deriveBits(
      { name: 'PBKDF2', hash: 'SHA-256', salt: stageSalt, iterations: Math.min(remaining, STAGE_ITERATIONS) },
      key,
      HASH_BITS,
    )
    output = new Uint8Array(bits)
  }
  return output
}

export type PasswordHasher = {
  /** The iteration count new hashes get. */
  readonly iterations: number
  hash(password: string): Promise<string>
  /**
   * Whether `password` matches `stored`. A wrong password against a hash made at a lower cost
   * is padded to the current cost, so the answer takes as long as for an unknown account.
   */
  verify(password: string, stored: string): Promise<boolean>
  /** True when `stored` was made at another cost than the current one: hash again after a successful login. */
  needsRehash(stored: string): boolean
  /** Hashes running and waiting, and PBKDF2 iterations computed so far (the work done). */
  stats(): ReturnType<ConcurrencyLimit['stats']> & { iterationsComputed: number }
}

export const serverBusy = () =>
  new ApiError('server_busy', 'Too many sign-ins are being checked right now; try again in a moment.', {
    headers: { 'Retry-After': '1' },
  })

function parseStored(stored: string) {
  const [algorithm, iterationText, saltText, hashText] = stored.split('$')
  const iterations = Number(iterationText)
  if (algorithm !== ALGORITHM || !saltText || !hashText) return undefined
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) return undefined
  return { iterations, salt: fromBase64url(saltText), hash: fromBase64url(hashText) }
}

export function createPasswordHasher(
  iterations = DEFAULT_PASSWORD_ITERATIONS,
  options: { concurrency?: number; maxWaiting?: number; limit?: ConcurrencyLimit } = {},
): PasswordHasher {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new Error(`password iterations must be an integer between 1 and ${MAX_ITERATIONS}`)
  }
  const limit =
    options.limit ??
    createConcurrencyLimit({
      concurrency: options.concurrency ?? DEFAULT_HASH_CONCURRENCY,
      maxWaiting: options.maxWaiting ?? DEFAULT_HASH_QUEUE,
      onFull: serverBusy,
    })
  let iterationsComputed = 0
  const work = async (password: string, salt: Uint8Array, count: number) => {
    const output = await derive(password, salt, count)
    iterationsComputed += count
    return output
  }
  return {
    iterations,
    hash: (password) =>
      limit.run(async () => {
        const salt = randomBytes(SALT_BYTES)
        const hash = await work(password, salt, iterations)
        return `${ALGORITHM}$${iterations}$${base64url(salt)}$${base64url(hash)}`
      }),
    async verify(password, stored) {
      const parsed = parseStored(stored)
      if (!parsed) return false
      return limit.run(async () => {
        const actual = await work(password, parsed.salt, parsed.iterations)
        const valid = timingSafeEqual(actual, parsed.hash)
        if (!valid && parsed.iterations < iterations) await work(password, actual, iterations - parsed.iterations)
        return valid
      })
    },
    needsRehash(stored) {
      const parsed = parseStored(stored)
      return !parsed || parsed.iterations !== iterations
    },
    stats: () => ({ ...limit.stats(), iterationsComputed }),
  }
}
