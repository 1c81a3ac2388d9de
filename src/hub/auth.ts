/**
 * The Authorization header a Hub client sent, as `authenticate` reads it: @huggingface/hub refuses
 * any token that does not start with `hf_`, so on /hf `hf_` followed by an API key or access token
 * (`hf_rfy_…`) stands for that credential. Nothing else changes: same keys, scopes and team binding.
 */
export const hubAuthorization = (header: string | undefined) => header?.replace(/^(Bearer\s+)hf_/i, '$1')
