import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addressKey, forwardedClient } from '../../src/lib/client-address'
import { startTestServer } from '../helpers/server'

describe('client addresses as rate-limit keys', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['[2001:DB8::1]', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    [undefined, 'unknown'],
    ['', 'unknown'],
  ])('keys %s as %s', (address, key) => {
    expect(addressKey(address)).toBe(key)
  })

  it.each([
    ['one proxy: its own entry, whatever the client wrote before it', '6.6.6.6, 198.51.100.1', 1, '198.51.100.1'],
    ['two proxies', '6.6.6.6, 198.51.100.1, 10.0.0.2', 2, '198.51.100.1'],
    ['fewer entries than proxies: not through them all', '198.51.100.1', 2, undefined],
    ['no proxies trusted', '198.51.100.1', 0, undefined],
    ['no header', undefined, 1, undefined],
  ])('X-Forwarded-For, %s', (_label, header, proxies, client) => {
    expect(forwardedClient(header, proxies)).toBe(client)
  })
})

// The real Node server: the address is the socket's, X-Forwarded-For only counts from configured proxies.
describe.each([
  ['without TRUST_PROXY, X-Forwarded-For is ignored: every request is the loopback socket', '0'],
  ['with TRUST_PROXY=1, the entry the proxy appended is the address', '1'],
])('the Node server %s', (_label, trustProxy) => {
  let server: Awaited<ReturnType<typeof startTestServer>>
  beforeAll(async () => {
    server = await startTestServer({ storage: 'local', env: { TRUST_PROXY: trustProxy, LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE: '2', SIGNUPS_PER_ADDRESS_PER_HOUR: '1' } })
  })
  afterAll(() => server.close())

  const post = (path: string, forwardedFor: string, body: unknown) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': forwardedFor }, body: JSON.stringify(body) })
  const login = (forwardedFor: string) => post('/v1/login', forwardedFor, { email: `nobody-${crypto.randomUUID()}@example.test`, password: 'a guess' })
  const signup = (forwardedFor: string) =>
    post('/v1/signup', forwardedFor, { email: `someone-${crypto.randomUUID()}@example.test`, password: 'long enough password', name: 'Someone' })

  it('counts login attempts and sign-ups per address', async () => {
    const trusted = trustProxy === '1'
    expect((await login('6.6.6.6, 198.51.100.1')).status).toBe(401)
    expect((await login('7.7.7.7, 198.51.100.1')).status).toBe(401)
    // A third attempt from the same proxy-reported address, with a new spoofed entry on the left.
    const third = await login('8.8.8.8, 198.51.100.1')
    expect(third.status).toBe(429)
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0)
    // A different last entry: another client behind the proxy, or just another header from the same socket.
    expect((await login('198.51.100.2')).status).toBe(trusted ? 401 : 429)

    expect((await signup('198.51.100.3')).status).toBe(201)
    const second = await signup('198.51.100.4')
    expect(second.status).toBe(trusted ? 201 : 429)
    if (!trusted) expect((await second.json()).code).toBe('rate_limited')
  })
})
