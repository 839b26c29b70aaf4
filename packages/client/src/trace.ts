/**
 * W3C trace context for a logical task (the README's SDK-06; cts TRACE-01..04): continue the caller's
 * `traceparent` or start one; every hop (ticket, discover, key, each task attempt) gets the same trace id and a
 * fresh span id; `tracestate` is passed through unchanged; the body carries `trace.trace_id`.
 */
import { childSpan, formatTraceparent, newTraceContext, parseTraceparent } from '@iicp/protocol'
import type { TraceContext } from '@iicp/protocol'

/** The trace of one logical call. */
export interface TaskTrace {
  readonly context: TraceContext
  readonly tracestate: string | undefined
}

/** Continue a valid caller `traceparent` (as its child), or start a new trace when absent or malformed. */
export function startTrace(traceparent?: string, tracestate?: string): TaskTrace {
  const parent = traceparent === undefined ? undefined : parseTraceparent(traceparent)
  return { context: parent ?? newTraceContext(), tracestate: parent ? tracestate : undefined }
}

/** Headers for one outgoing hop: same trace id, fresh span id. */
export function hopHeaders(trace: TaskTrace, into: Record<string, string>): Record<string, string> {
  into.traceparent = formatTraceparent(childSpan(trace.context))
  if (trace.tracestate !== undefined) into.tracestate = trace.tracestate
  return into
}
