import { z } from 'zod'
import { base64url, fromBase64url } from './crypto'
import { ApiError } from './errors'
import { UUID_PATTERN } from './uuid'

/** An opaque keyset-pagination cursor: the last row's sort key, base64url-encoded JSON. */
export const encodeCursor = (position: Record<string, unknown>) => base64url(new TextEncoder().encode(JSON.stringify(position)))

/**
 * Reads a cursor back through `schema`, which must admit only values the query can take as
 * parameters (a timestamp Postgres can store, an integer in range…): a cursor is caller input.
 * Anything this API did not issue (or issued for another sort) is a 400 `invalid_cursor`.
 */
export function decodeCursor<S extends z.ZodType>(text: string, schema: S): z.output<S> {
  let position: unknown
  try {
    position = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(fromBase64url(text)))
  } catch {
    throw invalidCursor()
  }
  const parsed = schema.safeParse(position)
  if (!parsed.success) throw invalidCursor()
  return parsed.data
}

const invalidCursor = () => new ApiError('invalid_cursor', 'The cursor is not one this API issued.')

/** A row id as cursors carry it. */
export const CursorUuid = z.string().regex(UUID_PATTERN)

/**
 * A timestamp as `Date#toISOString` writes it, for a real instant Postgres can store: "1",
 * "0" or "+275760-09-13T00:00:00.000Z" parse in JavaScript but not as a `timestamptz`.
 */
export const CursorTimestamp = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
  .refine((value) => {
    const date = new Date(value)
    // Round-trips exactly (no 31 February), and not year 0, which Postgres does not have.
    return !Number.isNaN(date.getTime()) && date.toISOString() === value && date.getUTCFullYear() >= 1
  })

/** A value of a Postgres `integer` column. */
export const CursorInteger = z.number().int().min(-2_147_483_648).max(2_147_483_647)

/** A value of a Postgres `real` column: finite and not so small it would round to zero (1e308, 1e-50 are out of range). */
export const CursorReal = z.number().refine((value) => {
  const single = Math.fround(value)
  return Number.isFinite(single) && (value === 0 || single !== 0)
})

