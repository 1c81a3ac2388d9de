import type { Context } from 'hono'
import type { ApiError } from '../lib/errors'
import { DISABLED_MESSAGE } from './repos'

/** Paths of the Hub protocol (not a storefront page of a team that happens to be called `hf`). */
export const isHubPath = (path: string) => path.startsWith('/hf/api/') || /^\/hf\/[^/]+\/[^/]+\/(resolve|raw)\//.test(path)

/** Our codes as the Hub names them in `X-Error-Code`; Hub clients raise their own error types from these. */
const HUB_ERROR_CODES: Record<string, string> = {
  repo_not_found: 'RepoNotFound',
  revision_not_found: 'RevisionNotFound',
  entry_not_found: 'EntryNotFound',
  gated_repo: 'GatedRepo',
}

/**
 * An error as the Hub answers it: JSON `{error}`, `X-Error-Code` for the kinds clients tell apart,
 * `X-Error-Message` (huggingface_hub reads a few exact ones: a bad token, a disabled repo).
 */
export function hubError(c: Context, error: ApiError, requestId: string | undefined) {
  const code = HUB_ERROR_CODES[error.code]
  const message = error.status === 401 && error.code !== 'unauthorized' ? 'Invalid credentials in Authorization header' : error.message
  const headers: Record<string, string> = {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    // Header values are bytes: the message's typographic quotes and dashes become ASCII.
    'X-Error-Message': error.code === 'repo_disabled' ? DISABLED_MESSAGE : asciiOnly(message),
    ...(code ? { 'X-Error-Code': code } : {}),
    ...(requestId ? { 'X-Request-Id': requestId } : {}),
    ...error.headers,
  }
  return c.body(JSON.stringify({ error: message, code: error.code }), error.status, headers)
}

const asciiOnly = (text: string) => text.replace(/[‘’]/g, "'").replace(/[“”]/g, '"').replace(/[–—]/g, '-').replace(/[^\x20-\x7e]/g, '?')
