/**
 * A hand-driven clock for a node's heartbeat loop (the @iicp/node `Timers` seam): nothing fires until
 * advance() is called, so SDK-NODE-01 checks the 35 s first-heartbeat window without waiting 35 s.
 */
import type { TimerHandle, Timers } from '@iicp/node'

interface Pending {
  readonly id: number
  readonly at: number
  readonly fn: () => void
}

/** Timers driven by {@link ManualTimers.advance}. */
export class ManualTimers implements Timers {
  #now: number
  #seq = 0
  #pending: Pending[] = []

  constructor(start = 1_800_000_000_000) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const p = { id: ++this.#seq, at: this.#now + Math.max(0, ms), fn }
    this.#pending.push(p)
    return p.id
  }

  clearTimeout(handle: TimerHandle): void {
    this.#pending = this.#pending.filter((p) => p.id !== handle)
  }

  /** Milliseconds until the earliest pending timer, or undefined when none is pending. */
  nextDueIn(): number | undefined {
    if (this.#pending.length === 0) return undefined
    return Math.min(...this.#pending.map((p) => p.at)) - this.#now
  }

  /** Move the clock forward, firing due timers in time order. */
  advance(ms: number): void {
    const end = this.#now + ms
    for (;;) {
      this.#pending.sort((a, b) => a.at - b.at || a.id - b.id)
      const next = this.#pending[0]
      if (next === undefined || next.at > end) break
      this.#pending.shift()
      this.#now = next.at
      next.fn()
    }
    this.#now = end
  }
}
