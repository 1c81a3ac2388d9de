import { z } from 'zod'

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value))

const ConfigSchema = z
  .object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  // Loopback by default: exposing the embedded server is a deliberate choice (HOST=0.0.0.0).
  HOST: z.string().min(1).default('127.0.0.1'),
  REFINERY_DATA_DIR: z.string().min(1).default('./.refinery'),
  DATABASE_URL: optionalString.pipe(
    z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(),
  ),
  JWT_SECRET: optionalString.pipe(z.string().min(32, 'must be at least 32 characters').optional()),
  PUBLIC_URL: optionalString.pipe(z.url().optional()),
  PASSWORD_ITERATIONS: z.coerce
    .number()
    .int()
    .min(100_000, 'below 100,000 is too weak for stored passwords')
    .max(10_000_000)
    .default(600_000),
  MAX_JSON_BODY_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  SEARCH_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(10),
  // Other processes' registry writes are seen within this bound (src/registry/registry-cache.ts); 0: no cache.
  REGISTRY_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
  DOWNLOAD_URL_TTL_SECONDS: z.coerce.number().int().min(30).max(7 * 24 * 3600).default(15 * 60),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  DOWNLOAD_RATE_PER_MINUTE: z.coerce.number().int().min(0).default(120),
  LOGIN_ATTEMPTS_PER_MINUTE: z.coerce.number().int().min(0).default(10),
  // Storage a team may use: declared sizes of all its versions' files (see src/publishing/quotas.ts).
  TEAM_STORAGE_QUOTA_BYTES: z.coerce.number().int().min(0).default(50 * 1024 ** 3),
  MAX_FILES_PER_VERSION: z.coerce.number().int().min(1).max(50).default(20),
  MAX_FILE_BYTES: z.coerce.number().int().min(1).max(10 * 1024 ** 3).default(10 * 1024 ** 3),
  // Node server: a connection silent this long is cut; headers must arrive within their own bound.
  // A request as a whole is bounded only by an upload URL's life, so slow uploads survive.
  HTTP_IDLE_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  HTTP_HEADERS_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).default(60),
  LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE: z.coerce.number().int().min(0).default(20),
  LOGIN_ATTEMPTS_GLOBAL_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  SIGNUPS_PER_ADDRESS_PER_HOUR: z.coerce.number().int().min(0).default(10),
  SIGNUPS_GLOBAL_PER_MINUTE: z.coerce.number().int().min(0).default(60),
  PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  PASSWORD_HASH_QUEUE: z.coerce.number().int().min(0).max(10_000).default(20),
  // How many reverse proxies in front of the Node server append to X-Forwarded-For; 0: trust none.
  TRUST_PROXY: z.coerce.number().int().min(0).max(10).default(0),
  INVITATION_TTL_DAYS: z.coerce.number().int().min(1).max(90).default(7),
  S3_ENDPOINT: optionalString,
  S3_BUCKET: optionalString,
  S3_REGION: optionalString,
  S3_ACCESS_KEY_ID: optionalString,
  S3_SECRET_ACCESS_KEY: optionalString,
  S3_FORCE_PATH_STYLE: optionalString,
  S3_PART_BYTES: z.coerce.number().int().min(5 * 1024 ** 2, 'S3 parts are at least 5 MiB').max(5 * 1024 ** 3, 'S3 parts are at most 5 GiB').default(64 * 1024 ** 2),
  // Workers with the R2 binding: files up to this size go up in one PUT, larger ones in parts of it (every byte passes the Worker, whose request bodies stop at 100 MB).
  R2_PART_BYTES: z.coerce.number().int().min(5 * 1024 ** 2, 'R2 parts are at least 5 MiB').max(90 * 1024 ** 2, 'must stay under the Workers request-body limit (100 MB)').default(64 * 1024 ** 2),
  STRIPE_SECRET_KEY: optionalString,
  STRIPE_WEBHOOK_SECRET: optionalString,
  STRIPE_API_URL: optionalString,
  // Platform operators (they review registered base models): comma-separated emails, any case.
  OPERATOR_EMAILS: z
    .string()
    .optional()
    .transform((value) => [...new Set((value ?? '').split(',').map((email) => email.trim().toLowerCase()).filter((email) => email !== ''))])
    .pipe(z.array(z.email('each entry must be an email address'))),
  BASE_MODEL_REGISTRATIONS_PER_HOUR: z.coerce.number().int().min(0).default(20),
  // Where rate limits count (src/limits.ts): memory (Node's default, one process) or postgres (shared).
  RATE_LIMIT_BACKEND: optionalString.pipe(z.enum(['memory', 'postgres']).optional()),
  FINGERPRINT_CHECKS_PER_HOUR: z.coerce.number().int().min(0).default(30),
  MAX_PENDING_BASE_MODELS: z.coerce.number().int().min(1).max(10_000).default(10),
  PLATFORM_FEE_BPS: z.coerce.number().int().min(0).max(10_000).default(1000),
  })
  .superRefine((config, ctx) => {
    // S3 is all or nothing: a half-configured bucket would silently fall back to local files.
    const s3 = ['S3_BUCKET', 'S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const
    if (config.S3_BUCKET || config.S3_ENDPOINT) {
      for (const name of s3) if (!config[name]) ctx.addIssue({ code: 'custom', path: [name], message: 'required when S3_BUCKET or S3_ENDPOINT is set' })
    }
    if (config.S3_FORCE_PATH_STYLE && !['true', 'false', '1', '0'].includes(config.S3_FORCE_PATH_STYLE)) {
      ctx.addIssue({ code: 'custom', path: ['S3_FORCE_PATH_STYLE'], message: 'must be true or false' })
    }
  })

export type Config = z.infer<typeof ConfigSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Parses the environment once, at an entry; a bad value fails naming the variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = ConfigSchema.safeParse(env)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
  throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`)
}

export const publicUrlOf = (config: Config) => config.PUBLIC_URL ?? `http://localhost:${config.PORT}`

/** The S3 settings when object storage is configured; undefined means the local file store. */
export function s3ConfigOf(config: Config) {
  const { S3_BUCKET, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = config
  if (!S3_BUCKET || !S3_REGION || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) return undefined
  return {
    ...(config.S3_ENDPOINT && { endpoint: config.S3_ENDPOINT }),
    bucket: S3_BUCKET,
    region: S3_REGION,
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
    forcePathStyle: config.S3_FORCE_PATH_STYLE === 'true' || config.S3_FORCE_PATH_STYLE === '1',
    singlePartMaxBytes: config.S3_PART_BYTES,
  }
}

/** Stripe settings when a secret key is configured; undefined means no paid offers. */
export function paymentsConfigOf(config: Config) {
  if (!config.STRIPE_SECRET_KEY) return undefined
  return {
    secretKey: config.STRIPE_SECRET_KEY,
    webhookSecret: config.STRIPE_WEBHOOK_SECRET,
    apiUrl: config.STRIPE_API_URL,
    feeBps: config.PLATFORM_FEE_BPS,
  }
}

/** The upload limits createVersion enforces. */
export const uploadLimitsOf = (config: Config) => ({
  teamStorageBytes: config.TEAM_STORAGE_QUOTA_BYTES,
  filesPerVersion: config.MAX_FILES_PER_VERSION,
  fileBytes: config.MAX_FILE_BYTES,
})
