/** Bindings and vars the Workers runtime hands to every entry point (see wrangler.toml). */
export type WorkerEnv = {
  HYPERDRIVE?: { connectionString: string }
  DATABASE_URL?: string
  JWT_SECRET?: string
  PUBLIC_URL?: string
  PASSWORD_ITERATIONS?: string
  MAX_JSON_BODY_BYTES?: string
  [name: string]: unknown
}
