import { getConnInfo } from '@hono/node-server/conninfo'
import type { Context } from 'hono'
import { forwardedClient } from '../lib/client-address'
import type { AppEnv } from '../lib/context'

/**
 * The client's address on Node: the socket's peer, or with `trustedProxies` > 0 the entry of
 * X-Forwarded-For those proxies vouch for. Without TRUST_PROXY the header is ignored: anyone
 * can send it.
 */
export function nodeClientAddress(trustedProxies: number) {
  return (c: Context<AppEnv>): string | undefined => {
    // A request that did not arrive through the Node server (app.request) has no socket.
    const bindings = c.env as { incoming?: unknown } | undefined
    const socket = bindings?.incoming ? getConnInfo(c).remote.address : undefined
    return forwardedClient(c.req.header('X-Forwarded-For'), trustedProxies) ?? socket
  }
}
