/**
 * The clock and timers the node's loops run on. Injected so tests can drive a heartbeat schedule of
 * 30 s without waiting (SDK-NODE-01), and so nothing the node schedules keeps a process alive by itself.
 */

/** An opaque handle returned by {@link Timers.setTimeout}. */
export type TimerHandle = unknown

/** Clock plus one-shot timers; the node never calls the globals directly for its loops. */
export interface Timers {
  /** Milliseconds since the epoch. */
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/** Wall clock and real timers; timers are unref'd because the HTTP server is what keeps a node alive. */
export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  },
}
