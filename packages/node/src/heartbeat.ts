/**
 * The heartbeat schedule (wire.md §1.3; sem §6.2): one tick at a time on injected timers, the next
 * delay chosen by the tick (the directory's `next_heartbeat_ms`), and on failure a doubling backoff
 * capped at the heartbeat interval, so a node whose directory is down keeps serving and comes back
 * by itself. `stop()` cancels the pending timer and aborts a tick in flight.
 */
import type { Timers, TimerHandle } from './timers.js'

/** What the loop runs: one beat (or a registration attempt); resolves with the delay to the next one. */
export type Tick = (signal: AbortSignal) => Promise<number>

/** Backoff after `failures` consecutive failures: base·2^(n−1), capped, with ±20 % jitter (sem §6.1). */
export function backoffDelay(failures: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const raw = Math.min(capMs, baseMs * 2 ** Math.max(0, failures - 1))
  return Math.max(1, Math.round(raw * (0.8 + 0.4 * random())))
}

/** A single-flight timer loop. */
export class HeartbeatLoop {
  private timer: TimerHandle | undefined
  private controller: AbortController | undefined
  private failures = 0
  private running = false
  /** runNow() was asked while a tick ran: run another as soon as it ends. */
  private again = false
  private stopped = true
  private inFlight: Promise<void> | undefined

  constructor(
    private readonly timers: Timers,
    private readonly tick: Tick,
    private readonly backoff: { baseMs: number; capMs: () => number },
    private readonly onFailure: (err: unknown, failures: number, retryInMs: number) => void,
  ) {}

  /** Consecutive failed ticks so far. */
  get consecutiveFailures(): number {
    return this.failures
  }

  /** Start (idempotent): the first tick runs after `firstDelayMs`. */
  start(firstDelayMs: number): void {
    if (!this.stopped) return
    this.stopped = false
    this.controller = new AbortController()
    this.schedule(firstDelayMs)
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined
      this.inFlight = this.run()
    }, Math.max(0, delayMs))
  }

  /**
   * Tick now instead of at the scheduled time, because something the directory must hear has changed (a relay
   * session went down or came back). Still one tick at a time: during a tick, the next one follows it at once.
   * Does nothing before start() or after stop().
   */
  runNow(): void {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
    this.inFlight = this.run()
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped || this.controller === undefined) return
    this.running = true
    this.again = false
    let next: number
    try {
      next = await this.tick(this.controller.signal)
      this.failures = 0
    } catch (err) {
      this.failures++
      next = backoffDelay(this.failures, this.backoff.baseMs, this.backoff.capMs())
      if (!this.stopped) this.onFailure(err, this.failures, next)
    } finally {
      this.running = false
    }
    if (this.again && !this.stopped) {
      this.inFlight = this.run()
      return
    }
    this.schedule(next)
  }

  /** Stop (idempotent): clears the timer, aborts a tick in flight and waits for it. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
    this.controller?.abort()
    this.controller = undefined
    await this.inFlight
  }
}
