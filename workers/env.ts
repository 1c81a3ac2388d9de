/** Bindings and vars the Workers runtime hands to every entry point (see wrangler.toml). */
export type WorkerEnv = {
  HYPERDRIVE?: { connectionString: string }
  /** Cloudflare Queue for validation jobs (wrangler.toml); the consumer is `queue` in api.ts. */
  VALIDATION_QUEUE?: { send(body: unknown): Promise<void> }
  DATABASE_URL?: string
  JWT_SECRET?: string
  PUBLIC_URL?: string
  PASSWORD_ITERATIONS?: string
  MAX_JSON_BODY_BYTES?: string
  [name: string]: unknown
}
