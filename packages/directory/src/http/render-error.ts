/** The one place errors become HTTP answers: JSON `{"error":{"code","message"}}`, never HTML or a stack. */
import { errorBody, isIicpError, statusOf } from '@iicp/protocol'
import type { Reply } from './route-table.js'

/** Render any thrown value; non-IicpErrors become a bare 500 server_error (the caller logs them). */
export function renderError(err: unknown): Reply {
  if (!isIicpError(err)) return { status: 500, body: errorBody(err) }
  const status = err.status ?? statusOf(err.code)
  const headers: Record<string, string> = {}
  if (err.retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)))
  return { status, body: errorBody(err), headers }
}
