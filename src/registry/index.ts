export { registryReader } from './registry-cache'
export { type BaseAccess, baseFromConfig, checkedEntry, compatProblem, findBaseModel, getBaseModel, listBaseModels, listRegistry, registerBaseModel, type RegistryEntry, registryFor, shapeSignature, storedBaseModel, toBaseModelView, unknownBaseModel, verifiedAmong, verifiedIn } from './registry'
export { FindingSchema, RuntimesSchema } from './schemas'
export { registeredBaseModels } from './tables'
