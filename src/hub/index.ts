export { hubRoutes } from './routes'
export { hubError, isHubPath } from './errors'
export { hubAuthorization } from './auth'
