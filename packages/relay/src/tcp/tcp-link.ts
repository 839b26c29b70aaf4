/**
 * The native TCP link of one bound worker (official-sdks.md §5.2 step 4): a consumer task goes down as CALL
 * `{5: body bytes, 15: call_id}` and the worker's RESPONSE comes back by call id. Two answer shapes are read:
 * - a reference worker sends `{5: JSON of its handler's return, 15}`; the consumer then gets the reference relay's
 *   merged reply `{task_id, status: "completed", ...that JSON, generated_by_ai: true}` (official-sdks.md §5.3);
 * - this package's worker adds key 100 (the node's HTTP status) and key 23 (its response headers), and its key 5
 *   is the node's body; the consumer then gets status, headers and body unchanged, as over WebSocket.
 * Consumer headers travel in CALL key 23 (metadata), which a reference worker ignores.
 */
import {
  IicpError, NativeMessageType, StreamSequence, decodeCbor, decodeNativeMessage, encodeNativeMessage, errorBody,
} from '@iicp/protocol'
import type { FrameChannel } from './frame-channel.js'
import { encodeRelayCall, readRelayResponse } from './relay-codec.js'
import type { RelayCall, RelayCallResponse, RelaySession } from '../server/relay-session.js'
import { workerGone } from '../server/relay-session.js'
import type { RelayStreamSink, StreamingRelayLink } from './relay-stream.js'

/** CALL/RESPONSE key 23: headers (CALL metadata, frm §4.3; on a RESPONSE an @iicp/relay addition). */
export const HEADERS_KEY = 23
/** RESPONSE key 100: numeric code (official-sdks.md §6.2); this package's worker always sends its HTTP status there. */
export const STATUS_KEY = 100

/** Content-type is implied (tasks are JSON); leaving it out keeps CALLs byte-identical to the reference relay's. */
function callMetadata(headers: Record<string, string>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined
  for (const [k, v] of Object.entries(headers)) {
    if (k === 'content-type' && /^application\/json\b/i.test(v)) continue
    ;(out ??= {})[k] = v
  }
  return out
}

function asBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

interface OpenStream {
  readonly sink: RelayStreamSink
  readonly sequence: StreamSequence
  readonly taskId: string
}

/** A bound worker's TCP link. */
export class TcpLink implements StreamingRelayLink {
  readonly transport = 'tcp' as const
  readonly channel: FrameChannel
  readonly maxBufferedStreamEvents: number
  /** Bodies of calls in flight, for the task_id of a reference worker's merged reply. */
  readonly #bodies = new Map<string, Buffer>()
  readonly #streams = new Map<string, OpenStream>()
  #session: RelaySession | undefined
  #closed = false

  constructor(channel: FrameChannel, maxBufferedStreamEvents: number) {
    this.channel = channel
    this.maxBufferedStreamEvents = maxBufferedStreamEvents
  }

  /** @internal The session this link carries (set once the bind is admitted). */
  attach(session: RelaySession): void {
    this.#session = session
  }

  send(call: RelayCall): void {
    if (this.#closed || this.channel.closed) throw new Error('link closed')
    const frame = encodeRelayCall(call.callId, call.body, callMetadata(call.headers))
    this.#bodies.set(call.callId, call.body)
    if (!this.channel.sendRaw(frame)) {
      this.#bodies.delete(call.callId)
      throw new Error('socket not writable')
    }
  }

  /**
   * A streaming CALL (official-sdks.md §6.4): key 24 asks for lifecycle RESPONSEs, key 2 is echoed in them. A worker
   * that cannot stream answers with one plain RESPONSE, which becomes a single final event.
   */
  stream(call: RelayCall, sink: RelayStreamSink): { cancel(): void } {
    if (this.#closed || this.channel.closed) throw new Error('link closed')
    const taskId = taskIdOf(call.body) ?? call.callId
    const metadata = callMetadata(call.headers)
    const frame = encodeNativeMessage({
      kind: 'call', sessionId: call.callId, payload: asBytes(call.body), callId: call.callId, taskId, ...(metadata ? { metadata } : {}),
    })
    this.#streams.set(call.callId, { sink, taskId, sequence: new StreamSequence({ sessionId: call.callId, callId: call.callId, taskId }) })
    this.#bodies.set(call.callId, call.body)
    if (!this.channel.sendRaw(frame)) {
      this.#streams.delete(call.callId)
      this.#bodies.delete(call.callId)
      throw new Error('socket not writable')
    }
    return { cancel: () => this.cancel(call.callId) }
  }

  /** The reference protocol has no cancel frame; the worker's answer is simply dropped when it comes. */
  cancel(callId: string): void {
    this.#bodies.delete(callId)
    this.#streams.delete(callId)
  }

  isAlive(): boolean {
    return !this.#closed && !this.channel.closed
  }

  close(reason: string): void {
    if (this.#closed) return
    this.#closed = true
    this.#bodies.clear()
    const streams = [...this.#streams.values()]
    this.#streams.clear()
    for (const s of streams) s.sink.end(workerGone(`worker session ended: ${reason}`))
    this.channel.close(reason)
  }

  /** A RESPONSE frame's payload from the worker. Returns false when it was unreadable (the caller drops the session). */
  onResponse(payload: Uint8Array): boolean {
    // This package's worker answers in one fixed shape, read without a generic CBOR decode.
    const fast = readRelayResponse(payload)
    if (fast !== undefined && !this.#streams.has(fast.callId)) {
      const pending = this.#bodies.delete(fast.callId)
      const session = this.#session
      if (!session || !pending) return true // late or cancelled: nothing waits for it
      const body = Buffer.from(fast.body.buffer, fast.body.byteOffset, fast.body.byteLength)
      session.resolve(fast.callId, fast.headers ? { status: fast.status, headers: lowerKeys(fast.headers), body } : { status: fast.status, body })
      return true
    }
    const decoded = decodeCbor(payload)
    if (!decoded.ok || !(decoded.value instanceof Map)) return false
    const map = decoded.value as Map<unknown, unknown>
    if (map.has(13)) return this.#onStreamEvent(payload)
    const callId = map.get(15)
    if (typeof callId !== 'string') return false
    const stream = this.#streams.get(callId)
    if (stream) {
      this.#streams.delete(callId)
      const body = this.#bodies.get(callId)
      this.#bodies.delete(callId)
      const answer = toResponse(map, body ?? Buffer.alloc(0))
      singleEvent(stream, answer)
      return true
    }
    const body = this.#bodies.get(callId)
    this.#bodies.delete(callId)
    const session = this.#session
    if (!session || body === undefined) return true // late or cancelled: nothing waits for it
    const response = toResponse(map, body)
    if (response instanceof IicpError) {
      session.resolve(callId, { status: 502, body: JSON.stringify(errorBody(response)) })
      return true
    }
    session.resolve(callId, response)
    return true
  }

  /** One lifecycle RESPONSE: checked for order and identity, then handed on; a bad one fails that call only. */
  #onStreamEvent(payload: Uint8Array): boolean {
    const decoded = decodeNativeMessage({ version: 1, type: NativeMessageType.RESPONSE, flags: 0, reserved: 0, payload })
    if (!decoded.ok || decoded.message.kind !== 'streamEvent') return false
    const ev = decoded.message
    const callId = ev.callId ?? ''
    const stream = this.#streams.get(callId)
    if (!stream) return true // cancelled, timed out, or the consumer left
    const refused = stream.sequence.accept(ev)
    if (refused) {
      this.cancel(callId)
      stream.sink.end(new IicpError('invalid_response', `worker stream broke the lifecycle rules: ${refused.code}`, { status: 502 }))
      return true
    }
    stream.sink.event({
      taskId: stream.taskId, sequence: ev.lifecycle.sequence, event: ev.lifecycle.event, status: ev.status, isFinal: ev.lifecycle.isFinal,
      ...(ev.result === undefined ? {} : { result: ev.result }),
      ...(ev.error === undefined ? {} : { error: ev.error }),
      ...(ev.tokensUsed === undefined ? {} : { tokensUsed: ev.tokensUsed }),
    })
    if (ev.lifecycle.isFinal) {
      this.cancel(callId)
      stream.sink.end()
    }
    return true
  }
}

/** A buffered answer to a streaming CALL, as the one final event it stands for. */
function singleEvent(stream: OpenStream, answer: RelayCallResponse | IicpError): void {
  if (answer instanceof IicpError) {
    stream.sink.end(answer)
    return
  }
  const text = Buffer.isBuffer(answer.body) ? answer.body.toString('utf8') : answer.body
  let result: unknown = text
  try {
    result = JSON.parse(text)
  } catch {
    // Not JSON: hand the text on as is.
  }
  const failed = answer.status >= 400
  stream.sink.event({
    taskId: stream.taskId, sequence: 0, event: failed ? 'failed' : 'completed', status: failed ? 'error' : 'success', isFinal: true,
    ...(failed ? { error: errorOf(result, answer.status) } : { result }),
  })
  stream.sink.end()
}

function errorOf(body: unknown, status: number): { code: string; message: string } {
  const e = typeof body === 'object' && body !== null ? (body as { error?: { code?: unknown; message?: unknown } }).error : undefined
  return {
    code: typeof e?.code === 'string' ? e.code : `http_${status}`,
    message: typeof e?.message === 'string' ? e.message : `worker answered HTTP ${status}`,
  }
}

function keyFiveBytes(raw: unknown): Buffer | undefined {
  if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  if (typeof raw === 'string') return Buffer.from(raw)
  return undefined
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of Object.keys(headers)) out[k.toLowerCase()] = headers[k] as string
  return out
}

function readHeaders(raw: unknown): Record<string, string> | undefined {
  if (!(raw instanceof Map)) return undefined
  const out: Record<string, string> = {}
  for (const [k, v] of raw) if (typeof k === 'string' && typeof v === 'string') out[k.toLowerCase()] = v
  return out
}

function toResponse(map: Map<unknown, unknown>, callBody: Buffer): RelayCallResponse | IicpError {
  const status = map.get(STATUS_KEY)
  const raw = keyFiveBytes(map.get(5))
  if (typeof status === 'number' && Number.isInteger(status) && status >= 100 && status <= 599) {
    const headers = readHeaders(map.get(HEADERS_KEY))
    if (raw !== undefined) return headers ? { status, headers, body: raw } : { status, body: raw }
    const message = map.get(101)
    const err = new IicpError(status >= 500 ? 'server_error' : 'invalid_request', typeof message === 'string' ? message : undefined, { status })
    return { status, body: JSON.stringify(errorBody(err)) }
  }
  // A reference worker: merge its JSON into a completed envelope, as the reference relay does.
  let inner: unknown = {}
  if (raw !== undefined) {
    try {
      inner = JSON.parse(raw.toString('utf8'))
    } catch (cause) {
      return workerGone('worker sent a result that is not JSON', cause)
    }
  }
  const spread = typeof inner === 'object' && inner !== null && !Array.isArray(inner) ? inner : { result: inner }
  const merged = { task_id: taskIdOf(callBody), status: 'completed', ...spread, generated_by_ai: true }
  return { status: 200, body: JSON.stringify(merged) }
}

function taskIdOf(body: Buffer): string | undefined {
  try {
    const task: unknown = JSON.parse(body.toString('utf8'))
    const id = typeof task === 'object' && task !== null ? (task as { task_id?: unknown }).task_id : undefined
    return typeof id === 'string' ? id : undefined
  } catch {
    return undefined
  }
}
