import { seededBaseModels } from '../../src/compat'

/**
 * model_types transformers implements natively. The registry's other five bases (Qwen-7B v1,
 * Baichuan2-7B/13B, ChatGLM3-6B, InternLM2-7B) need trust_remote_code, which the offline oracle
 * cannot fetch.
 */
export const NATIVE_MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'gemma', 'phi', 'phi3', 'falcon', 'bloom', 'gpt2']

/** The 18 registry bases transformers builds without remote code. */
export const nativeBases = seededBaseModels.filter((base) => NATIVE_MODEL_TYPES.includes(base.modelType))
