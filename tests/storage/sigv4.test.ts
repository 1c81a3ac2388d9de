import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { describe, expect, it } from 'vitest'
import { createGetPresigner, type PresignCredentials } from '../../src/storage/sigv4'
import { contentDisposition } from '../../src/storage/types'

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }
const now = new Date('2026-11-25T10:15:30.123Z')

/** The URL the AWS SDK's own presigner makes, for the same inputs and clock. */
async function sdkUrl(config: PresignCredentials, key: string, expiresIn: number, disposition?: string) {
  // Configured as createS3Store configures its client.
  const client = new S3Client({
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
  const command = new GetObjectCommand({ Bucket: config.bucket, Key: key, ...(disposition ? { ResponseContentDisposition: disposition } : {}) })
  return getSignedUrl(client, command, { expiresIn, signingDate: now })
}

const parts = (url: string) => {
  const parsed = new URL(url)
  return { origin: parsed.origin, path: parsed.pathname, params: Object.fromEntries([...parsed.searchParams.entries()].sort(([a], [b]) => a.localeCompare(b))) }
}

describe('the S3 GET presigner', () => {
  it.each([
    ['path style on a local endpoint with a port', { endpoint: 'http://127.0.0.1:4568', region: 'us-east-1', bucket: 'refinery', forcePathStyle: true }],
    ['virtual-hosted on AWS', { region: 'eu-west-1', bucket: 'refinery-adapters', forcePathStyle: false }],
    ['R2-style endpoint, virtual-hosted', { endpoint: 'https://abc123.r2.cloudflarestorage.com', region: 'auto', bucket: 'adapters', forcePathStyle: false }],
  ] as const)('signs exactly as the AWS SDK does: %s', async (_, location) => {
    const config = { ...location, ...credentials }
    const presign = createGetPresigner(config)
    for (const [key, filename] of [
      ['adapters/0b6c/1f2e/adapter_model.safetensors', 'legal-zh-1.0.0-adapter_model.safetensors'],
      ['adapters/a b/c+d/weights (final)!.safetensors', undefined],
      ['adapters/模型/ünïcode/README.md', 'ünïcode "quoted" name.md'],
    ] as const) {
      const disposition = filename ? contentDisposition(filename) : undefined
      const ours = presign(key, { expiresInSeconds: 900, now, ...(disposition ? { contentDisposition: disposition } : {}) })
      expect(parts(ours)).toEqual(parts(await sdkUrl(config, key, 900, disposition)))
    }
  })
})
