import { Hono } from 'hono'
import type { AppEnv } from '../lib/context'
import { adapterRoutes } from './routes/adapter'
import { dashboardRoutes } from './routes/dashboard'
import { listingRoutes } from './routes/listings'
import { searchRoutes } from './routes/search'
import { sessionRoutes } from './routes/session'

export { errorPage, isStorefrontPath } from './common'

/** The storefront: server-rendered pages (hono/jsx) on the same app, calling the API's service verbs. */
export const webRoutes = new Hono<AppEnv>()
  .route('/', searchRoutes)
  .route('/', sessionRoutes)
  .route('/', dashboardRoutes)
  .route('/', listingRoutes)
  // Last: its `/:team/:slug` would shadow every other two-segment page.
  .route('/', adapterRoutes)
