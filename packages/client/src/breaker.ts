/**
 * Per-node circuit breakers (sem §7; wire.md §4.4): open after N consecutive failures, stay open for a while,
 * then let exactly one half-open probe through; its success closes the breaker, its failure reopens it.
 * State lives per client, keyed by node id; the clock is injected.
 */

/** A breaker's state as seen by selection. */
export type BreakerState = 'closed' | 'open' | 'half_open'

interface Entry {
  failures: number
  openedAt: number | undefined
  probing: boolean
}

/** All breakers of one client. */
export class CircuitBreakers {
  readonly #entries = new Map<string, Entry>()
  readonly #threshold: number
  readonly #openMs: number
  readonly #clock: () => number

  constructor(threshold: number, openMs: number, clock: () => number) {
    this.#threshold = threshold
    this.#openMs = openMs
    this.#clock = clock
  }

  /** Current state of a node's breaker. */
  state(nodeId: string): BreakerState {
    const e = this.#entries.get(nodeId)
    if (!e || e.openedAt === undefined) return 'closed'
    return this.#clock() - e.openedAt >= this.#openMs ? 'half_open' : 'open'
  }

  /** Whether a request may go to this node now; a half-open breaker admits one probe at a time. */
  allows(nodeId: string): boolean {
    const s = this.state(nodeId)
    if (s === 'closed') return true
    if (s === 'open') return false
    return !(this.#entries.get(nodeId)?.probing ?? false)
  }

  /** Mark the start of a request; in half-open state this claims the single probe slot. */
  begin(nodeId: string): void {
    const e = this.#entries.get(nodeId)
    if (e && this.state(nodeId) === 'half_open') e.probing = true
  }

  /** The node answered properly: close its breaker. */
  success(nodeId: string): void {
    if (this.#entries.has(nodeId)) this.#entries.delete(nodeId)
  }

  /** The node failed: count it; open (or reopen after a failed probe) at the threshold. */
  failure(nodeId: string): void {
    let e = this.#entries.get(nodeId)
    if (!e) {
      e = { failures: 0, openedAt: undefined, probing: false }
      this.#entries.set(nodeId, e)
    }
    e.failures += 1
    if (e.probing || e.failures >= this.#threshold) {
      e.openedAt = this.#clock()
      e.probing = false
    }
  }

  /** The request ended without a verdict on the node (e.g. caller abort): release a held probe slot. */
  release(nodeId: string): void {
    const e = this.#entries.get(nodeId)
    if (e) e.probing = false
  }
}
