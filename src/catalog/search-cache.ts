/**
 * Search answers kept for a few seconds, so popular queries are served from memory instead of
 * ranking thousands of matches in Postgres again. Search results do not depend on the caller.
 * Concurrent misses for one query share a single database round trip. Publishing or changing a
 * listing clears this process's cache; other processes (and Worker isolates) see the change when
 * their entries expire.
 */
export type SearchCache = {
  /** The answer for `key`: remembered, being loaded by another request, or loaded now. */
  remember<T>(key: string, load: () => Promise<T>): Promise<T>
  clear(): void
  readonly ttlSeconds: number
}

export function createSearchCache(options: { ttlSeconds: number; maxEntries?: number; clock?: () => Date }): SearchCache {
  const maxEntries = options.maxEntries ?? 1000
  const now = () => (options.clock ? options.clock().getTime() : Date.now())
  const entries = new Map<string, { value: Promise<unknown>; expires: number }>()
  return {
    ttlSeconds: options.ttlSeconds,
    remember<T>(key: string, load: () => Promise<T>) {
      const entry = entries.get(key)
      entries.delete(key)
      if (entry && entry.expires > now()) {
        entries.set(key, entry) // most recently used last
        return entry.value as Promise<T>
      }
      const value = load()
      const fresh = { value, expires: now() + options.ttlSeconds * 1000 }
      entries.set(key, fresh)
      // A failure is not remembered: the next request tries again.
      value.catch(() => {
        if (entries.get(key) === fresh) entries.delete(key)
      })
      // Maps iterate in insertion order: the first key is the least recently used.
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!)
      return value
    },
    clear() {
      entries.clear()
    },
  }
}
