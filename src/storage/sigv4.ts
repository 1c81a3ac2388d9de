import { createHash, createHmac } from 'node:crypto'

/**
 * SigV4 query signing for S3 GETs, the hot path of every download. The AWS SDK presigner runs
 * its whole middleware stack and re-derives the signing key on every call (~2,000 URLs/s here);
 * the signature itself is one SHA-256 and one HMAC once the day's signing key is cached.
 * node:crypto is synchronous and ~15× faster than Web Crypto for these small inputs; workerd
 * provides it under the nodejs_compat flag this Worker already needs. The result is the URL the
 * SDK makes (tests compare them parameter by parameter).
 */
export type PresignCredentials = {
  endpoint?: string
  region: string
  bucket: string
  accessKeyId: string
  secretAccessKey: string
  forcePathStyle: boolean
}

export function createGetPresigner(config: PresignCredentials) {
  const endpoint = new URL(config.endpoint ?? `https://s3.${config.region}.amazonaws.com`)
  // As the SDK decides: virtual-hosted unless asked otherwise or the bucket is no DNS label.
  const pathStyle = config.forcePathStyle || !/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(config.bucket)
  const host = pathStyle ? endpoint.host : `${config.bucket}.${endpoint.host}`
  const prefix = pathStyle ? `/${encodeSegment(config.bucket)}` : ''
  let cachedDay = ''
  let cachedKey: Uint8Array = new Uint8Array(0)

  function signingKey(day: string): Uint8Array {
    if (day !== cachedDay) {
      const kDate = createHmac('sha256', `AWS4${config.secretAccessKey}`).update(day).digest()
      const kRegion = createHmac('sha256', kDate).update(config.region).digest()
      const kService = createHmac('sha256', kRegion).update('s3').digest()
      cachedKey = createHmac('sha256', kService).update('aws4_request').digest()
      cachedDay = day
    }
    return cachedKey
  }

  return function presignGet(key: string, options: { expiresInSeconds: number; contentDisposition?: string; now?: Date }): string {
    const amzDate = (options.now ?? new Date()).toISOString().replace(/[-:]|\.\d{3}/g, '') // 20261125T101500Z
    const day = amzDate.slice(0, 8)
    const scope = `${day}/${config.region}/s3/aws4_request`
    const path = `${prefix}/${key.split('/').map(encodeSegment).join('/')}`
    const params: [string, string][] = [
      ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
      ['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD'],
      ['X-Amz-Credential', `${config.accessKeyId}/${scope}`],
      ['X-Amz-Date', amzDate],
      ['X-Amz-Expires', String(options.expiresInSeconds)],
      ['X-Amz-SignedHeaders', 'host'],
      ...(options.contentDisposition ? ([['response-content-disposition', options.contentDisposition]] as [string, string][]) : []),
      ['x-id', 'GetObject'],
    ]
    const query = params
      .map(([name, value]) => `${encodeRfc3986(name)}=${encodeRfc3986(value)}`)
      .sort()
      .join('&')
    const canonicalRequest = `GET\n${path}\n${query}\nhost:${host}\n\nhost\nUNSIGNED-PAYLOAD`
    const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`
    const signature = createHmac('sha256', signingKey(day)).update(stringToSign).digest('hex')
    return `${endpoint.protocol}//${host}${path}?${query}&X-Amz-Signature=${signature}`
  }
}

/** RFC 3986 percent-encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

const encodeSegment = encodeRfc3986
