export { registryReader } from './registry-cache'
export { baseFromConfig, compatProblem, findBaseModel, getBaseModel, listBaseModels, listRegistry, registerBaseModel, registryFor, shapeSignature, toBaseModelView, unknownBaseModel, verifiedAmong, type BaseAccess } from './registry'
export { FindingSchema, RuntimesSchema } from './schemas'
export { registeredBaseModels } from './tables'
