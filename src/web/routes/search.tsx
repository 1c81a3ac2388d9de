import { Hono } from 'hono'
import { SearchQuerySchema } from '../../search'
import { searchAdapters } from '../../search'
import { priceSummaries } from '../../commerce'
import { listRegistry } from '../../registry'
import type { AppEnv } from '../../lib/context'
import { ApiError } from '../../lib/errors'
import { page, webContext } from '../common'
import { SearchPage } from '../pages/search'
import { STYLESHEET } from '../style'

/** `/` runs searchAdapters with the query string the API takes; an empty form field means "any". */
export const searchRoutes = new Hono<AppEnv>()
  .get('/static/refinery.css', (c) => c.body(STYLESHEET, 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'public, max-age=3600' }))
  .get('/', async (c) => {
    const ctx = await webContext(c, 'public')
    const query = Object.fromEntries(Object.entries(c.req.query()).filter(([, value]) => value !== ''))
    const bases = (await listRegistry(ctx.db)).map((base) => base.id).sort()
    const parsed = SearchQuerySchema.safeParse(query)
    if (!parsed.success) {
      const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.')))].join(', ')
      return page(c, <SearchPage principal={ctx.principal} query={query} bases={bases} results={null} prices={new Map()} error={`Check these filters: ${fields}.`} />, 422)
    }
    try {
      const results = await searchAdapters(ctx, parsed.data)
      const prices = await priceSummaries(ctx, results.items.map((item) => item.id))
      return page(c, <SearchPage principal={ctx.principal} query={query} bases={bases} results={results} prices={prices} />)
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500) throw error
      return page(c, <SearchPage principal={ctx.principal} query={query} bases={bases} results={null} prices={new Map()} error={error.message} />, error.status)
    }
  })
