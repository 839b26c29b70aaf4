/**
 * One deadline per logical call (wire.md §4.3, official-sdks §2.6): discovery and every attempt share one
 * budget, and the caller's AbortSignal cancels all of it. Remaining time reads the injected clock; expiry is a
 * real (unref'd) timer so a hanging peer is cut off.
 */
import { IicpError } from '@iicp/protocol'

/** Why a deadline's signal fired. */
export type AbortKind = 'timeout' | 'aborted'

/** A budget that aborts its `signal` when time runs out or the caller aborts. Call `dispose()` when done. */
export class Deadline {
  readonly signal: AbortSignal
  readonly expiresAt: number
  #controller = new AbortController()
  #timer: ReturnType<typeof setTimeout> | undefined
  #caller: AbortSignal | undefined
  #kind: AbortKind | undefined
  readonly #clock: () => number

  constructor(timeoutMs: number, clock: () => number, callerSignal?: AbortSignal) {
    this.#clock = clock
    this.expiresAt = clock() + timeoutMs
    this.signal = this.#controller.signal
    if (callerSignal) {
      if (callerSignal.aborted) {
        this.#abort('aborted')
        return
      }
      this.#caller = callerSignal
      callerSignal.addEventListener('abort', this.#onCallerAbort, { once: true })
    }
    this.#timer = setTimeout(() => this.#abort('timeout'), timeoutMs)
    this.#timer.unref?.()
  }

  readonly #onCallerAbort = (): void => this.#abort('aborted')

  #abort(kind: AbortKind): void {
    if (this.#kind) return
    this.#kind = kind
    this.#controller.abort(kind === 'timeout' ? new IicpError('timeout') : new IicpError('aborted'))
  }

  /** Milliseconds left (0 once expired). */
  remaining(): number {
    if (this.#kind) return 0
    return Math.max(0, this.expiresAt - this.#clock())
  }

  /** Why the signal fired, if it has. */
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
      if (!this.#kind) this.#abort('timeout')
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
