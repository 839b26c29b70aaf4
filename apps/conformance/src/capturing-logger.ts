/**
 * A pino-compatible logger that keeps every line it is given, rendered in full (nested errors and causes
 * included), so SPEC-SDK-06 can search the SDK's log output for a credential at every level.
 */
import { inspect } from 'node:util'
import type { Logger } from '@iicp/protocol'

/** Records each call as one rendered line; children share the parent's lines. */
export class CapturingLogger implements Logger {
  readonly lines: string[]
  readonly #bindings: Record<string, unknown>

  constructor(lines: string[] = [], bindings: Record<string, unknown> = {}) {
    this.lines = lines
    this.#bindings = bindings
  }

  #record(level: string, obj: object, msg?: string): void {
    if (this.lines.length >= 10_000) return
    this.lines.push(`${level} ${inspect({ ...this.#bindings, ...obj }, { depth: 10, breakLength: Infinity })} ${msg ?? ''}`)
  }

  debug(obj: object, msg?: string): void {
    this.#record('debug', obj, msg)
  }
  info(obj: object, msg?: string): void {
    this.#record('info', obj, msg)
  }
  warn(obj: object, msg?: string): void {
    this.#record('warn', obj, msg)
  }
  error(obj: object, msg?: string): void {
    this.#record('error', obj, msg)
  }
  /** pino's extra levels, in case an implementation calls them. */
  trace(obj: object, msg?: string): void {
    this.#record('trace', obj, msg)
  }
  fatal(obj: object, msg?: string): void {
    this.#record('fatal', obj, msg)
  }
  child(bindings: Record<string, unknown>): CapturingLogger {
    return new CapturingLogger(this.lines, { ...this.#bindings, ...bindings })
  }
}
