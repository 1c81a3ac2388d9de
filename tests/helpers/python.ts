import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, it } from 'vitest'

/**
 * The Python oracle environment (`npm run oracle:setup` → `.oracle/venv`: torch CPU,
 * transformers, peft, safetensors, huggingface_hub, gguf). Tests that check Refinery against the
 * real libraries use:
 *
 *   const python = oraclePython()
 *   describeOracle('…', () => { … await runPython('tests/oracle/x.py', input) … })
 *
 * Locally a missing venv skips the suite with a message; in CI (`CI` set) it fails.
 */
const ROOT = resolve(import.meta.dirname, '../..')
const VENV_PYTHON = join(ROOT, '.oracle', 'venv', 'bin', 'python')

/** The venv's python, or undefined when `npm run oracle:setup` has not run. */
export function oraclePython(): string | undefined {
  return existsSync(VENV_PYTHON) ? VENV_PYTHON : undefined
}

const MISSING = 'the Python oracle is not installed: run `npm run oracle:setup` (creates .oracle/venv)'

/** `describe` that runs with the oracle, skips without it locally, and fails without it in CI. */
export function describeOracle(name: string, body: () => void): void {
  const missing = oraclePython() === undefined
  if (missing && process.env.CI) {
    describe(name, () => {
      it('has the Python oracle', () => {
        throw new Error(`${MISSING}; CI must run it before the tests`)
      })
    })
    return
  }
  describe.skipIf(missing)(missing ? `${name} (skipped: ${MISSING})` : name, body)
}

/**
 * Runs one oracle script (a path from the project root) with `input` as JSON on stdin and returns
 * its JSON stdout. One process per call: batch the whole test file's work into one call, since
 * importing torch alone takes seconds.
 */
export async function runPython<T>(script: string, input: unknown, options: { cwd?: string; env?: Record<string, string> } = {}): Promise<T> {
  const python = oraclePython()
  if (!python) throw new Error(MISSING)
  const child = spawn(python, [join(ROOT, script)], {
    cwd: options.cwd ?? join(ROOT, 'tests', 'oracle'),
    env: { ...process.env, PYTHONPATH: join(ROOT, 'tests', 'oracle'), HF_HUB_OFFLINE: '1', PYTHONDONTWRITEBYTECODE: '1', TOKENIZERS_PARALLELISM: 'false', OMP_NUM_THREADS: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
  const exit = new Promise<number | null>((resolveExit, reject) => {
    child.on('error', reject)
    child.on('close', resolveExit)
  })
  child.stdin.end(JSON.stringify(input))
  const code = await exit
  const text = Buffer.concat(stdout).toString('utf8')
  if (code !== 0) throw new Error(`${script} exited with ${code}:\n${Buffer.concat(stderr).toString('utf8').slice(-4000)}`)
  return JSON.parse(text) as T
}
