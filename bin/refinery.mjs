#!/usr/bin/env node
// The `refinery` command: runs the TypeScript CLI through tsx's loader.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cli/main.ts')
process.exitCode = await main(process.argv.slice(2), { env: process.env })
