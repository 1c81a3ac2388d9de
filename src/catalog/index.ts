export { adapterRoutes } from './routes'
export { createAdapter, getAdapter, listTeamAdapters, loadAdapter, type LoadedAdapter, toAdapterView } from './adapters'
export { AdapterParamsSchema, CreateAdapterSchema, RatingSchema, TagSchema } from './schemas'
export { adapters, listedRow } from './tables'
