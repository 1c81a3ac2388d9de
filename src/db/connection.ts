/**
 * How the app talks to Postgres (postgres.js, on Node and through Hyperdrive on Workers) and
 * what an outage of it looks like, so a request that meets one answers 503, not 500.
 */

/** Seconds a new connection may take (TCP, startup, auth) before its query fails. */
export const CONNECT_TIMEOUT_SECONDS = 10

/**
 * postgres.js options shared by every entry. Its default reconnect backoff grows to 20 s per
 * attempt, and queued queries wait through every attempt of their connection: under load
 * during an outage a request waited a minute to fail, and a minute more after the database
 * was back. A short cap keeps failures quick and recovery immediate.
 */
export const postgresClientOptions = (options: { max: number; connectTimeoutSeconds?: number }) => ({
  max: options.max,
  connect_timeout: options.connectTimeoutSeconds ?? CONNECT_TIMEOUT_SECONDS,
  backoff: (attempt: number) => Math.min(0.01 * 3 ** attempt, 0.5),
  onnotice: () => {},
})

// postgres.js's codes for a connection the server closed or that never opened in time. (Not
// CONNECTION_ENDED/DESTROYED: those mean this process ended its own client, a bug, not an outage.)
const CLIENT_CODES = new Set(['CONNECTION_CLOSED', 'CONNECT_TIMEOUT'])
// Node socket errors on the way to the server.
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
// SQLSTATEs of a server that is going away or not there yet (class 08 is matched by prefix):
// admin/crash shutdown, cannot connect now (starting up, shutting down), too many connections.
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300'])

/**
 * Whether an error (drizzle wraps the driver's as `cause`) means Postgres cannot be reached right
 * now, so a later retry may succeed. Each transaction either committed or did not; a connection
 * lost during COMMIT leaves the caller unsure which, so writes stay idempotent. (PGlite runs in
 * this process: it has no outage of its own.)
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') {
      if (CLIENT_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08')) return true
      if (SOCKET_CODES.has(code) && 'syscall' in current) return true
    }
    current = current.cause
  }
  return false
}
