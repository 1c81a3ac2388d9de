export { adapterRoutes } from './routes/adapters'
export { reviewRoutes } from './routes/reviews'
