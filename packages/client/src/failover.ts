/**
 * The failover loop (wire.md §4.3, §4.4; sem §6.1, §8): one attempt per step, moving through the candidates in
 * order (wrapping when there are fewer candidates than attempts), backing off by the retry module's decision,
 * switching away from busy nodes at once, feeding the circuit breakers, and ending in the node's own final
 * error, `timeout` when every attempt timed out, or `no_available_node`. The deadline bounds everything.
 * A node's `Retry-After` holds for the rest of the task: coming round to it again, the loop skips it for a node
 * that is free, or waits until it is free when none is, and ends the task when that wait would outlast the deadline.
 */
import { IicpError, isIicpError } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import type { CircuitBreakers } from './breaker.js'
import { AttemptBudget } from './deadline.js'
import type { Cancellation, Deadline } from './deadline.js'
import { classifyFailure, countsAsNodeFailure, retryDecision } from './retry.js'
import type { Candidate } from './select-node.js'

/** One failed attempt, as reported in TaskResult.errors and on the final error's `extra.attempts`. */
export interface AttemptError {
  readonly nodeId: string
  readonly code: string
  readonly status: number | undefined
  readonly message: string
}

/** What a successful run reports. */
export interface FailoverOutcome<T> {
  readonly value: T
  readonly candidate: Candidate
  readonly attempts: number
  readonly errors: readonly AttemptError[]
}

/** Knobs and seams of one run. */
export interface FailoverOptions {
  readonly maxAttempts: number
  readonly baseDelayMs: number
  readonly attemptTimeoutMs: number | undefined
  readonly deadline: Deadline
  readonly breakers: CircuitBreakers
  readonly random: () => number
  /** Clock in ms, for the per-node Retry-After times. */
  readonly clock: () => number
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>
  readonly logger: Logger
  /** Replaces every occurrence of a secret in error messages. */
  readonly redact: (text: string) => string
}

function withAttempts(err: IicpError, errors: readonly AttemptError[], redact: (t: string) => string): IicpError {
  return new IicpError(err.code, redact(err.message), {
    ...(err.status === undefined ? {} : { status: err.status }),
    retryable: err.retryable,
    cause: err,
    ...(err.fields ? { fields: err.fields } : {}),
    ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
    extra: { ...err.extra, attempts: errors },
  })
}

const nothing = (): void => {}

/** The least `constraints.timeout_ms` a node accepts (task.json: 100..300000); with less left, no attempt is made. */
export const MIN_ATTEMPT_MS = 100

function attemptCancel(deadline: Deadline, ms: number | undefined): { cancel: Cancellation; done: () => void } {
  if (ms === undefined || ms >= deadline.remaining()) return { cancel: deadline, done: nothing }
  const budget = new AttemptBudget(deadline, ms)
  return { cancel: budget, done: () => budget.dispose() }
}

/** The candidate an attempt goes to, and how long its Retry-After still runs (0: free now). */
interface Pick {
  readonly index: number
  readonly waitMs: number
}

/** Run `attempt` over the candidates until one succeeds or the policy says stop. */
export async function runFailover<T>(
  candidates: readonly Candidate[], opts: FailoverOptions, attempt: (c: Candidate, cancel: Cancellation, remainingMs: number) => Promise<T>,
): Promise<FailoverOutcome<T>> {
  const errors: AttemptError[] = []
  let excluded: Set<string> | undefined
  /** Per node, the clock time its Retry-After ends: set by a failure that carried one, cleared by the next attempt. */
  let notBefore: Map<string, number> | undefined
  const n = candidates.length
  const { deadline, breakers } = opts
  let attempts = 0
  let retryIndex = 0
  /** Set when the task stops because no node is free again before the deadline. */
  let waitPastDeadline: number | undefined

  // From `from` on in candidate order: the first usable node that is free at `now`, else the one free soonest.
  const nextPick = (from: number, now: number): Pick | undefined => {
    let soonest: Pick | undefined
    for (let k = 0; k < n; k++) {
      const i = (from + k) % n
      const c = candidates[i] as Candidate
      if (excluded?.has(c.nodeId) || !breakers.allows(c.nodeId)) continue
      const until = notBefore?.get(c.nodeId)
      const waitMs = until === undefined ? 0 : Math.max(0, until - now)
      if (waitMs === 0) return { index: i, waitMs: 0 }
      if (soonest === undefined || waitMs < soonest.waitMs) soonest = { index: i, waitMs }
    }
    return soonest
  }

  for (let pick = nextPick(0, 0); pick !== undefined;) {
    const index = pick.index
    const candidate = candidates[index] as Candidate
    if (deadline.abortKind || deadline.remaining() <= 0) {
      deadline.check()
    }
    if (deadline.remaining() < MIN_ATTEMPT_MS) {
      // A node would refuse the timeout_ms that fits (422), and a larger one would outlast the deadline.
      throw withAttempts(new IicpError('timeout', `Less than ${MIN_ATTEMPT_MS} ms of the deadline was left for an attempt`), errors, opts.redact)
    }
    notBefore?.delete(candidate.nodeId)
    breakers.begin(candidate.nodeId)
    attempts += 1
    const { cancel, done } = attemptCancel(deadline, opts.attemptTimeoutMs)
    try {
      const value = await attempt(candidate, cancel, deadline.remaining())
      breakers.success(candidate.nodeId)
      return { value, candidate, attempts, errors }
    } catch (caught) {
      if (deadline.abortKind) {
        breakers.release(candidate.nodeId)
        errors.push({ nodeId: candidate.nodeId, code: deadline.abortKind, status: undefined, message: deadline.error().message })
        throw withAttempts(deadline.error(), errors, opts.redact)
      }
      if (!isIicpError(caught)) {
        // Everything a node can cause arrives as an IicpError; anything else is the client's own fault, so it ends
        // the task here instead of being tried on every node and held against each one's circuit breaker.
        breakers.release(candidate.nodeId)
        const own = new IicpError('invalid_response', 'Unexpected client failure', { cause: caught, retryable: false })
        errors.push({ nodeId: candidate.nodeId, code: own.code, status: own.status, message: own.message })
        throw withAttempts(own, errors, opts.redact)
      }
      const err = caught
      errors.push({ nodeId: candidate.nodeId, code: err.code, status: err.status, message: opts.redact(err.message) })
      const cls = classifyFailure(err)
      if (countsAsNodeFailure(err)) breakers.failure(candidate.nodeId)
      else if (cls === 'final') breakers.success(candidate.nodeId)
      else breakers.release(candidate.nodeId)
      opts.logger.debug({ node_id: candidate.nodeId, attempt: attempts, code: err.code, status: err.status }, 'task attempt failed')
      if (cls === 'switch') (excluded ??= new Set()).add(candidate.nodeId)
      // One reading of the clock for both, so a lone node's wait is exactly its Retry-After.
      const now = opts.clock()
      if (err.retryAfterMs !== undefined && cls !== 'switch') (notBefore ??= new Map()).set(candidate.nodeId, now + err.retryAfterMs)
      const next = nextPick((index + 1) % n, now)
      const decision = retryDecision({
        error: err,
        attemptsMade: attempts,
        maxAttempts: opts.maxAttempts,
        retryIndex,
        remainingMs: deadline.remaining(),
        baseDelayMs: opts.baseDelayMs,
        random: opts.random,
        notBeforeMs: next?.waitMs,
      })
      if (!decision.retry) {
        if (decision.reason === 'final') throw withAttempts(err, errors, opts.redact)
        if (decision.reason === 'deadline' && next !== undefined && next.waitMs > 0) waitPastDeadline = next.waitMs
        break
      }
      if (next === undefined) break
      if (decision.delayMs > 0) {
        if (!decision.excludeNode) retryIndex += 1
        try {
          await opts.sleep(decision.delayMs, deadline.signal)
        } catch {
          throw withAttempts(deadline.error(), errors, opts.redact)
        }
      }
      pick = next
    } finally {
      done()
    }
  }

  if (errors.length > 0 && errors.every((e) => e.code === 'timeout' || e.code === 'task_timeout')) {
    throw withAttempts(new IicpError('timeout', 'Every attempt timed out'), errors, opts.redact)
  }
  if (waitPastDeadline !== undefined) {
    throw withAttempts(new IicpError('no_available_node', `Every candidate node failed or asked to be retried after the deadline (${errors.length} attempts)`, {
      retryAfterMs: waitPastDeadline,
    }), errors, opts.redact)
  }
  throw withAttempts(
    new IicpError('no_available_node', errors.length > 0 ? `Every candidate node failed (${errors.length} attempts)` : 'No candidate node could be tried'),
    errors, opts.redact,
  )
}
