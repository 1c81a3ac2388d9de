export { type ObjectStore, sha256OfStream, type UploadPlan } from './types'
