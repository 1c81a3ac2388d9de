export { commerceRoutes } from './routes'
export type { Payments } from './payments'
export { resumeStripeEvents } from './webhooks'
export { findLiveEntitlement } from './entitlements'
