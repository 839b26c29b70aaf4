/** Fixed-window per-client counters (wire.md §1.12: register 60 / 60 s per source IP → 429 + Retry-After). */
import type { RateLimit } from '../options.js'

/** Counts requests per key in fixed windows; `sweep` drops finished windows. */
export class RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>()

  constructor(private readonly limit: RateLimit | false) {}

  /** undefined when allowed, else milliseconds until the window resets. */
  hit(key: string, now: number): number | undefined {
    if (this.limit === false) return undefined
    let w = this.windows.get(key)
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + this.limit.windowMs }
      this.windows.set(key, w)
    }
    w.count++
    return w.count > this.limit.max ? w.resetAt - now : undefined
  }

  sweep(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k)
  }
}
