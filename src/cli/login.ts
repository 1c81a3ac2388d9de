import { hostname } from 'node:os'
import { createClient } from '../client'
import { CliError } from './check'
import type { Output } from './progress'
import { call, DEFAULT_URL, type Env, forget, readSaved, remoteFrom, save } from './remote'

export type Input = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown }
// The user proved the password: the CLI may do what they can (teams and keys need admin).
const CLI_KEY_SCOPES = ['read', 'publish', 'purchase', 'admin'] as const

/**
 * `refinery login`: checks a credential against the API and stores it for later commands.
 * An API key comes from --api-key or standard input; with --email, the password is read the
 * same way, and the CLI creates an API key of its own (access tokens expire within the day).
 * `refinery signup` is the same after creating the account.
 */
export async function login(
  io: { env: Env; fetch: typeof fetch; stdin: Input; out: Output; err: Output },
  options: { url?: string; apiKey?: string; email?: string; signup?: { name: string } },
) {
  const url = (options.url ?? io.env.REFINERY_URL ?? (await readSaved(io.env))?.url ?? DEFAULT_URL).replace(/\/$/, '')
  const client = (token?: string) => createClient({ url, ...(token && { token }), fetch: (request) => io.fetch(request) })
  let token: string
  let keyId: string | undefined
  if (options.email) {
    const password = await secret(io, 'Password: ')
    const credentials = { email: options.email, password }
    const session = await call(
      options.signup
        ? client().POST('/v1/signup', { body: { ...credentials, name: options.signup.name } })
        : client().POST('/v1/login', { body: credentials }),
    )
    const created = await call(
      client(session.token).POST('/v1/api-keys', { body: { name: `refinery CLI on ${hostname()}`, scopes: [...CLI_KEY_SCOPES] } }),
    )
    token = created.key
    keyId = created.apiKey.id
  } else {
    token = options.apiKey ?? (await secret(io, 'API key (createApiKey; rfy_…): '))
  }
  if (!token) throw new CliError('No credential given.')
  const me = await call(client(token).GET('/v1/me'))
  const file = await save(io.env, { url, token, email: me.user.email, ...(keyId && { keyId }) })
  io.out.write(`✔ logged in to ${url} as ${me.user.email}; credential stored in ${file} (mode 0600)\n`)
}

/** `refinery logout`: forgets the stored credential and revokes the key login created. */
export async function logout(io: { env: Env; fetch: typeof fetch; out: Output; err: Output }) {
  const saved = await readSaved(io.env)
  if (saved?.keyId) {
    const remote = await remoteFrom({ ...io.env, REFINERY_URL: saved.url, REFINERY_API_KEY: saved.token }, io.fetch)
    // The credential is forgotten even when the server cannot be told; the user hears about it.
    await call(remote.client.DELETE('/v1/api-keys/{id}', { params: { path: { id: saved.keyId } } })).catch((error: Error) =>
      io.err.write(`warning: the API key could not be revoked (${error.message}); revoke it with revokeApiKey\n`),
    )
  }
  await forget(io.env)
  io.out.write(saved ? `✔ logged out of ${saved.url}\n` : 'Not logged in.\n')
}

/** One line from standard input; typed without echo on a terminal. */
async function secret(io: { stdin: Input; err: Output }, prompt: string): Promise<string> {
  const { stdin } = io
  if (stdin.isTTY && stdin.setRawMode) {
    io.err.write(prompt)
    stdin.setRawMode(true)
    stdin.resume()
    try {
      return await new Promise<string>((resolve, reject) => {
        let value = ''
        const onData = (chunk: Buffer | string) => {
          for (const char of chunk.toString()) {
            if (char === '\r' || char === '\n') return finish(() => resolve(value))
            if (char === '\u0003') return finish(() => reject(new CliError('Cancelled.')))
            value = char === '\u007f' ? value.slice(0, -1) : value + char
          }
        }
        const finish = (settle: () => void) => {
          stdin.off('data', onData)
          io.err.write('\n')
          settle()
        }
        stdin.on('data', onData)
      })
    } finally {
      stdin.setRawMode(false)
      stdin.pause()
    }
  }
  let text = ''
  for await (const chunk of stdin) {
    text += chunk.toString()
    if (text.includes('\n')) break
  }
  return text.split('\n')[0]!.trim()
}
