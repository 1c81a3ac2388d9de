import openapiTS, { astToString } from 'openapi-typescript'
import { openApiDocument } from '../src/app'

export const CLIENT_TYPES_PATH = new URL('../src/client/openapi.ts', import.meta.url).pathname

/** The client's types, generated from the document the app serves; a test keeps the committed file in step. */
export async function clientTypesSource() {
  const ast = await openapiTS(openApiDocument() as Parameters<typeof openapiTS>[0])
  return `// Generated from the app's OpenAPI document by \`npm run client:generate\`. Do not edit.\n\n${astToString(ast)}`
}
