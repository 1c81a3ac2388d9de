/**
 * The compatibility engine: pure and I/O-free (runs in Node, workerd and the CLI).
 * Safetensors header reader → adapter analysis → checks against base models and serving engines.
 */
export { type AdapterConfig, parseAdapterConfig, patternValue, targetsModule } from './adapter-config'
export { type AdapterAnalysis, analyzeAdapter, type Finding, type ModuleGroup, type Severity, type TensorRole } from './analyze'
export { type BaseModel, type LegacyRevision, type ModuleShape, seededBaseModels, type VocabModule } from './base-models'
export { buildSafetensors, buildSafetensorsHeader, type LoraTensorOptions, loraTensorsFor, type TensorSpec } from './build'
export { checkAgainstBase, compatibilityMatrix, type CompatReport, fitsBase } from './check'
export { type Dtype, DTYPE_BITS, DTYPES, isDtype } from './dtypes'
export { CompatInputError, type CompatInputErrorCode } from './errors'
export { baseModelFromHfConfig, supportedModelTypes } from './hf-config'
export { nameKey, normalizeBaseId, type NormalizedBaseId } from './normalize'
export { type Runtimes, type RuntimeVerdict, runtimeVerdicts, VLLM_MAX_LORA_RANKS } from './runtimes'
export { MAX_API_HEADER_BYTES, MAX_HEADER_SIZE, MAX_TENSORS, readSafetensorsHeader, type SafetensorsHeader, type TensorInfo, validateHeaderObject } from './safetensors'
export { type FileFormat, sniffFormat } from './sniff'
export { type AdapterFingerprint, COMPARED_KINDS, createFingerprinter, entryKind, type EntryKind, FINGERPRINT_VERSION, fnv1a, moduleKey, quantiseSketches, SKETCH_SIZE, sketchSimilarity, storedSketches } from './fingerprint'
