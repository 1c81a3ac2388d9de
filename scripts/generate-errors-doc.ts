import { writeFile } from 'node:fs/promises'
import { ERRORS_DOC_PATH, errorsDocSource } from './errors-doc'

// `npm run docs:errors`: rewrites docs/errors.md from the problem registry (src/lib/problems.ts).
await writeFile(ERRORS_DOC_PATH, errorsDocSource())
console.log(`Wrote ${ERRORS_DOC_PATH}.`)
