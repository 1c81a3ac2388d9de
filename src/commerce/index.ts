export { commerceRoutes } from './routes'
export { createPayments, type Payments } from './payments'
export { resumeStripeEvents } from './webhooks'
export { findLiveEntitlement } from './entitlements'
