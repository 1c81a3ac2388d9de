import type { z } from 'zod'

/**
 * A jsonb value read back without the shape its column declares (`jsonb().$type<…>()`): a row
 * written by hand, by an older version of the code, or damaged. Thrown where the value is read,
 * naming the row and what is wrong, before it reaches code that would fail obscurely far away
 * (the compatibility engine, a Stripe event's handler). A request meeting it answers 500
 * `internal_error` and the message goes to the log; a job fails with it as its error.
 */
export class StoredShapeError extends Error {
  constructor(
    readonly column: string,
    readonly key: string,
    readonly issues: string,
  ) {
    super(`${column} of ${key} does not have the shape the code stores: ${issues}`)
    this.name = 'StoredShapeError'
  }
}

/** One zod issue as `path: message`, the path dotted (`header.tensors.3.shape`). */
const describe = (issue: z.core.$ZodIssue) => `${issue.path.length > 0 ? issue.path.join('.') : '(the value)'}: ${issue.message}`

/**
 * `value` (read from `column` of the row `key`) once `schema` accepts it, unchanged: the column's
 * type is what the code relies on, the schema what makes it true at run time. Unknown keys pass
 * (the value is returned as read, not as parsed).
 */
export function checkStored<T>(value: T, schema: z.ZodType, column: string, key: string): T {
  const result = schema.safeParse(value)
  if (!result.success) throw new StoredShapeError(column, key, result.error.issues.slice(0, 5).map(describe).join('; '))
  return value
}
