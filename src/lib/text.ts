/**
 * Text Postgres cannot store. `text` and `jsonb` refuse U+0000; `jsonb` also refuses half a
 * UTF-16 surrogate pair, which JSON can carry as an escape (`"\ud800"`) and UTF-8 cannot.
 * Pure, so the compat engine (CLI, workerd) uses it too.
 */
export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

const SURROGATE = /[\ud800-\udfff]/

/** `LONE_SURROGATE.test(text)`, answered by a plain scan for the usual text with no surrogate at all. */
export function hasLoneSurrogate(text: string): boolean {
  return SURROGATE.test(text) && LONE_SURROGATE.test(text)
}

/** Any NUL or surrogate code unit: a string without one is storable, and most strings have none. */
const SUSPECT = /[\u0000\ud800-\udfff]/

/** Whether Postgres can store `text` (the cheap question `unstorable` answers with its reason). */
export function storable(text: string): boolean {
  return !SUSPECT.test(text) || unstorable(text) === undefined
}

/** Why Postgres could not store `text`, or undefined when it can. */
export function unstorable(text: string): string | undefined {
  if (text.includes('\u0000')) return 'holds a NUL character (\\u0000), which cannot be stored'
  if (LONE_SURROGATE.test(text)) return 'holds a lone UTF-16 surrogate (such as \\ud800), which is not text and cannot be stored'
  return undefined
}
