/**
 * Per-Origin task rate limit (IICP-core §3.1 "SHOULD rate-limit POST /v1/task per Origin";
 * reference-implementations §5.5; official-sdks §3.5 step 1): at most `limit` tasks in any rolling
 * `windowMs` from one browser Origin, else 429 `IICP-E023` with `Retry-After` saying when the next one
 * fits. Only requests carrying an `Origin` header are counted: server-side consumers send none.
 *
 * Each Origin keeps a ring of its last `limit` admission times, so the window is exact (no burst of
 * 2× at a fixed-window boundary) and a check is O(1).
 */
import { IicpError } from '@iicp/protocol'

/** Tasks per window per Origin (`IICP_TASK_RATE_LIMIT`). */
export const DEFAULT_TASK_RATE_LIMIT = 120
/** The rolling window. */
export const DEFAULT_TASK_RATE_WINDOW_MS = 60_000
/** Most Origins tracked at once; idle ones are dropped first when full. */
export const ORIGIN_CAPACITY = 10_000

interface OriginLog {
  readonly times: Float64Array
  next: number
  count: number
  last: number
}

/** Sliding-log limiter keyed by Origin. */
export class OriginRateLimiter {
  private readonly origins = new Map<string, OriginLog>()

  constructor(readonly limit: number, readonly windowMs: number, private readonly capacity: number = ORIGIN_CAPACITY) {}

  /** Admit one task from `origin` at `now`, or return the 429 to answer with. */
  admit(origin: string, now: number): IicpError | undefined {
    let log = this.origins.get(origin)
    if (log === undefined) {
      if (this.origins.size >= this.capacity) this.makeRoom(now)
      log = { times: new Float64Array(this.limit), next: 0, count: 0, last: now }
      this.origins.set(origin, log)
    }
    if (log.count >= this.limit) {
      // The slot about to be overwritten holds the oldest of the last `limit` admissions.
      const oldest = log.times[log.next] as number
      const freeAt = oldest + this.windowMs
      if (freeAt > now) {
        const retryAfterMs = freeAt - now
        return new IicpError('IICP-E023', 'Task rate limit for this Origin exceeded', { retryAfterMs, extra: { reason: 'origin_rate_limited' } })
      }
    } else {
      log.count++
    }
    log.times[log.next] = now
    log.next = (log.next + 1) % this.limit
    log.last = now
    return undefined
  }

  /** Origins tracked now. */
  get size(): number {
    return this.origins.size
  }

  private makeRoom(now: number): void {
    for (const [origin, log] of this.origins) if (log.last + this.windowMs <= now) this.origins.delete(origin)
    if (this.origins.size < this.capacity) return
    // Everyone is active: forget the Origin tracked longest (Map order is insertion order).
    const first = this.origins.keys().next()
    if (!first.done) this.origins.delete(first.value)
  }
}
