/**
 * A clock the test moves by hand: renewals fire when the test advances time, never by sleeping.
 */
import type { Clock } from '../src/types.js'

export class ManualClock implements Clock {
  private time = 1_700_000_000_000
  private nextId = 1
  private readonly timers = new Map<number, { at: number; callback: () => void }>()

  now(): number {
    return this.time
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++
    this.timers.set(id, { at: this.time + ms, callback })
    return id
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number)
  }

  get pending(): number {
    return this.timers.size
  }

  /** Move time forward, firing each due timer in order; returns how many fired. */
  advance(ms: number): number {
    const target = this.time + ms
    let fired = 0
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= target).sort((a, b) => a[1].at - b[1].at)[0]
      if (!due) break
      this.timers.delete(due[0])
      this.time = due[1].at
      fired++
      due[1].callback()
    }
    this.time = target
    return fired
  }
}
