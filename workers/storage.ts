import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { type Config, publicUrlOf, s3ConfigOf } from '../src/config'
import { createR2Store } from '../src/storage/r2'
import { createS3Store } from '../src/storage/s3'
import type { ObjectStore } from '../src/storage/types'
import { createUnconfiguredStore } from '../src/storage/unconfigured'
import type { WorkerEnv } from './env'

/**
 * The Worker's store: with S3 settings, presigned URLs straight to the bucket (R2's S3 API or any
 * other); else the R2 binding `ADAPTERS`, through the app's own signed URLs (no S3 keys needed);
 * else none, and only what touches files answers 503. Holds no per-request I/O: build it once per isolate.
 */
export function storeFor(env: Pick<WorkerEnv, 'ADAPTERS'>, config: Config): ObjectStore {
  const s3 = s3ConfigOf(config)
  if (s3) return createS3Store(s3)
  if (!env.ADAPTERS) {
    return createUnconfiguredStore('This deployment has no file storage: bind an R2 bucket as ADAPTERS (wrangler.toml) or set the S3_* settings.')
  }
  if (!config.JWT_SECRET) return createUnconfiguredStore('Set the JWT_SECRET secret: the R2 store signs its upload and download URLs with a key derived from it.')
  return createR2Store({
    bucket: env.ADAPTERS,
    publicUrl: publicUrlOf(config),
    // Its own key, derived from JWT_SECRET: a storage URL is never an access token, nor the other way round.
    secret: hmac(sha256, new TextEncoder().encode(config.JWT_SECRET), new TextEncoder().encode('refinery r2 store')),
    partBytes: config.R2_PART_BYTES,
  })
}
