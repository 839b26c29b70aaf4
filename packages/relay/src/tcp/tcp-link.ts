/**
 * The native TCP link of one bound worker (official-sdks.md §5.2 step 4): a consumer task goes down as CALL
 * `{5: body bytes, 15: call_id}` and the worker's RESPONSE comes back by call id. Two answer shapes are read:
 * - a reference worker sends `{5: JSON of its handler's return, 15}`; the consumer then gets the reference relay's
 *   merged reply `{task_id, status: "completed", ...that JSON, generated_by_ai: true}` (official-sdks.md §5.3);
 * - this package's worker adds key 100 (the node's HTTP status) and key 23 (its response headers), and its key 5
 *   is the node's body; the consumer then gets status, headers and body unchanged, as over WebSocket.
 * Consumer headers travel in CALL key 23 (metadata), which a reference worker ignores.
 */
import { IicpError, decodeCbor, encodeNativeMessage, errorBody } from '@iicp/protocol'
import type { FrameChannel } from './frame-channel.js'
import type { RelayCall, RelayCallResponse, RelayLink, RelaySession } from '../server/relay-session.js'
import { workerGone } from '../server/relay-session.js'

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

/** A bound worker's TCP link. */
export class TcpLink implements RelayLink {
  readonly transport = 'tcp' as const
  readonly channel: FrameChannel
  /** Bodies of calls in flight, for the task_id of a reference worker's merged reply. */
  readonly #bodies = new Map<string, Buffer>()
  #session: RelaySession | undefined
  #closed = false

  constructor(channel: FrameChannel) {
    this.channel = channel
  }

  /** @internal The session this link carries (set once the bind is admitted). */
  attach(session: RelaySession): void {
    this.#session = session
  }

  send(call: RelayCall): void {
    if (this.#closed || this.channel.closed) throw new Error('link closed')
    const metadata = callMetadata(call.headers)
    const frame = encodeNativeMessage({
      kind: 'call', payload: asBytes(call.body), callId: call.callId, ...(metadata ? { metadata } : {}),
    })
    this.#bodies.set(call.callId, call.body)
    if (!this.channel.sendRaw(frame)) {
      this.#bodies.delete(call.callId)
      throw new Error('socket not writable')
    }
  }

  /** The reference protocol has no cancel frame; the worker's answer is simply dropped when it comes. */
  cancel(callId: string): void {
    this.#bodies.delete(callId)
  }

  isAlive(): boolean {
    return !this.#closed && !this.channel.closed
  }

  close(reason: string): void {
    if (this.#closed) return
    this.#closed = true
    this.#bodies.clear()
    this.channel.close(reason)
  }

  /** A RESPONSE frame's payload from the worker. Returns false when it was unreadable (the caller drops the session). */
  onResponse(payload: Uint8Array): boolean {
    const decoded = decodeCbor(payload)
    if (!decoded.ok || !(decoded.value instanceof Map)) return false
    const map = decoded.value as Map<unknown, unknown>
    const callId = map.get(15)
    if (typeof callId !== 'string') return false
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
}

function keyFiveBytes(raw: unknown): Buffer | undefined {
  if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  if (typeof raw === 'string') return Buffer.from(raw)
  return undefined
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
