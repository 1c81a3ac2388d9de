export { adapterRoutes } from './routes/adapters'
