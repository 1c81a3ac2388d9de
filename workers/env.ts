import type { Hyperdrive, Queue, R2Bucket } from '@cloudflare/workers-types/latest'
import type { Job } from '../src/lib/jobs'

/** Bindings and vars the Workers runtime hands to every entry point (see wrangler.toml). */
export type WorkerEnv = {
  /** Postgres through Hyperdrive with caching disabled: everything that must read the present. */
  HYPERDRIVE?: Hyperdrive
  /** Postgres through Hyperdrive with its query cache (answers up to a minute old): anonymous public reads only. */
  HYPERDRIVE_CACHED?: Hyperdrive
  /** Cloudflare Queue for validation jobs (wrangler.toml); the consumer is `queue` in api.ts. */
  VALIDATION_QUEUE?: Queue<Job>
  /** R2 bucket for adapter files (wrangler.toml [[r2_buckets]]); used when no S3_* settings are given. */
  ADAPTERS?: R2Bucket
  DATABASE_URL?: string
  JWT_SECRET?: string
  PUBLIC_URL?: string
  PASSWORD_ITERATIONS?: string
  MAX_JSON_BODY_BYTES?: string
  [name: string]: unknown
}
