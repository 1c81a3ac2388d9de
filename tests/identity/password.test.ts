import { pbkdf2Sync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { fromBase64url } from '../../src/lib/crypto'
import { createPasswordHasher, DEFAULT_PASSWORD_ITERATIONS } from '../../src/identity/password'

const parse = (stored: string) => {
  const [algorithm, iterations, salt, hash] = stored.split('$')
  return { algorithm, iterations: Number(iterations), salt: fromBase64url(salt ?? ''), hash: fromBase64url(hash ?? '') }
}

describe('password hashing', () => {
  it('defaults to 600,000 PBKDF2-HMAC-SHA256 iterations (OWASP) and verifies only the right password', async () => {
    expect(DEFAULT_PASSWORD_ITERATIONS).toBe(600_000)
    const hasher = createPasswordHasher()
    const stored = await hasher.hash('correct horse battery staple')
    const { algorithm, iterations, salt, hash } = parse(stored)
    expect({ algorithm, iterations, saltBytes: salt.length, hashBytes: hash.length }).toEqual({
      algorithm: 'pbkdf2-sha256',
      iterations: 600_000,
      saltBytes: 16,
      hashBytes: 32,
    })
    expect(await hasher.verify('correct horse battery staple', stored)).toBe(true)
    expect(await hasher.verify('correct horse battery stapler', stored)).toBe(false)
  })

  it('is plain PBKDF2 up to 100,000 iterations, and staged PBKDF2 above (workerd caps one call at 100,000)', async () => {
    const plain = parse(await createPasswordHasher(100_000).hash('pw'))
    expect(Buffer.from(plain.hash)).toEqual(pbkdf2Sync('pw', plain.salt, 100_000, 32, 'sha256'))

    const staged = parse(await createPasswordHasher(250_000).hash('pw'))
    let output = Buffer.alloc(0)
    for (const stage of [100_000, 100_000, 50_000]) {
      output = pbkdf2Sync('pw', Buffer.concat([staged.salt, output]), stage, 32, 'sha256')
    }
    expect(Buffer.from(staged.hash)).toEqual(output)
  })

  it('salts every hash and verifies hashes made with another cost', async () => {
    const a = await createPasswordHasher(1000).hash('same')
    const b = await createPasswordHasher(1000).hash('same')
    expect(a).not.toBe(b)
    expect(await createPasswordHasher(5000).verify('same', a)).toBe(true)
  })

  it.each([
    ['another algorithm', 'bcrypt$1000$AAAA$AAAA'],
    ['an absurd iteration count', 'pbkdf2-sha256$999999999$AAAAAAAAAAAAAAAAAAAAAA$AAAA'],
    ['a non-numeric count', 'pbkdf2-sha256$lots$AAAAAAAAAAAAAAAAAAAAAA$AAAA'],
    ['missing parts', 'pbkdf2-sha256$1000'],
  ])('rejects a stored hash with %s without doing the work', async (_label, stored) => {
    expect(await createPasswordHasher(1000).verify('anything', stored)).toBe(false)
  })

  it('refuses to be configured with a nonsensical cost', () => {
    expect(() => createPasswordHasher(0)).toThrow()
    expect(() => createPasswordHasher(1.5)).toThrow()
  })
})
