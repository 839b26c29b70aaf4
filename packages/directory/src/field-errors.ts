/** Collects field-level validation messages (dotted paths) into one 422 `validation_error`. */
import { IicpError } from '@iicp/protocol'

/** Accumulates `fields` for a 422 answer. */
export class FieldErrors {
  readonly fields: Record<string, string[]> = {}

  add(path: string, message: string): void {
    ;(this.fields[path] ??= []).push(message)
  }

  merge(fields: Record<string, string[]> | undefined): void {
    if (!fields) return
    for (const [k, msgs] of Object.entries(fields)) for (const m of msgs) this.add(k, m)
  }

  get empty(): boolean {
    return Object.keys(this.fields).length === 0
  }

  /** Throw a 422 (or the given code) when anything was collected. */
  throwIfAny(code: 'validation_error' | 'IICP-E035' | 'liveness_failed' = 'validation_error', message?: string): void {
    if (this.empty) return
    throw new IicpError(code, message ?? (code === 'validation_error' ? 'Input validation failed' : undefined), { fields: this.fields })
  }
}
