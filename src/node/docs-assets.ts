import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

/** Swagger UI's files from the installed package, so /docs needs no CDN. */
export async function loadDocsAssets(): Promise<{ js: string; css: string }> {
  const folder = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
  const [js, css] = await Promise.all([
    readFile(join(folder, 'swagger-ui-bundle.js'), 'utf8'),
    readFile(join(folder, 'swagger-ui.css'), 'utf8'),
  ])
  return { js, css }
}
