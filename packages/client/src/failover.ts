/**
 * The failover loop (wire.md §4.3, §4.4; sem §6.1, §8): one attempt per step, moving through the candidates in
 * order (wrapping when there are fewer candidates than attempts), backing off by the retry module's decision,
 * switching away from busy nodes at once, feeding the circuit breakers, and ending in the node's own final
 * error, `timeout` when every attempt timed out, or `no_available_node`. The deadline bounds everything.
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

function attemptCancel(deadline: Deadline, ms: number | undefined): { cancel: Cancellation; done: () => void } {
  if (ms === undefined || ms >= deadline.remaining()) return { cancel: deadline, done: nothing }
  const budget = new AttemptBudget(deadline, ms)
  return { cancel: budget, done: () => budget.dispose() }
}

/** Run `attempt` over the candidates until one succeeds or the policy says stop. */
export async function runFailover<T>(
  candidates: readonly Candidate[], opts: FailoverOptions, attempt: (c: Candidate, cancel: Cancellation, remainingMs: number) => Promise<T>,
): Promise<FailoverOutcome<T>> {
  const errors: AttemptError[] = []
  let excluded: Set<string> | undefined
  const n = candidates.length
  const { deadline, breakers } = opts
  let index = 0
  let attempts = 0
  let retryIndex = 0

  const nextIndex = (from: number): number => {
    for (let k = 0; k < n; k++) {
      const i = (from + k) % n
      const c = candidates[i] as Candidate
      if (!excluded?.has(c.nodeId) && breakers.allows(c.nodeId)) return i
    }
    return -1
  }

  for (index = nextIndex(0); index >= 0;) {
    const candidate = candidates[index] as Candidate
    if (deadline.abortKind || deadline.remaining() <= 0) {
      deadline.check()
    }
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
      if (countsAsNodeFailure(err)) breakers.failure(candidate.nodeId)
      else if (classifyFailure(err) === 'final') breakers.success(candidate.nodeId)
      else breakers.release(candidate.nodeId)
      opts.logger.debug({ node_id: candidate.nodeId, attempt: attempts, code: err.code, status: err.status }, 'task attempt failed')
      const cls = classifyFailure(err)
      if (cls === 'switch') (excluded ??= new Set()).add(candidate.nodeId)
      const peek = nextIndex((index + 1) % n)
      const decision = retryDecision({
        error: err,
        attemptsMade: attempts,
        maxAttempts: opts.maxAttempts,
        retryIndex,
        remainingMs: deadline.remaining(),
        baseDelayMs: opts.baseDelayMs,
        random: opts.random,
        sameNodeNext: peek === index,
      })
      if (!decision.retry) {
        if (decision.reason === 'final') throw withAttempts(err, errors, opts.redact)
        break
      }
      if (peek < 0) break
      if (decision.delayMs > 0) {
        retryIndex += 1
        try {
          await opts.sleep(decision.delayMs, deadline.signal)
        } catch {
          throw withAttempts(deadline.error(), errors, opts.redact)
        }
      }
      index = nextIndex((index + 1) % n)
    } finally {
      done()
    }
  }

  if (errors.length > 0 && errors.every((e) => e.code === 'timeout' || e.code === 'task_timeout')) {
    throw withAttempts(new IicpError('timeout', 'Every attempt timed out'), errors, opts.redact)
  }
  throw withAttempts(
    new IicpError('no_available_node', errors.length > 0 ? `Every candidate node failed (${errors.length} attempts)` : 'No candidate node could be tried'),
    errors, opts.redact,
  )
}
