import { pbkdf2Sync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { fromBase64url } from '../../src/lib/crypto'
import { createConcurrencyLimit } from '../../src/lib/concurrency'
import { ApiError } from '../../src/lib/errors'
import { createPasswordHasher, DEFAULT_PASSWORD_ITERATIONS, serverBusy } from '../../src/identity/password'

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

  it('pads a wrong password against a cheaper stored hash to the current cost, and says when to rehash', async () => {
    const old = await createPasswordHasher(1000).hash('the password')
    const current = createPasswordHasher(3000)
    const atCurrent = await current.hash('the password')
    expect(current.needsRehash(old)).toBe(true)
    expect(current.needsRehash(atCurrent)).toBe(false)

    const work = async (task: () => Promise<unknown>) => {
      const before = current.stats().iterationsComputed
      await task()
      return current.stats().iterationsComputed - before
    }
    // A wrong guess costs the current count whatever the account's hash: unknown emails (one
    // hash) cannot be told from known ones.
    expect(await work(() => current.hash('unknown account'))).toBe(3000)
    expect(await work(() => current.verify('wrong', atCurrent))).toBe(3000)
    expect(await work(() => current.verify('wrong', old))).toBe(3000)
    // The right password against the old hash is checked at the old count (then rehashed by login).
    expect(await work(async () => expect(await current.verify('the password', old)).toBe(true))).toBe(1000)
  })

  it('runs at most `concurrency` hashes at once and queues the rest', async () => {
    const hasher = createPasswordHasher(2000, { concurrency: 2, maxWaiting: 10 })
    const stored = await hasher.hash('pw')
    const running = Array.from({ length: 8 }, (_, i) => (i % 2 ? hasher.hash(`pw ${i}`) : hasher.verify('pw', stored)))
    expect(hasher.stats()).toMatchObject({ active: 2, waiting: 6 })
    const results = await Promise.all(running)
    expect(results.filter((result) => result === true)).toHaveLength(4)
    expect(hasher.stats()).toMatchObject({ active: 0, waiting: 0, peakActive: 2, rejected: 0, iterationsComputed: 9 * 2000 })
  })

  it('turns work away with 503 server_busy and Retry-After once its queue is full, and recovers', async () => {
    let open = () => {}
    const gate = new Promise<void>((resolve) => (open = resolve))
    const limit = createConcurrencyLimit({ concurrency: 1, maxWaiting: 1, onFull: serverBusy })
    const hasher = createPasswordHasher(1000, { limit })
    const holder = limit.run(() => gate)
    const queued = hasher.hash('waits its turn')
    const refused = await hasher.hash('one too many').catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(ApiError)
    expect(refused).toMatchObject({ status: 503, code: 'server_busy', headers: { 'Retry-After': '1' } })
    expect(hasher.stats()).toMatchObject({ active: 1, waiting: 1, rejected: 1, iterationsComputed: 0 })
    open()
    await holder
    expect(await queued).toMatch(/^pbkdf2-sha256\$1000\$/)
    expect(await hasher.verify('again', await hasher.hash('again'))).toBe(true)
  })
})
