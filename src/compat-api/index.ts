export { checkCompatibility } from './check'
export { CheckCompatibilitySchema } from './schemas'
