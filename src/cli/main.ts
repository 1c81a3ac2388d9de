import { parseArgs } from 'node:util'
import type { CompatReport } from '../compat'
import { CliError, checkFolder, isInputError } from './check'
import { pull } from './pull'

const USAGE = `refinery — the Refinery marketplace from a terminal

  refinery check <peft-folder> --base <hf-id | config.json> [--json]
      Does this adapter load on this base model, and on which serving engines? Offline: reads
      adapter_config.json and only the header of the .safetensors file.
      Exit code 0 compatible, 1 incompatible, 2 error.

  refinery pull <team/slug@version> [--dir <folder>]
      Downloads every file of a version you are entitled to: resumes after an interruption,
      verifies each sha256, and only then puts the file under its name. Uses REFINERY_URL
      (default http://localhost:8787) and REFINERY_API_KEY (an API key or access token).
`

type Io = { out: Pick<NodeJS.WriteStream, 'write'>; err: Pick<NodeJS.WriteStream, 'write'>; fetch: typeof fetch; env: Record<string, string | undefined> }

/** Runs the CLI; returns the exit code. Output, the network and the environment are injectable for tests. */
export async function main(argv: string[], io: Partial<Io> = {}): Promise<number> {
  const { out = process.stdout, err = process.stderr, env = {} } = io
  const fetchImpl = io.fetch ?? fetch
  const [command, ...rest] = argv
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    out.write(USAGE)
    return command ? 0 : 2
  }
  if (command !== 'check' && command !== 'pull') {
    err.write(`Unknown command '${command}'.\n\n${USAGE}`)
    return 2
  }
  try {
    if (command === 'pull') {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { dir: { type: 'string', default: '.' } } })
      const token = env.REFINERY_API_KEY
      if (!positionals[0]) throw new CliError('Usage: refinery pull <team/slug@version> [--dir <folder>]')
      if (!token) throw new CliError('Set REFINERY_API_KEY to an API key (createApiKey) or an access token.')
      const remote = { url: (env.REFINERY_URL ?? 'http://localhost:8787').replace(/\/$/, ''), token, fetch: fetchImpl, progress: (line: string) => err.write(`${line}\r`) }
      for (const path of await pull(remote, positionals[0], values.dir!)) out.write(`✔ ${path}\n`)
      return 0
    }
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { base: { type: 'string' }, json: { type: 'boolean', default: false } } })
    const folder = positionals[0]
    if (!folder || !values.base) {
      err.write(`Usage: refinery check <peft-folder> --base <hf-id | config.json> [--json]\n`)
      return 2
    }
    const report = await checkFolder(folder, values.base)
    out.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : render(report))
    return report.compatible ? 0 : 1
  } catch (error) {
    if (isInputError(error) || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const code = (error as { code?: string }).code
      err.write(`error${code && !code.startsWith('ERR_') ? ` (${code})` : ''}: ${(error as Error).message}\n`)
      return 2
    }
    throw error
  }
}

function render(report: CompatReport): string {
  const lines = [`${report.compatible ? '✔ compatible' : '✘ incompatible'} with ${report.base}`]
  if (report.twins.length > 0) lines.push(`  also fits: ${report.twins.join(', ')}`)
  if (report.declaredBase.value) {
    lines.push(`  declared base: ${report.declaredBase.value}${report.declaredBase.matches === false ? ' (does not match)' : ''}`)
  }
  const findings = report.checks.filter((check) => check.severity !== 'info')
  if (findings.length > 0) {
    lines.push('', 'severity  code                      tensor / message')
    for (const finding of findings) {
      lines.push(`${finding.severity.padEnd(9)} ${finding.code.padEnd(25)} ${finding.tensor ?? ''}`)
      lines.push(`${' '.repeat(36)}${finding.message}`)
      if (finding.expected !== undefined) lines.push(`${' '.repeat(36)}expected ${JSON.stringify(finding.expected)}, got ${JSON.stringify(finding.actual)}`)
    }
  }
  lines.push('', 'engine    loads  why not / notes')
  for (const [engine, verdict] of Object.entries(report.runtimes)) {
    lines.push(`${engine.padEnd(9)} ${(verdict.compatible ? 'yes' : 'no').padEnd(6)} ${[...verdict.reasons, ...(verdict.notes ?? [])].join('; ')}`)
  }
  return `${lines.join('\n')}\n`
}
