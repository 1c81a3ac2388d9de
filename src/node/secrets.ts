import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { base64url, randomBytes } from '../lib/crypto'

/**
 * The token signing secret: JWT_SECRET when set, otherwise one generated on first start
 * and kept (mode 0600) in the data dir, so tokens survive restarts.
 */
export async function loadSigningSecret(dataDir: string, configured: string | undefined): Promise<string> {
  if (configured) return configured
  const path = join(dataDir, 'jwt-secret')
  try {
    const existing = (await readFile(path, 'utf8')).trim()
    if (existing.length >= 32) return existing
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  await mkdir(dataDir, { recursive: true })
  const secret = base64url(randomBytes(48))
  await writeFile(path, secret + '\n', { mode: 0o600 })
  return secret
}
