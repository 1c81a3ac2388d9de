import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import type autocannon from 'autocannon'

const require = createRequire(import.meta.url)

export type Load = { url: string; connections: number; seconds: number; method?: string; headers?: Record<string, string>; body?: string }

/**
 * Runs autocannon in its own process, so the load generator never shares the server's event
 * loop, and returns its JSON result.
 */
export function runAutocannon(load: Load): Promise<autocannon.Result> {
  const args = [require.resolve('autocannon/autocannon.js'), '--json', '-c', String(load.connections), '-d', String(load.seconds), '-m', load.method ?? 'GET']
  for (const [key, value] of Object.entries(load.headers ?? {})) args.push('-H', `${key}=${value}`)
  if (load.body) args.push('-b', load.body)
  const child = spawn(process.execPath, [...args, load.url], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let errors = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (errors += chunk))
  return new Promise((resolve, reject) =>
    // 'close', not 'exit': the JSON may still be in the pipe when the process exits.
    child.once('close', (code) => {
      try {
        resolve(JSON.parse(output))
      } catch {
        reject(new Error(`autocannon for ${load.url} exited ${code}: ${errors.slice(-2000)}`))
      }
    }),
  )
}

/** How many answers of a status class (`'2xx'`, `'3xx'`…) a run got. */
export const statusCount = (result: autocannon.Result, key: string) => (result as unknown as Record<string, number>)[key] ?? 0
