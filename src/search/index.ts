export { searchRoutes } from './routes'
export { CompatibleAdaptersQuerySchema, CompatibleAdaptersSchema, SearchQuerySchema } from './schemas'
export { listCompatibleAdaptersJson, searchAdapters } from './search'
