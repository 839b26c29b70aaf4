/** A hand-driven clock for the heartbeat loop: nothing fires until the test calls advance(). */
import type { Timers } from '../../src/index.js'

interface Pending {
  id: number
  at: number
  fn: () => void
}

export class ManualTimers implements Timers {
  private t: number
  private seq = 0
  private pending: Pending[] = []
  /** Every delay ever scheduled, in order (for asserting the schedule itself). */
  readonly scheduled: number[] = []

  constructor(start = 1_800_000_000_000) {
    this.t = start
  }

  now(): number {
    return this.t
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const p = { id: ++this.seq, at: this.t + ms, fn }
    this.scheduled.push(ms)
    this.pending.push(p)
    return p.id
  }

  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== handle)
  }

  /** Number of timers waiting. */
  get size(): number {
    return this.pending.length
  }

  /** Move the clock forward, firing every timer that falls due, in time order. */
  advance(ms: number): void {
    const end = this.t + ms
    for (;;) {
      this.pending.sort((a, b) => a.at - b.at || a.id - b.id)
      const next = this.pending[0]
      if (next === undefined || next.at > end) break
      this.pending.shift()
      this.t = next.at
      next.fn()
    }
    this.t = end
  }
}
