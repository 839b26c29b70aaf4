/**
 * Rolling-window per-client limits (wire.md §1.2: register 60 per rolling 60 s per source IP → 429 with
 * `retry_after` and Retry-After; §1.8: directory key 30 per minute).
 *
 * Exact sliding log rather than fixed windows: a fixed window lets a client send `2 × max` within one window
 * length across a boundary, and the spec says rolling. Each client keeps the times of its accepted requests
 * inside the window (at most `max` numbers; refused requests are not recorded, so hammering does not extend a
 * wait), so memory is bounded by `max` per active client and `sweep` forgets idle ones.
 */
import type { RateLimit } from '../options.js'

/** Accepted-request times of one client, oldest first, from `head` on. */
interface Log {
  times: number[]
  head: number
}

/** Counts requests per key over a rolling window. */
export class RateLimiter {
  private readonly logs = new Map<string, Log>()

  constructor(private readonly limit: RateLimit | false) {}

  /** undefined when allowed (and counted), else milliseconds until the oldest counted request leaves the window. */
  hit(key: string, now: number): number | undefined {
    if (this.limit === false) return undefined
    const { max, windowMs } = this.limit
    let log = this.logs.get(key)
    if (!log) {
      log = { times: [], head: 0 }
      this.logs.set(key, log)
    }
    const horizon = now - windowMs
    while (log.head < log.times.length && (log.times[log.head] ?? 0) <= horizon) log.head++
    if (log.times.length - log.head >= max) return Math.max(1, (log.times[log.head] ?? now) + windowMs - now)
    // Drop the consumed prefix once it is as long as what is left, so the array stays within 2 × max.
    if (log.head > 0 && log.head >= log.times.length - log.head) {
      log.times = log.times.slice(log.head)
      log.head = 0
    }
    log.times.push(now)
    return undefined
  }

  /** Forget clients whose every counted request has left the window. */
  sweep(now: number): void {
    if (this.limit === false) return
    const horizon = now - this.limit.windowMs
    for (const [k, log] of this.logs) if ((log.times[log.times.length - 1] ?? 0) <= horizon) this.logs.delete(k)
  }
}
