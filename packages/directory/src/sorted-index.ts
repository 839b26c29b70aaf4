/** A list of nodes kept sorted by score key (descending, node_id ascending on ties) for top-k discover. */

/** What the index needs from an entry. */
export interface Ranked {
  readonly id: string
  /** The key the entry was inserted with; must not change while indexed. */
  indexedKey: number
}

function before(a: Ranked, key: number, id: string): boolean {
  return a.indexedKey > key || (a.indexedKey === key && a.id < id)
}

/** Sorted array with binary-search insert/remove: O(log n) search plus one memmove, fine at 10 000 nodes. */
export class SortedIndex<T extends Ranked> {
  readonly items: T[] = []

  private position(key: number, id: string): number {
    let lo = 0
    let hi = this.items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (before(this.items[mid] as T, key, id)) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  insert(item: T): void {
    this.items.splice(this.position(item.indexedKey, item.id), 0, item)
  }

  /** Remove by identity; the item's indexedKey must be the one it was inserted with. */
  remove(item: T): boolean {
    const i = this.position(item.indexedKey, item.id)
    if (this.items[i] !== item) return false
    this.items.splice(i, 1)
    return true
  }

  get size(): number {
    return this.items.length
  }
}
