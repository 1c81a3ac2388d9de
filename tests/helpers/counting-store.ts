import type { ObjectStore } from '../../src/storage/types'

/** Wraps a real store and counts the bytes each read hands back, per key. */
export function countingStore(store: ObjectStore) {
  const ranged = new Map<string, number>()
  const streamed = new Map<string, number>()
  const add = (counts: Map<string, number>, key: string, bytes: number) => counts.set(key, (counts.get(key) ?? 0) + bytes)
  const counting: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
    async getRange(key: string, start: number, endInclusive: number) {
      const bytes = await store.getRange(key, start, endInclusive)
      add(ranged, key, bytes.byteLength)
      return bytes
    },
    async getStream(key: string) {
      const stream = await store.getStream(key)
      return stream.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            add(streamed, key, chunk.byteLength)
            controller.enqueue(chunk)
          },
        }),
      )
    },
  })
  /** Bytes read from every key whose name ends with `suffix`. */
  const readOf = (suffix: string) => {
    let total = 0
    for (const counts of [ranged, streamed]) for (const [key, bytes] of counts) if (key.endsWith(suffix)) total += bytes
    return total
  }
  return { store: counting, readOf }
}
