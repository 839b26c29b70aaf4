/**
 * W3C trace context for a logical task (the README's SDK-06; cts TRACE-01..04): continue the caller's
 * `traceparent` or start one; every hop (ticket, discover, key, each task attempt) gets the same trace id and a
 * fresh span id; `tracestate` is passed through unchanged; the body carries `trace.trace_id`.
 */
import { randomFillSync } from 'node:crypto'
import { formatTraceparent, parseTraceparent } from '@iicp/protocol'
import type { TraceContext } from '@iicp/protocol'

// Trace and span ids come from a pooled random buffer: one randomFillSync per 4 KiB instead of one per id,
// which matters on the submit hot path (a syscall-backed fill per hop cost more than the rest of the client).
const POOL_SIZE = 4096
const pool = Buffer.allocUnsafe(POOL_SIZE)
let offset = POOL_SIZE

function randomHex(bytes: number): string {
  for (;;) {
    if (offset + bytes > POOL_SIZE) {
      randomFillSync(pool)
      offset = 0
    }
    const hex = pool.toString('hex', offset, offset + bytes)
    offset += bytes
    // W3C forbids all-zero ids; astronomically rare, but never send one.
    if (!/^0+$/.test(hex)) return hex
  }
}

/** A fresh sampled trace context (same contract as @iicp/protocol's newTraceContext, pooled randomness). */
export function newTrace(): TraceContext {
  return { traceId: randomHex(16), spanId: randomHex(8), flags: 1 }
}

/** The trace of one logical call. */
export interface TaskTrace {
  readonly context: TraceContext
  readonly tracestate: string | undefined
}

/** Continue a valid caller `traceparent` (as its child), or start a new trace when absent or malformed. */
export function startTrace(traceparent?: string, tracestate?: string): TaskTrace {
  const parent = traceparent === undefined ? undefined : parseTraceparent(traceparent)
  return { context: parent ?? newTrace(), tracestate: parent ? tracestate : undefined }
}

/** Headers for one outgoing hop: same trace id, fresh span id. */
export function hopHeaders(trace: TaskTrace, into: Record<string, string>): Record<string, string> {
  into.traceparent = formatTraceparent({ traceId: trace.context.traceId, spanId: randomHex(8), flags: trace.context.flags })
  if (trace.tracestate !== undefined) into.tracestate = trace.tracestate
  return into
}
