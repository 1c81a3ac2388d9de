import { Hono } from 'hono'
import { ApiError } from './lib/errors'
import type { AppEnv, Deps } from './lib/context'

const ASSETS_PATH = '/docs/assets'
/** Where Swagger UI comes from when the entry did not hand its files in (the test harness). */
const SWAGGER_CDN = 'https://cdn.jsdelivr.net'
const CDN_ASSETS = `${SWAGGER_CDN}/npm/swagger-ui-dist`

/** Starts Swagger UI; a file rather than an inline script, so the page's CSP allows no inline code. */
const INIT_SCRIPT = "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', validatorUrl: 'none' })\n"

const ASSET_HEADERS = { 'Cache-Control': 'public, max-age=86400', 'X-Content-Type-Options': 'nosniff' }

/**
 * The docs UI at /docs: Swagger UI from our own files (or its CDN without them), started by a
 * script file. The CSP admits exactly that: scripts and styles from where the files are, images
 * from data: URLs (its icons), fetches to this API; no inline code, and no framing by any page
 * (`frame-ancestors 'none'` and, for older browsers, `X-Frame-Options: DENY`): a docs page that
 * sends requests with a pasted token is a clickjacking target.
 */
export function docsRoutes(docsAssets: Deps['docsAssets'], publicUrl: string) {
  const assets = docsAssets ? `${ASSETS_PATH}/swagger-ui-dist` : CDN_ASSETS
  const sources = docsAssets ? "'self'" : `'self' ${SWAGGER_CDN}`
  const apiOrigin = new URL(publicUrl).origin
  const pageHeaders = {
    'Content-Security-Policy': [
      "default-src 'none'",
      `script-src ${sources}`,
      `style-src ${sources}`,
      "img-src 'self' data:",
      `connect-src 'self' ${apiOrigin}`,
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
  }
  const page = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Refinery API</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="${assets}/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${assets}/swagger-ui-bundle.js"></script>
    <script src="${ASSETS_PATH}/init.js"></script>
  </body>
</html>
`
  const routes = new Hono<AppEnv>()
    .get('/docs', (c) => c.html(page, 200, pageHeaders))
    .get(`${ASSETS_PATH}/init.js`, (c) => c.body(INIT_SCRIPT, 200, { 'Content-Type': 'text/javascript; charset=utf-8', ...ASSET_HEADERS }))
  if (docsAssets) {
    routes.get(`${ASSETS_PATH}/swagger-ui-dist/:file`, (c) => {
      const file = c.req.param('file')
      if (file === 'swagger-ui-bundle.js') return c.body(docsAssets.js, 200, { 'Content-Type': 'text/javascript; charset=utf-8', ...ASSET_HEADERS })
      if (file === 'swagger-ui.css') return c.body(docsAssets.css, 200, { 'Content-Type': 'text/css; charset=utf-8', ...ASSET_HEADERS })
      throw new ApiError('not_found', 'No such docs asset.')
    })
  }
  return routes
}
