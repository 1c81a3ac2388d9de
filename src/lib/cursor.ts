import { base64url, fromBase64url } from './crypto'
import { ApiError } from './errors'

/** An opaque keyset-pagination cursor: the last row's sort key, base64url-encoded JSON. */
export const encodeCursor = (position: Record<string, unknown>) => base64url(new TextEncoder().encode(JSON.stringify(position)))

/** Reads a cursor back; anything this API did not issue (or issued for another sort) is a 422. */
export function decodeCursor<T>(text: string, accept: (position: Record<string, unknown>) => T | undefined): T {
  try {
    const position: unknown = JSON.parse(new TextDecoder().decode(fromBase64url(text)))
    if (position && typeof position === 'object' && !Array.isArray(position)) {
      const accepted = accept(position as Record<string, unknown>)
      if (accepted !== undefined) return accepted
    }
  } catch {
    // fall through to the problem below
  }
  throw new ApiError(422, 'invalid_cursor', 'The cursor is not one this API issued.')
}

export const isUuid = (value: unknown): value is string => typeof value === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)
export const isTimestamp = (value: unknown): value is string => typeof value === 'string' && !Number.isNaN(Date.parse(value))
