import { writeFile } from 'node:fs/promises'
import { clientTypesSource, CLIENT_TYPES_PATH } from './client-types'

// `npm run client:generate`: rewrites the typed client's types from the app's OpenAPI document.
await writeFile(CLIENT_TYPES_PATH, await clientTypesSource())
console.log(`Wrote ${CLIENT_TYPES_PATH}.`)
