import { base64url, fromBase64url, randomBytes, timingSafeEqual } from '../lib/crypto'

/**
 * PBKDF2-HMAC-SHA256 through Web Crypto, so the same code runs in workerd.
 * OWASP's Password Storage Cheat Sheet asks for 600,000 iterations of PBKDF2-HMAC-SHA256.
 * workerd refuses a single deriveBits above 100,000 iterations, so the work is done in
 * stages of at most 100,000: each stage is standard PBKDF2 keyed by the password, salted
 * with the salt plus the previous stage's output. The attacker's cost per guess stays the
 * full iteration count, and up to 100,000 iterations the result is plain PBKDF2.
 */
export const DEFAULT_PASSWORD_ITERATIONS = 600_000
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
  hash(password: string): Promise<string>
  verify(password: string, stored: string): Promise<boolean>
}

export function createPasswordHasher(iterations = DEFAULT_PASSWORD_ITERATIONS): PasswordHasher {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new Error(`password iterations must be an integer between 1 and ${MAX_ITERATIONS}`)
  }
  return {
    async hash(password) {
      const salt = randomBytes(SALT_BYTES)
      const hash = await derive(password, salt, iterations)
      return `${ALGORITHM}$${iterations}$${base64url(salt)}$${base64url(hash)}`
    },
    async verify(password, stored) {
      const [algorithm, iterationText, saltText, hashText] = stored.split('$')
      const storedIterations = Number(iterationText)
      if (algorithm !== ALGORITHM || !saltText || !hashText) return false
      if (!Number.isInteger(storedIterations) || storedIterations < 1 || storedIterations > MAX_ITERATIONS) return false
      const actual = await derive(password, fromBase64url(saltText), storedIterations)
      return timingSafeEqual(actual, fromBase64url(hashText))
    },
  }
}
