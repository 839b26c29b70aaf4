/**
 * A bounded, insertion-ordered map whose entries all live for the same time-to-live. Because every entry
 * gets the same TTL, insertion order is expiry order: pruning only ever looks at the oldest entries, so
 * each call costs O(expired) and nothing needs a timer. When full, the oldest entry makes room.
 */
export class ExpiringEntries<V> {
  private readonly entries = new Map<string, { readonly expiresAt: number; value: V }>()

  constructor(readonly ttlMs: number, readonly capacity: number) {}

  /** Live entries right now (after pruning). */
  size(now: number): number {
    this.prune(now)
    return this.entries.size
  }

  /** The value of a live entry. */
  get(key: string, now: number): V | undefined {
    const e = this.entries.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= now) {
      this.prune(now)
      return undefined
    }
    return e.value
  }

  /** Insert (or replace, restarting its TTL) an entry; evicts expired entries, then the oldest when full. */
  set(key: string, value: V, now: number): void {
    this.entries.delete(key)
    this.prune(now)
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next()
      if (!oldest.done) this.entries.delete(oldest.value)
    }
    this.entries.set(key, { expiresAt: now + this.ttlMs, value })
  }

  /** Replace the value of a live entry without touching its expiry. */
  update(key: string, value: V): void {
    const e = this.entries.get(key)
    if (e !== undefined) e.value = value
  }

  delete(key: string): void {
    this.entries.delete(key)
  }

  /** Drop every expired entry (they sit at the front). */
  prune(now: number): void {
    for (const [key, e] of this.entries) {
      if (e.expiresAt > now) return
      this.entries.delete(key)
    }
  }
}
