/**
 * One deadline per logical call (wire.md §4.3, official-sdks §2.6): discovery and every attempt share one
 * budget, and the caller's AbortSignal cancels all of it. Remaining time reads the injected clock; expiry is a
 * real (unref'd) timer so a hanging peer is cut off. Cancellation is a tiny subscribe interface rather than an
 * AbortSignal: a signal per request cost more than the rest of the submit path, so one is only made on demand.
 */
import { IicpError, isIicpError } from '@iicp/protocol'

/** Why a call was cancelled. */
export type AbortKind = 'timeout' | 'aborted'

/** Something that may cancel an in-flight request, with the IicpError to surface. */
export interface Cancellation {
  /** Set once cancelled. */
  readonly reason: IicpError | undefined
  /** Call `fn` once on cancellation; returns an unsubscribe function. Not called if already cancelled. */
  subscribe(fn: (reason: IicpError) => void): () => void
}

const noop = (): void => {}

/** Shared subscriber bookkeeping. */
class CancellationBase implements Cancellation {
  #reason: IicpError | undefined
  #subs: ((reason: IicpError) => void)[] | undefined

  get reason(): IicpError | undefined {
    return this.#reason
  }

  subscribe(fn: (reason: IicpError) => void): () => void {
    if (this.#reason) return noop
    ;(this.#subs ??= []).push(fn)
    return () => {
      const subs = this.#subs
      if (!subs) return
      const i = subs.indexOf(fn)
      if (i >= 0) subs.splice(i, 1)
    }
  }

  protected cancel(reason: IicpError): void {
    if (this.#reason) return
    this.#reason = reason
    const subs = this.#subs
    this.#subs = undefined
    if (subs) for (const fn of subs) fn(reason)
  }
}

/** A budget that cancels when time runs out or the caller aborts. Call `dispose()` when done. */
export class Deadline extends CancellationBase {
  readonly expiresAt: number
  #timer: ReturnType<typeof setTimeout> | undefined
  #caller: AbortSignal | undefined
  #kind: AbortKind | undefined
  #signal: AbortController | undefined
  readonly #clock: () => number

  constructor(timeoutMs: number, clock: () => number, callerSignal?: AbortSignal) {
    super()
    this.#clock = clock
    this.expiresAt = clock() + timeoutMs
    if (callerSignal) {
      if (callerSignal.aborted) {
        this.#fire('aborted')
        return
      }
      this.#caller = callerSignal
      callerSignal.addEventListener('abort', this.#onCallerAbort, { once: true })
    }
    this.#timer = setTimeout(this.#onTimeout, timeoutMs)
    this.#timer.unref?.()
  }

  readonly #onCallerAbort = (): void => this.#fire('aborted')
  readonly #onTimeout = (): void => this.#fire('timeout')

  #fire(kind: AbortKind): void {
    if (this.#kind) return
    this.#kind = kind
    const err = kind === 'timeout' ? new IicpError('timeout') : new IicpError('aborted')
    this.cancel(err)
    this.#signal?.abort(err)
  }

  /** An AbortSignal view, made on first use (backoff sleeps, APIs that need a signal). */
  get signal(): AbortSignal {
    if (!this.#signal) {
      this.#signal = new AbortController()
      if (this.reason) this.#signal.abort(this.reason)
    }
    return this.#signal.signal
  }

  /** Milliseconds left (0 once expired or aborted). */
  remaining(): number {
    if (this.#kind) return 0
    return Math.max(0, this.expiresAt - this.#clock())
  }

  /** Why it fired, if it has. */
  get abortKind(): AbortKind | undefined {
    return this.#kind
  }

  /** The IicpError for the current state: `aborted` or `timeout`. */
  error(message?: string): IicpError {
    return this.#kind === 'aborted' ? new IicpError('aborted', message) : new IicpError('timeout', message)
  }

  /** Throw when the budget is spent or the caller aborted. */
  check(): void {
    if (this.#kind || this.expiresAt - this.#clock() <= 0) {
      if (!this.#kind) this.#fire('timeout')
      throw this.error()
    }
  }

  /** Stop the timer and detach from the caller's signal. Idempotent. */
  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#caller?.removeEventListener('abort', this.#onCallerAbort)
    this.#caller = undefined
  }
}

/** A cancellation that follows a parent and adds its own timeout (a per-attempt budget). */
export class AttemptBudget extends CancellationBase {
  readonly #timer: ReturnType<typeof setTimeout>
  readonly #unsubscribe: () => void

  constructor(parent: Cancellation, ms: number) {
    super()
    this.#unsubscribe = parent.subscribe((r) => this.cancel(r))
    this.#timer = setTimeout(() => this.cancel(new IicpError('timeout', 'Attempt timed out', { retryable: true })), ms)
    this.#timer.unref?.()
    if (parent.reason) this.cancel(parent.reason)
  }

  /** Stop the timer and detach from the parent. */
  dispose(): void {
    clearTimeout(this.#timer)
    this.#unsubscribe()
  }
}

/** A Cancellation driven by an AbortSignal (shared directory lookups run under their own signal). */
export class SignalCancellation extends CancellationBase {
  constructor(signal: AbortSignal) {
    super()
    const onAbort = (): void => {
      const r: unknown = signal.reason
      this.cancel(isIicpError(r) ? r : new IicpError('timeout', 'Directory lookup timed out'))
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  }
}
