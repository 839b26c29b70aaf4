/** The one place errors become HTTP answers: JSON `{"error":{"code","message"}}`, never HTML or a stack. */
import { errorBody, isIicpError, statusOf } from '@iicp/protocol'
import type { Reply } from './route-table.js'

/** Render any thrown value; non-IicpErrors become a bare 500 server_error (the caller logs them). */
export function renderError(err: unknown): Reply {
  if (!isIicpError(err)) return { status: 500, body: errorBody(err) }
  const status = err.status ?? statusOf(err.code)
  const headers: Record<string, string> = {}
  const body = errorBody(err)
  if (err.retryAfterMs !== undefined) {
    const seconds = Math.max(1, Math.ceil(err.retryAfterMs / 1000))
    headers['retry-after'] = String(seconds)
    // wire.md §1.2/§2.4: the reference's 429 body carries `retry_after` in seconds; `retry_after_ms` stays for our clients.
    ;(body.error as Record<string, unknown>).retry_after = seconds
  }
  return { status, body, headers }
}
