export { adapterRoutes } from './routes'
export { createAdapter, getAdapter, listTeamAdapters, loadAdapter, toAdapterView } from './adapters'
export { AdapterParamsSchema, CreateAdapterSchema, RatingSchema, TagSchema } from './schemas'
export { adapters, listedRow } from './tables'
