#!/usr/bin/env node
// The `refinery` command. An installed package runs the JavaScript that `npm run build:package`
// bundled into dist/cli/ (no TypeScript loader: tsx is a dev dependency). In a checkout with its
// dev dependencies, it runs the TypeScript source through tsx instead, so an edit never meets a
// stale build; a checkout installed with --omit=dev runs dist/cli/, built before pruning.
import { existsSync } from 'node:fs'

const source = new URL('../src/cli/main.ts', import.meta.url)
const built = new URL('../dist/cli/main.js', import.meta.url)

async function tsx() {
  try {
    return await import('tsx/esm/api')
  } catch (error) {
    if (error?.code === 'ERR_MODULE_NOT_FOUND') return undefined
    throw error
  }
}

let cli
const loader = existsSync(source) ? await tsx() : undefined
if (loader) {
  loader.register()
  cli = await import(source.href)
} else if (existsSync(built)) {
  cli = await import(built.href)
} else {
  process.stderr.write('error: dist/cli/ is missing: run `npm run build:package` (it needs the dev dependencies)\n')
  process.exit(2)
}
process.exitCode = await cli.main(process.argv.slice(2), { env: process.env })
