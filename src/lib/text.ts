/**
 * Text Postgres cannot store. `text` and `jsonb` refuse U+0000; `jsonb` also refuses half a
 * UTF-16 surrogate pair, which JSON can carry as an escape (`"\ud800"`) and UTF-8 cannot.
 * Pure, so the compat engine (CLI, workerd) uses it too.
 */
export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** Why Postgres could not store `text`, or undefined when it can. */
export function unstorable(text: string): string | undefined {
  if (text.includes('\u0000')) return 'holds a NUL character (\\u0000), which cannot be stored'
  if (LONE_SURROGATE.test(text)) return 'holds a lone UTF-16 surrogate (such as \\ud800), which is not text and cannot be stored'
  return undefined
}
