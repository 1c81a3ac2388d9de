/**
 * Waits, only when needed, until at least `marginMs` remain in the current wall-clock window of
 * `windowMs` (aligned to the epoch, like the Postgres backend's and workerd's rate-limit windows),
 * so a test that counts events against the real clock does not see its count reset midway.
 */
export async function insideOneWindow(windowMs = 60_000, marginMs = 15_000) {
  const left = windowMs - (Date.now() % windowMs)
  if (left < marginMs) await new Promise((resolve) => setTimeout(resolve, left + 100))
}
