import type { R2Bucket } from '@cloudflare/workers-types'

/** Bindings and vars the Workers runtime hands to every entry point (see wrangler.toml). */
export type WorkerEnv = {
  HYPERDRIVE?: { connectionString: string }
  /** Cloudflare Queue for validation jobs (wrangler.toml); the consumer is `queue` in api.ts. */
  VALIDATION_QUEUE?: { send(body: unknown): Promise<void> }
  /** R2 bucket for adapter files (wrangler.toml [[r2_buckets]]); used when no S3_* settings are given. */
  ADAPTERS?: R2Bucket
  DATABASE_URL?: string
  JWT_SECRET?: string
  PUBLIC_URL?: string
  PASSWORD_ITERATIONS?: string
  MAX_JSON_BODY_BYTES?: string
  [name: string]: unknown
}
