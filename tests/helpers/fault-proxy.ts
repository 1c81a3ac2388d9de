import { connect, createServer, type Socket } from 'node:net'

/**
 * - `up`: bytes pass both ways.
 * - `down`: every connection is reset as soon as it opens (the service is gone).
 * - `stall`: connections open but nothing ever comes back (a hung service, a dropped route).
 * - `{ delayMs }`: bytes pass, each chunk held back that long in both directions (a slow service).
 */
export type FaultMode = 'up' | 'down' | 'stall' | { delayMs: number }

export type FaultProxy = {
  /** Loopback port the clients use instead of the service's. */
  port: number
  /** Connections accepted since the proxy started. */
  readonly connections: number
  /** Switches mode; open connections are cut so every client meets the new mode at once. */
  set(mode: FaultMode): void
  close(): Promise<void>
}

/**
 * A TCP proxy on 127.0.0.1 in front of a dependency (S3 API server, Postgres) that can take it
 * down, hang it or slow it, without touching the dependency itself.
 */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  let mode: FaultMode = 'up'
  let connections = 0
  const open = new Set<Socket>()
  const track = (socket: Socket) => {
    open.add(socket)
    socket.on('close', () => open.delete(socket))
    socket.on('error', () => {})
  }

  const server = createServer((client) => {
    connections += 1
    track(client)
    const current = mode
    if (current === 'down') return void client.resetAndDestroy()
    if (current === 'stall') return // held open; what the client sends goes nowhere
    const upstream = connect(target.port, target.host)
    track(upstream)
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end)
    upstream.on('close', end)
    if (current === 'up') {
      client.pipe(upstream)
      upstream.pipe(client)
    } else {
      relay(client, upstream, current.delayMs)
      relay(upstream, client, current.delayMs)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('fault proxy has no port')

  return {
    port: address.port,
    get connections() {
      return connections
    },
    set(next) {
      mode = next
      for (const socket of open) socket.destroy()
    },
    async close() {
      for (const socket of open) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** Forwards chunks in order, each after `delayMs`. */
function relay(from: Socket, to: Socket, delayMs: number) {
  let chain = Promise.resolve()
  from.on('data', (chunk) => {
    chain = chain.then(
      () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            if (!to.destroyed) to.write(chunk)
            resolve()
          }, delayMs),
        ),
    )
  })
  from.on('end', () => void chain.then(() => to.end()))
}
