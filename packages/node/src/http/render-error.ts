/**
 * The one function that turns any error into an HTTP answer (IICP-core §7): JSON
 * `{"error":{"code","message",…}}`, the catalogue's status, `Retry-After` when it applies. Anything that
 * is not an IicpError becomes a bare `server_error`, so no stack, path or message leaks.
 */
import { errorBody, isIicpError, statusOf } from '@iicp/protocol'

/** An HTTP answer as plain data, so the task path can also be fed by a relay worker. */
export interface HttpReply {
  readonly status: number
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
}

/** JSON content type for every reply the node writes. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8'

/** Headers of every JSON reply: browser consumers may call any node (core §3.1), so CORS is open. */
export const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'content-type': JSON_CONTENT_TYPE, 'access-control-allow-origin': '*' })

/**
 * JSON_HEADERS plus `x-iicp-trace-id`, written out: on Node 20 spreading JSON_HEADERS into a new object takes
 * V8's slow clone path (microseconds and short-lived garbage per traced task), a literal a few nanoseconds.
 */
export function tracedJsonHeaders(traceId: string): Readonly<Record<string, string>> {
  return { 'content-type': JSON_CONTENT_TYPE, 'access-control-allow-origin': '*', 'x-iicp-trace-id': traceId }
}

/** Render an error as the wire envelope with its status (IICP-core §7, wire.md §2.4). */
export function renderError(err: unknown): HttpReply {
  const body = JSON.stringify(errorBody(err))
  if (!isIicpError(err)) return { status: 500, body, headers: JSON_HEADERS }
  const status = err.status ?? statusOf(err.code)
  if (err.retryAfterMs === undefined) return { status, body, headers: JSON_HEADERS }
  return { status, body, headers: { ...JSON_HEADERS, 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) } }
}

/** A JSON 2xx answer. */
export function jsonReply(status: number, value: unknown, headers: Readonly<Record<string, string>> = JSON_HEADERS): HttpReply {
  return { status, body: JSON.stringify(value), headers }
}
