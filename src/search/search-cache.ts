/**
 * Search answers kept for a few seconds, so popular queries are served from memory instead of
 * ranking thousands of matches in Postgres again. Search results do not depend on the caller.
 * Concurrent misses for one query share a single database round trip, and an expired answer is
 * served while one request loads its replacement, so an entry expiring under load sends one
 * query to Postgres, not one per waiting client. Publishing or changing a listing clears this
 * process's cache (nothing stale is served after that); other processes (and Worker isolates)
 * see the change when their entries expire.
 */
export type SearchCache = {
  /** The answer for `key`: remembered (fresh, or expired while its refresh runs), being loaded by another request, or loaded now. */
  remember<T>(key: string, load: () => Promise<T>): Promise<T>
  clear(): void
  readonly ttlSeconds: number
}

type Entry = {
  value: Promise<unknown>
  expires: number
  /** Whether `value` has resolved: only a resolved answer is served stale. */
  settled: boolean
  refreshing: boolean
}

export function createSearchCache(options: { ttlSeconds: number; maxEntries?: number; clock?: () => Date }): SearchCache {
  const maxEntries = options.maxEntries ?? 1000
  const now = () => (options.clock ? options.clock().getTime() : Date.now())
  const entries = new Map<string, Entry>()

  const store = (key: string, value: Promise<unknown>) => {
    const entry: Entry = { value, expires: now() + options.ttlSeconds * 1000, settled: false, refreshing: false }
    entries.delete(key)
    entries.set(key, entry)
    value.then(
      () => {
        entry.settled = true
      },
      // A failure is not remembered: the next request tries again.
      () => {
        if (entries.get(key) === entry) entries.delete(key)
      },
    )
    // Maps iterate in insertion order: the first key is the least recently used.
    if (entries.size > maxEntries) entries.delete(entries.keys().next().value!)
    return entry
  }

  /** Loads a replacement for an expired answer, which keeps being served until it arrives. */
  const refresh = (key: string, stale: Entry, load: () => Promise<unknown>) => {
    stale.refreshing = true
    const value = load()
    value.then(
      () => {
        // Not if the cache was cleared (or the key replaced) meanwhile: this may predate the change.
        if (entries.get(key) === stale) store(key, value)
      },
      () => {
        // The next request loads afresh, and waits for it: a failing database is not hidden for long.
        if (entries.get(key) === stale) entries.delete(key)
      },
    )
  }

  return {
    ttlSeconds: options.ttlSeconds,
    remember<T>(key: string, load: () => Promise<T>) {
      const entry = entries.get(key)
      if (!entry) return store(key, load()).value as Promise<T>
      entries.delete(key)
      entries.set(key, entry) // most recently used last
      if (entry.expires <= now() && entry.settled && !entry.refreshing) refresh(key, entry, load)
      // Fresh, expired but settled (stale while one refresh runs), or still loading (shared).
      return entry.value as Promise<T>
    },
    clear() {
      entries.clear()
    },
  }
}
