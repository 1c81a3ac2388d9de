/** A uuid as Postgres writes it (lower-case, hyphenated): the form of every id this API issues. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Whether a value can be compared with a uuid column without Postgres refusing the cast. */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID_PATTERN.test(value)
