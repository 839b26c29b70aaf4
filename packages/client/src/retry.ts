/**
 * Retry decisions (wire.md §4.3; sem §6.1, §2.2; the README's SDK-05): pure functions of an attempt's error,
 * the attempt count, the remaining budget and an injected random source. The failover loop does the waiting.
 */
import { RETRY_POLICY } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'

/** How an attempt's failure is treated. */
export type FailureClass =
  /** Caller error or cancellation: stop, surface it. */
  | 'final'
  /** Node busy (429 `capacity_exceeded`): switch node now, no backoff. */
  | 'switch'
  /** Transient or node fault: next node after backoff. */
  | 'retry'

const FINAL_STATUS = new Set([400, 401, 403, 409, 413, 422])
/** Codes that are about this node only, whatever their status: try the next node. */
const NODE_SPECIFIC = new Set(['unknown_intent', 'IICP-E029', 'IICP-CX-02', 'IICP-CX-03', 'IICP-E060', 'IICP-E061', 'IICP-E063', 'IICP-E064'])
const CAPACITY = new Set(['capacity_exceeded', 'overloaded', 'IICP-E021'])

/** Classify an attempt's IicpError. */
export function classifyFailure(err: IicpError): FailureClass {
  if (err.code === 'aborted') return 'final'
  if (CAPACITY.has(err.code) || (err.status === 429 && err.message === 'capacity_exceeded')) return 'switch'
  if (NODE_SPECIFIC.has(err.code)) return 'switch'
  if (err.status !== undefined && FINAL_STATUS.has(err.status) && err.code !== 'timeout') return 'final'
  return 'retry'
}

/** Whether the failure counts against the node's circuit breaker (faults, not busy or refusing nodes). */
export function countsAsNodeFailure(err: IicpError): boolean {
  if (err.code === 'aborted') return false
  if (err.code === 'connection_failed' || err.code === 'timeout' || err.code === 'invalid_response') return true
  return err.status !== undefined && err.status >= 500
}

/** 200 ms × 2ⁿ ± 20% for the n-th retry (n from 0). */
export function backoffDelay(retryIndex: number, baseDelayMs: number, random: () => number): number {
  const base = baseDelayMs * RETRY_POLICY.factor ** retryIndex
  const jitter = 1 + RETRY_POLICY.jitter * (2 * random() - 1)
  return Math.max(0, Math.round(base * jitter))
}

/** The outcome of one decision. */
export type RetryDecision =
  | { readonly retry: false; readonly reason: 'final' | 'attempts_exhausted' | 'deadline' }
  | { readonly retry: true; readonly delayMs: number; readonly excludeNode: boolean }

/**
 * Decide what follows a failed attempt. `attemptsMade` counts attempts so far (≥ 1); `retryIndex` counts backoffs
 * taken; `notBeforeMs` is what remains of the `Retry-After` / `retry_after_ms` of the node the next attempt goes to
 * (the failover loop keeps one per node for the whole task), so the wait is the longer of that and the backoff; a
 * switch away from a busy node waits only for that. A wait that would not fit in the budget ends the task.
 */
export function retryDecision(args: {
  error: IicpError
  attemptsMade: number
  maxAttempts: number
  retryIndex: number
  remainingMs: number
  baseDelayMs: number
  random: () => number
  notBeforeMs?: number | undefined
}): RetryDecision {
  const cls = classifyFailure(args.error)
  if (cls === 'final') return { retry: false, reason: 'final' }
  if (args.attemptsMade >= args.maxAttempts) return { retry: false, reason: 'attempts_exhausted' }
  if (args.remainingMs <= 0) return { retry: false, reason: 'deadline' }
  const notBefore = Math.max(0, args.notBeforeMs ?? 0)
  const delayMs = cls === 'switch' ? notBefore : Math.max(backoffDelay(args.retryIndex, args.baseDelayMs, args.random), notBefore)
  if (delayMs > 0 && delayMs >= args.remainingMs) return { retry: false, reason: 'deadline' }
  return { retry: true, delayMs, excludeNode: cls === 'switch' }
}
