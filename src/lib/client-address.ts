/**
 * Where a request came from, as a rate-limit key. IPv6 is keyed by its /64 prefix: one
 * subscriber usually holds a whole /64, so per-address limits would otherwise not bind.
 * IPv4-mapped IPv6 (`::ffff:203.0.113.7`, as Node reports IPv4 on a dual-stack socket) is the
 * IPv4 address.
 */
export function addressKey(address: string | undefined): string {
  const value = address?.trim().toLowerCase().replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  if (!value) return 'unknown'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(value)
  if (mapped?.[1]) return mapped[1]
  if (!value.includes(':')) return value.slice(0, 64)
  const [head = '', tail] = value.split('::', 2)
  const headGroups = head ? head.split(':') : []
  const tailGroups = tail ? tail.split(':') : []
  const missing = Math.max(0, 8 - headGroups.length - tailGroups.length)
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups]
  if (groups.length !== 8 || groups.some((group) => !/^[0-9a-f]{1,4}$/.test(group))) return value.slice(0, 64)
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/**
 * The client address a chain of `trustedProxies` reverse proxies reports in X-Forwarded-For:
 * each appends the address it received the request from, so the client is the entry that many
 * places from the right. Entries left of it are whatever the client sent. With fewer entries
 * than proxies the request did not pass through them all: undefined (use the socket's address).
 */
export function forwardedClient(header: string | undefined, trustedProxies: number): string | undefined {
  if (!header || trustedProxies < 1) return undefined
  const entries = header.split(',').map((entry) => entry.trim())
  const entry = entries[entries.length - trustedProxies]
  return entries.length >= trustedProxies && entry ? entry : undefined
}
