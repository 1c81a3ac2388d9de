/**
 * The compatibility engine: pure and I/O-free (runs in Node, workerd and the CLI).
 * Safetensors header reader → adapter analysis → checks against base models and serving engines.
 */
export { type AdapterConfig, parseAdapterConfig, patternValue, targetsModule } from './adapter-config'
export { type AdapterAnalysis, analyzeAdapter, type Finding, type ModuleGroup, type Severity, type TensorRole } from './analyze'
export { type BaseModel, type LegacyRevision, type ModuleShape, seededBaseModels, type VocabModule } from './base-models'
export { buildSafetensors, buildSafetensorsHeader, type LoraTensorOptions, loraTensorsFor, type TensorSpec } from './build'
export { checkAgainstBase, type CompatReport, compatibilityMatrix, fitsBase } from './check'
export { DTYPE_BITS, type Dtype, DTYPES, isDtype } from './dtypes'
export { CompatInputError, type CompatInputErrorCode } from './errors'
export { baseModelFromHfConfig, supportedModelTypes } from './hf-config'
export { nameKey, type NormalizedBaseId, normalizeBaseId } from './normalize'
export { type RuntimeVerdict, type Runtimes, runtimeVerdicts, VLLM_MAX_LORA_RANKS } from './runtimes'
export { MAX_HEADER_SIZE, MAX_TENSORS, MAX_API_HEADER_BYTES, readSafetensorsHeader, type SafetensorsHeader, type TensorInfo, validateHeaderObject } from './safetensors'
export { type FileFormat, sniffFormat } from './sniff'
export { FINGERPRINT_VERSION, SKETCH_SIZE, COMPARED_KINDS, createFingerprinter, entryKind, type EntryKind, fnv1a, moduleKey, quantiseSketches, sketchSimilarity, storedSketches, type AdapterFingerprint } from './fingerprint'
