import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { openApiDocument } from '../src/app'

// `npm run openapi:lint` step 1: the document the app serves at /openapi.json, written to a file for linters.
const target = process.argv[2] ?? '.tmp/openapi.json'
await mkdir(dirname(target), { recursive: true })
await writeFile(target, `${JSON.stringify(openApiDocument(), null, 2)}\n`)
console.log(`Wrote ${target}.`)
