/** Parsing wire values with schemas into IicpError on failure. */
import type { z } from 'zod'
import { IicpError } from './errors.js'
import type { ErrorCode } from './errors.js'

/** Parse or throw IicpError(code, default `validation_error`) with dotted field paths in `fields`. */
export function parseWire<S extends z.ZodType>(schema: S, value: unknown, code: ErrorCode = 'validation_error'): z.output<S> {
  const r = safeParseWire(schema, value, code)
  if (!r.ok) throw r.error
  return r.value
}

export function safeParseWire<S extends z.ZodType>(
  schema: S, value: unknown, code: ErrorCode = 'validation_error',
): { ok: true; value: z.output<S> } | { ok: false; error: IicpError } {
  const r = schema.safeParse(value)
  if (r.success) return { ok: true, value: r.data }
  const fields: Record<string, string[]> = {}
  for (const issue of r.error.issues) {
    const key = issue.path.map(String).join('.') || '(root)'
    ;(fields[key] ??= []).push(issue.message)
  }
  return { ok: false, error: new IicpError(code, code === 'validation_error' ? 'Input validation failed' : undefined, { fields }) }
}
