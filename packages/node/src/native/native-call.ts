/**
 * One native CALL through the node's task pipeline (official-sdks.md §5.2, §6.2, §6.4): the CALL becomes the same
 * task an HTTP `POST /v1/task` carries (auth, IICP-CX, limits, deadline, duplicate check), and the pipeline's answer
 * becomes the RESPONSE a native peer expects, or, when the CALL asked for streaming (key 24), lifecycle events.
 * Also the chunk channel a relay worker uses to forward a streamed task ({@link streamTask}).
 */
import { randomUUID } from 'node:crypto'
import {
  IicpError, encodeCbor, errorFromResponse, isIicpError, readCallPayload, streamEvent,
} from '@iicp/protocol'
import type { NativeCall, NativeResponse, NativeStreamEvent, StreamStatus } from '@iicp/protocol'
import type { HttpReply } from '../http/render-error.js'
import type { RequestHeaders } from '../task-handler.js'
import type { TaskStreamSink } from './task-stream.js'

/** The pipeline entry the native transport feeds: {@link TaskPipeline.handle} with a chunk sink. */
export type NativeTaskRunner = (
  body: string | Uint8Array | object, headers: RequestHeaders, signal: AbortSignal | undefined, sink: TaskStreamSink | undefined,
) => Promise<HttpReply>

/** Placeholder answer when a reader abandons a stream; nobody reads it. */
const READER_GONE: HttpReply = Object.freeze({ status: 499, body: '', headers: {} })

/** Chunks a producer may run ahead of a slow reader before it waits (the relay bound, official-sdks.md §6.4). */
const CHANNEL_CAPACITY = 32
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$/
const QOS_VALUES = new Set(['realtime', 'interactive', 'batch', 'best-effort'])

/**
 * Run one task and yield a streaming handler's chunks as they come; the generator's return value is the pipeline's
 * HTTP answer. Ending the iteration early cancels the task.
 */
export async function* taskChunks(
  run: NativeTaskRunner, body: string | Uint8Array | object, headers: RequestHeaders, signal?: AbortSignal,
): AsyncGenerator<unknown, HttpReply, void> {
  const queue: unknown[] = []
  let wake: (() => void) | undefined
  let space: (() => void) | undefined
  let reply: HttpReply | undefined
  let failure: unknown
  let settled = false
  const stop = new AbortController()
  const taskSignal = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal])
  const sink: TaskStreamSink = {
    chunk(value) {
      queue.push(value)
      wake?.()
      if (queue.length < CHANNEL_CAPACITY) return undefined
      return new Promise<void>((resolve) => { space = resolve })
    },
  }
  void run(body, headers, taskSignal, sink).then(
    (r) => { reply = r },
    (err: unknown) => { failure = err },
  ).finally(() => {
    settled = true
    wake?.()
  })
  let finished = false
  try {
    for (;;) {
      if (queue.length > 0) {
        const value = queue.shift()
        if (space !== undefined && queue.length < CHANNEL_CAPACITY) {
          const s = space
          space = undefined
          s()
        }
        yield value
        continue
      }
      if (settled) break
      await new Promise<void>((resolve) => { wake = resolve })
      wake = undefined
    }
    finished = true
  } finally {
    if (!finished) {
      stop.abort(new IicpError('aborted', 'Stream reader went away'))
      space?.()
    }
  }
  if (reply === undefined) throw isIicpError(failure) ? failure : new IicpError('server_error', 'Task failed', { cause: failure })
  return reply
}

/** The pipeline's JSON answer parsed, or the IicpError it carries. */
export function replyOutcome(reply: HttpReply): { readonly envelope: Record<string, unknown> } | { readonly error: IicpError } {
  if (reply.status < 200 || reply.status >= 300) return { error: errorFromResponse(reply.status, reply.body, reply.headers) }
  try {
    const parsed: unknown = JSON.parse(reply.body)
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return { envelope: parsed as Record<string, unknown> }
  } catch {
    // Falls through: the pipeline always answers JSON, so this is a server fault.
  }
  return { error: new IicpError('server_error', 'Task answer was not a JSON object') }
}

/** The inner result a native peer gets for a success envelope: `result`, or the whole sealed envelope for IICP-CX. */
function innerOf(envelope: Record<string, unknown>): unknown {
  return envelope.status === 'encrypted' ? envelope : envelope.result ?? null
}

function tokensOf(envelope: Record<string, unknown>): number | undefined {
  const m = envelope.metrics
  const t = typeof m === 'object' && m !== null ? (m as { tokens_used?: unknown }).tokens_used : undefined
  return typeof t === 'number' && Number.isInteger(t) && t >= 0 ? t : undefined
}

/**
 * A streamed task for a relay worker (fits `RelayStreamHandler`): yields the handler's chunks, returns the inner
 * result, throws the task's IicpError. A non-streaming handler yields nothing and returns its result.
 */
export async function* streamTask(
  run: NativeTaskRunner, body: string | Uint8Array | object, headers: RequestHeaders, signal?: AbortSignal,
): AsyncGenerator<unknown, unknown, void> {
  const reply = yield* taskChunks(run, body, headers, signal)
  const outcome = replyOutcome(reply)
  if ('error' in outcome) throw outcome.error
  return innerOf(outcome.envelope)
}

/** How a CALL was addressed: `direct` (key 5 is the payload; keys 2/3 present) or `relay` (key 5 is the whole task body). */
export type NativeCallMode = 'direct' | 'relay'

/** The mode of a CALL: a relay CALL carries neither session id nor intent (capture a). */
export function callMode(call: NativeCall): NativeCallMode {
  return call.sessionId === undefined && call.intent === undefined ? 'relay' : 'direct'
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * The HTTP task body and headers a direct CALL stands for. task_id comes from key 24, else key 15, else key 2
 * (as the Python SDK derives it); a non-UUID id gets a fresh UUID inside the node only. A payload made of
 * `iicp_conf` (and `cx_response_encryption`) is an IICP-CX task, whose AAD binds that task_id and the intent.
 */
export function taskFromDirectCall(call: NativeCall): { body: Record<string, unknown>; headers: Record<string, string> } | IicpError {
  if (call.intent === undefined) return new IicpError('validation_error', 'CALL needs an intent (key 3)')
  const payload = readCallPayload(call)
  if (!payload.ok) return new IicpError('validation_error', payload.error.message)
  const derived = call.taskId ?? call.callId ?? call.sessionId
  const taskId = derived !== undefined && UUID_RE.test(derived) ? derived.toLowerCase() : randomUUID()
  const body: Record<string, unknown> = { task_id: taskId, intent: call.intent }
  const p = payload.value
  const keys = Object.keys(p)
  if (isRecord(p.iicp_conf) && keys.every((k) => k === 'iicp_conf' || k === 'cx_response_encryption')) Object.assign(body, p)
  else body.payload = p
  const constraints: Record<string, unknown> = {}
  if (call.timeout !== undefined) constraints.timeout_ms = Math.min(300_000, Math.max(100, call.timeout * 1000))
  if (call.qos !== undefined && QOS_VALUES.has(call.qos)) constraints.qos = call.qos
  if (Object.keys(constraints).length > 0) body.constraints = constraints
  const headers: Record<string, string> = {}
  if (call.traceId !== undefined) {
    body.trace = { trace_id: hex(call.traceId) }
    if (call.parentSpan !== undefined) headers.traceparent = `00-${hex(call.traceId)}-${hex(call.parentSpan)}-01`
  }
  if (call.authToken !== undefined) headers.authorization = `Bearer ${call.authToken}`
  return { body, headers }
}

/** Options of {@link runNativeCall}. */
export interface NativeCallOptions {
  /** Cancels the task (the session closing). */
  readonly signal?: AbortSignal
  /** @default detected by {@link callMode} */
  readonly mode?: NativeCallMode
}

function errorResponse(call: NativeCall, mode: NativeCallMode, err: IicpError, body?: string): NativeResponse {
  const status = err.status ?? 500
  return {
    kind: 'response',
    ...(mode === 'direct' && call.sessionId !== undefined ? { sessionId: call.sessionId } : {}),
    ...(call.callId === undefined ? {} : { callId: call.callId }),
    // Key 6 carries the code the numeric key 100 cannot (frm §4.4); relay peers also get the HTTP body in key 5.
    ...(mode === 'direct' ? { error: { code: err.code, message: err.message } } : {}),
    ...(mode === 'relay' && body !== undefined ? { result: Buffer.from(body, 'utf8') } : {}),
    errorCode: status,
    errorMessage: err.message,
  }
}

function terminalStatus(err: IicpError): StreamStatus {
  return err.code === 'task_timeout' || err.code === 'timeout' ? 'timeout' : 'error'
}

/**
 * Run one CALL and yield what goes back on the wire: one RESPONSE, or (for a CALL with key 24) a `partial` event per
 * chunk and one terminal event. Direct RESPONSE key 5 is CBOR of the unwrapped result; relay RESPONSE key 5 is the
 * JSON of the whole answer (official-sdks.md §6.2). Never throws: failures become error responses or events.
 */
export async function* runNativeCall(run: NativeTaskRunner, call: NativeCall, options: NativeCallOptions = {}): AsyncGenerator<NativeResponse | NativeStreamEvent, void, void> {
  const mode = options.mode ?? callMode(call)
  let body: string | Uint8Array | object
  let headers: Record<string, string> = {}
  if (mode === 'direct') {
    const t = taskFromDirectCall(call)
    if (t instanceof IicpError) {
      yield errorResponse(call, mode, t)
      return
    }
    body = t.body
    headers = t.headers
  } else {
    const raw = call.payload
    if (raw === undefined) {
      yield errorResponse(call, mode, new IicpError('validation_error', 'CALL has no payload (key 5)'))
      return
    }
    body = raw
  }

  if (call.taskId === undefined) {
    let reply: HttpReply
    try {
      // No sink: a streaming handler's chunks are assembled by the pipeline, as for HTTP.
      reply = await run(body, headers, options.signal, undefined)
    } catch (err) {
      yield errorResponse(call, mode, isIicpError(err) ? err : new IicpError('server_error'))
      return
    }
    yield bufferedResponse(call, mode, reply)
    return
  }

  const ids = { sessionId: call.sessionId ?? '', callId: call.callId ?? call.taskId, taskId: call.taskId }
  let sequence = 0
  let reply: HttpReply | undefined
  const chunks = taskChunks(run, body, headers, options.signal)
  try {
    for (;;) {
      const step = await chunks.next()
      if (step.done === true) {
        reply = step.value
        break
      }
      yield streamEvent({ ...ids, sequence: sequence++, status: 'partial', result: step.value })
    }
  } catch (err) {
    const e = isIicpError(err) ? err : new IicpError('server_error')
    yield streamEvent({ ...ids, sequence, status: terminalStatus(e), error: { code: e.code, message: e.message } })
    return
  } finally {
    // A reader that stopped early (socket gone, chunk not encodable) cancels the task behind the chunks.
    if (reply === undefined) await chunks.return(READER_GONE)
  }
  const outcome = replyOutcome(reply)
  if ('error' in outcome) {
    yield streamEvent({ ...ids, sequence, status: terminalStatus(outcome.error), error: { code: outcome.error.code, message: outcome.error.message } })
    return
  }
  const tokensUsed = tokensOf(outcome.envelope)
  yield streamEvent({ ...ids, sequence, status: 'success', result: innerOf(outcome.envelope), ...(tokensUsed === undefined ? {} : { tokensUsed }) })
}

function bufferedResponse(call: NativeCall, mode: NativeCallMode, reply: HttpReply): NativeResponse {
  const outcome = replyOutcome(reply)
  if ('error' in outcome) return errorResponse(call, mode, outcome.error, reply.body)
  const callId = call.callId === undefined ? {} : { callId: call.callId }
  if (mode === 'relay') return { kind: 'response', ...callId, result: Buffer.from(reply.body, 'utf8') }
  return {
    kind: 'response',
    ...(call.sessionId === undefined ? {} : { sessionId: call.sessionId }),
    result: encodeCbor(innerOf(outcome.envelope)),
    ...callId,
  }
}
