import { describe, expect, it } from 'vitest'
import { isDatabaseUnavailable } from '../../src/db/connection'

/** An error shaped like the ones Node's sockets, postgres.js and drizzle throw. */
const error = (fields: Record<string, unknown>, cause?: unknown) => Object.assign(new Error(String(fields.message ?? 'x')), fields, cause ? { cause } : {})
const wrapped = (inner: unknown) => error({ message: 'Failed query: select 1\nparams: ' }, inner)

describe('which database errors are an outage (503) rather than a bug (500)', () => {
  it.each([
    ['refused (server stopped)', error({ code: 'ECONNREFUSED', syscall: 'connect', errno: -111 })],
    ['reset', error({ code: 'ECONNRESET', syscall: 'read' })],
    ['written to a closed socket', error({ code: 'EPIPE', syscall: 'write' })],
    ['closed by the server mid-query (postgres.js)', error({ code: 'CONNECTION_CLOSED', errno: 'CONNECTION_CLOSED' })],
    ['no connection within connect_timeout (postgres.js)', error({ code: 'CONNECT_TIMEOUT', errno: 'CONNECT_TIMEOUT' })],
    ['admin shutdown (pg_ctl stop -m fast)', error({ code: '57P01', severity: 'FATAL' })],
    ['crash shutdown', error({ code: '57P02' })],
    ['starting up or shutting down', error({ code: '57P03' })],
    ['too many connections', error({ code: '53300' })],
    ['connection exception, class 08', error({ code: '08006' })],
    ['any of these wrapped by drizzle', wrapped(error({ code: 'ECONNREFUSED', syscall: 'connect' }))],
  ])('%s', (_, thrown) => expect(isDatabaseUnavailable(thrown)).toBe(true))

  it.each([
    ['a unique violation', wrapped(error({ code: '23505' }))],
    ['a syntax error', error({ code: '42601' })],
    ['a serialization failure (retryable, but the database is up)', error({ code: '40001' })],
    ['our own client ended (a bug, not an outage)', error({ code: 'CONNECTION_ENDED' })],
    ['PGlite closed by this process', new Error('PGlite is closed')],
    ['a code without a socket call behind it', error({ code: 'ECONNREFUSED' })],
    ['a plain error', new Error('boom')],
    ['not an error at all', 'ECONNREFUSED'],
  ])('not %s', (_, thrown) => expect(isDatabaseUnavailable(thrown)).toBe(false))
})
