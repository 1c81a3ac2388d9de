/**
 * Bad input to the compat engine (a file, a header, a config). Callers map `code` to a 4xx;
 * `extra` carries machine-readable details such as `needBytes` or the violated `rule`.
 */
export class CompatInputError extends Error {
  constructor(
    public code: CompatInputErrorCode,
    message: string,
    public extra?: Record<string, unknown>,
  ) {
    super(message)
    this.name = 'CompatInputError'
  }
}

export type CompatInputErrorCode =
  | 'pickle_rejected'
  | 'unsupported_format'
  | 'invalid_safetensors'
  | 'header_too_large'
  | 'incomplete_header'
  | 'invalid_adapter_config'
  | 'invalid_base_config'
  | 'not_finite'
  | 'unsupported_dtype'
