/**
 * Owns the route the ladder found (wire.md §6.2: renew ~30 min; nat1 §5): renews every mapping and
 * pinhole at half its lease, retries a failed renewal while the lease lasts, and deletes them all on
 * close so nothing outlives the node.
 */
import { isIicpError, silentLogger } from '@iicp/protocol'
import { runDetection } from './detect-reachability.js'
import type { Detection, DetectReachabilityOptions, HeldLease, ReachabilityResult } from './detect-reachability.js'
import { systemClock } from './options.js'
import type { Clock } from './types.js'

/** Renewal never waits less than this, so a tiny lease cannot spin. */
const MIN_RENEW_DELAY_MS = 1_000
/** A failed renewal is retried after at most this long. */
const MAX_RETRY_DELAY_MS = 30_000

/** Options of `reachabilityManager`: the ladder's, plus the clock and a loss callback. */
export interface ReachabilityManagerOptions extends DetectReachabilityOptions {
  clock?: Clock
  /** Called when a lease ran out before it could be renewed; the node should re-register. */
  onLeaseLost?: (info: { kind: HeldLease['kind']; result: ReachabilityResult }) => void
}

/** Detects once on start(), keeps the route alive, removes it on close(). */
export interface ReachabilityManager {
  /** Run the ladder (once; later calls return the same result). */
  start(): Promise<ReachabilityResult>
  /** The result of start(), once it resolved. */
  readonly result: ReachabilityResult | undefined
  /** How many renewals succeeded so far (for status output). */
  readonly renewals: number
  /** Stop renewing and delete every mapping and pinhole. Idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Create a manager; nothing touches the network before start(). */
export function reachabilityManager(options: ReachabilityManagerOptions): ReachabilityManager {
  const clock = options.clock ?? systemClock
  const logger = (options.logger ?? silentLogger).child({ component: 'nat.manager' })
  const shutdown = new AbortController()
  const signal = options.signal ? AbortSignal.any([options.signal, shutdown.signal]) : shutdown.signal
  const timers = new Set<unknown>()
  const inflight = new Set<Promise<void>>()
  let detection: Detection | undefined
  let starting: Promise<ReachabilityResult> | undefined
  let closing: Promise<void> | undefined
  let renewals = 0

  function schedule(lease: HeldLease, delayMs: number): void {
    if (shutdown.signal.aborted) return
    const handle = clock.setTimeout(() => {
      timers.delete(handle)
      const run = renew(lease).finally(() => inflight.delete(run))
      inflight.add(run)
    }, Math.max(MIN_RENEW_DELAY_MS, delayMs))
    timers.add(handle)
  }

  function halfLife(lease: HeldLease): number {
    return (lease.expiresAt - clock.now()) / 2
  }

  async function renew(lease: HeldLease): Promise<void> {
    if (shutdown.signal.aborted) return
    try {
      await lease.renew(shutdown.signal)
      renewals++
      logger.debug({ kind: lease.kind }, 'lease renewed')
      if (Number.isFinite(lease.expiresAt)) schedule(lease, halfLife(lease))
    } catch (err) {
      if (shutdown.signal.aborted) return
      const left = lease.expiresAt - clock.now()
      const code = isIicpError(err) ? err.code : 'unknown'
      if (left <= 0) {
        logger.warn({ kind: lease.kind, code }, 'lease ran out before it could be renewed; the advertised route is gone')
        if (detection) options.onLeaseLost?.({ kind: lease.kind, result: detection.result })
        return
      }
      logger.warn({ kind: lease.kind, code, leftMs: left }, 'lease renewal failed; retrying while the lease lasts')
      schedule(lease, Math.min(MAX_RETRY_DELAY_MS, left / 2))
    }
  }

  async function start(): Promise<ReachabilityResult> {
    starting ??= (async () => {
      const found = await runDetection({ ...options, signal })
      detection = found
      // If close() ran while the ladder was climbing, schedule() does nothing and close() releases.
      for (const lease of found.leases) if (Number.isFinite(lease.expiresAt)) schedule(lease, halfLife(lease))
      return found.result
    })()
    return starting
  }

  async function release(found: Detection): Promise<void> {
    for (const lease of found.leases) {
      try {
        await lease.release()
      } catch (err) {
        // Best effort at shutdown: the gateway drops the lease when it ends.
        logger.warn({ kind: lease.kind, code: isIicpError(err) ? err.code : 'unknown' }, 'could not delete a lease on close')
      }
    }
    await found.dispose()
  }

  async function close(): Promise<void> {
    closing ??= (async () => {
      for (const handle of timers) clock.clearTimeout(handle)
      timers.clear()
      shutdown.abort()
      await Promise.allSettled([...inflight])
      if (starting) await starting.catch(() => undefined)
      if (detection) await release(detection)
    })()
    return closing
  }

  return {
    start,
    get result() {
      return detection?.result
    },
    get renewals() {
      return renewals
    },
    close,
    [Symbol.asyncDispose]: close,
  }
}
