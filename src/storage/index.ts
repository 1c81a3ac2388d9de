export { sha256OfStream, type ObjectStore, type UploadPlan } from './types'
