/**
 * Negotiated streaming on the native transport (official-sdks.md §6.4; iicp-service-lifecycle-profile): building
 * the lifecycle RESPONSE frames a server sends, and checking, as a receiver, that one CALL's events arrive in
 * order, for that call, and end exactly once. Pure functions and one small state machine; no I/O.
 */
import type { NativeStreamEvent } from './messages.js'

/** Lifecycle status of one stream event (official-sdks.md §6.4; frm §4.4). */
export type StreamStatus = 'partial' | 'success' | 'error' | 'timeout'

/** Most events a relay buffers for one streamed call before failing it (official-sdks.md §6.4). */
export const STREAM_RELAY_BUFFER_EVENTS = 32

/** Error code a relay fails a streamed call with when its buffer overflows (official-sdks.md §6.4). */
export const STREAM_BACKPRESSURE_ERROR = 'relay_backpressure_exceeded'

/**
 * The lifecycle event a status maps to (official-sdks.md §6.4): `partial` → `partial`, `success` →
 * `completed`, `timeout` → `timed_out`, anything else → `failed`.
 */
export function streamEventName(status: string): string {
  if (status === 'partial') return 'partial'
  if (status === 'success') return 'completed'
  if (status === 'timeout') return 'timed_out'
  return 'failed'
}

/** Input of {@link streamEvent}. */
export interface StreamEventInit {
  /** Echo of CALL key 2. */
  readonly sessionId: string
  /** Echo of CALL key 15 (sent in RESPONSE key 3). */
  readonly callId: string
  /** CALL key 24. */
  readonly taskId: string
  /** 0 for the first event of the call, then +1 per event. */
  readonly sequence: number
  /** `partial` for chunks; the terminal event is `success`, `error` or `timeout`. */
  readonly status: StreamStatus
  /** The chunk or final result, as a native CBOR value. */
  readonly result?: unknown
  /** Failure detail for `error`/`timeout`. */
  readonly error?: { readonly code?: string | number; readonly message?: string }
  /** Output tokens, usually on the terminal event. */
  readonly tokensUsed?: number
}

/**
 * Builds one lifecycle RESPONSE (official-sdks.md §6.4) with the event name and both finality flags derived
 * from the status, so a sender cannot make them disagree. Encodes to the Python SDK's bytes for the same input.
 */
export function streamEvent(init: StreamEventInit): NativeStreamEvent {
  const isFinal = init.status !== 'partial'
  return {
    kind: 'streamEvent',
    protocolVersion: 1,
    sessionId: init.sessionId,
    callId: init.callId,
    status: init.status,
    ...(init.result === undefined ? {} : { result: init.result }),
    ...(init.error === undefined ? {} : { error: { ...init.error } }),
    ...(init.tokensUsed === undefined ? {} : { tokensUsed: init.tokensUsed }),
    isFinal,
    lifecycle: { taskId: init.taskId, sequence: init.sequence, event: streamEventName(init.status), isFinal },
  }
}

/** Why a stream event was refused; the codes match the Python SDK's NativeResponseSequence (official-sdks.md §6.4). */
export type StreamSequenceErrorCode =
  | 'response_after_terminal'
  | 'session_id_drift'
  | 'call_id_drift'
  | 'task_id_drift'
  | 'sequence_drift'
  | 'finality_disagreement'
  | 'status_event_disagreement'
  | 'terminal_flag_mismatch'
  | 'missing_terminal_response'

/** A refused stream event, as a value. */
export interface StreamSequenceError {
  readonly code: StreamSequenceErrorCode
  readonly message: string
}

const EVENTS_BY_STATUS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['partial', new Set(['partial'])],
  ['success', new Set(['completed'])],
  ['error', new Set(['failed', 'cancelled'])],
  ['timeout', new Set(['timed_out', 'expired'])],
])

function refuse(code: StreamSequenceErrorCode, message: string): StreamSequenceError {
  return { code, message }
}

/**
 * Receiver-side check of one CALL's lifecycle events (official-sdks.md §6.4): same session, call and task;
 * sequence 0, 1, 2…; status, event and both finality flags agreeing; nothing after the terminal event; and,
 * at the end, that a terminal event came. Returns error values; never throws.
 */
export class StreamSequence {
  readonly #sessionId: string
  readonly #callId: string
  readonly #taskId: string
  #next = 0
  #done = false

  constructor(ids: { readonly sessionId: string; readonly callId: string; readonly taskId: string }) {
    this.#sessionId = ids.sessionId
    this.#callId = ids.callId
    this.#taskId = ids.taskId
  }

  /** Whether the terminal event has been accepted. */
  get finished(): boolean {
    return this.#done
  }

  /** Events accepted so far. */
  get accepted(): number {
    return this.#next
  }

  /** Checks the next event; `undefined` when it is acceptable (and it is then counted). */
  accept(event: NativeStreamEvent): StreamSequenceError | undefined {
    if (this.#done) return refuse('response_after_terminal', 'an event arrived after the terminal event')
    if (event.sessionId !== this.#sessionId) return refuse('session_id_drift', 'event is for another session')
    if (event.callId !== this.#callId) return refuse('call_id_drift', 'event is for another call')
    const { lifecycle } = event
    if (lifecycle.taskId !== this.#taskId) return refuse('task_id_drift', 'event is for another task')
    if (lifecycle.sequence !== this.#next) {
      return refuse('sequence_drift', `expected sequence ${this.#next}, got ${lifecycle.sequence}`)
    }
    if (event.isFinal !== lifecycle.isFinal) return refuse('finality_disagreement', 'is_final and lifecycle.is_final differ')
    if (EVENTS_BY_STATUS.get(event.status)?.has(lifecycle.event) !== true) {
      return refuse('status_event_disagreement', `status ${event.status} does not allow event ${lifecycle.event}`)
    }
    if ((event.status === 'partial') === lifecycle.isFinal) {
      return refuse('terminal_flag_mismatch', 'only a non-partial event may be final, and it must be')
    }
    this.#next++
    this.#done = lifecycle.isFinal
    return undefined
  }

  /** At end of stream: an error unless the terminal event was accepted. */
  finish(): StreamSequenceError | undefined {
    return this.#done ? undefined : refuse('missing_terminal_response', 'the stream ended without a terminal event')
  }
}
