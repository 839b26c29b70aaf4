/**
 * Typed native messages: camelCase objects mapped to and from the integer-keyed CBOR maps on the wire
 * (frm §4; official-sdks.md §5.2, §6.2, §6.4). Key layouts follow what the deployed SDKs send, byte for byte
 * (fixtures/interop/native-python-sdk-0.7.107.json); where the draft spec numbers a field differently the
 * field's comment says so. One RESPONSE type byte carries three shapes, told apart by their keys: a stream
 * event has key 13, a DISCOVER reply key 20, anything else is a buffered response.
 */
import { z } from 'zod'
import { decodeCbor, encodeCbor, plain } from './cbor.js'
import type { DecodeCborOptions } from './cbor.js'
import { AnyRecordSchema, recordOf } from '../schemas/common.js'
import { encodeFrame, NATIVE_FRAMING_VERSION, NativeFrameFlags, NativeMessageType } from './frame.js'
import type { EncodeFrameOptions, Frame, NativeCodecError } from './frame.js'

const uint = z.int().nonnegative()
const text = z.string()
// z.instanceof would narrow to Uint8Array<ArrayBuffer>; views into socket buffers are ArrayBufferLike.
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected a byte string')
const exactBytes = (n: number) => bytes.refine((b) => b.length === n, `must be exactly ${n} bytes`)
const textList = z.array(z.string())
const textKeyed = AnyRecordSchema

/** A field's integer key, or for a nested integer-keyed map its key and the nested keys. */
type FieldKey = number | { readonly key: number; readonly fields: Readonly<Record<string, number>> }
type KeyTable<S> = { readonly [P in keyof S]-?: FieldKey }

// ── INIT / ACK (frm §4.5, §4.6; both SDK roles send INIT {1: 1}) ─────────────────────────────────────────
const initShape = {
  /** Key 1: preferred framing version (frm §4.5). */
  protocolVersion: uint.optional(),
  /** Key 2: lowest version the sender accepts (frm §4.5; SDKs omit it). */
  minVersion: uint.optional(),
  /** Key 3: sender's node id (frm §4.5). */
  nodeId: text.optional(),
  /** Key 4: node token, LOG-FORBIDDEN (frm §4.5, §9.3). */
  nodeToken: text.optional(),
  /** Key 5: custom type URNs the sender supports (frm §7.3). */
  capabilities: textList.optional(),
  /** Key 6: compression algorithms, e.g. `["gzip"]` (frm §4.5). */
  compression: textList.optional(),
  /** Key 7: largest frame the sender accepts (frm §4.5). */
  maxFrameSize: uint.optional(),
}
const INIT_KEYS: KeyTable<typeof initShape> = {
  protocolVersion: 1, minVersion: 2, nodeId: 3, nodeToken: 4, capabilities: 5, compression: 6, maxFrameSize: 7,
}

const ackShape = {
  /** Key 1: negotiated framing version (frm §4.6). */
  protocolVersion: uint.optional(),
  /** Key 2: responder's node id; a relay accept port leaves it out (frm §4.6; capture a). */
  nodeId: text.optional(),
  /** Key 3: accepted custom type URNs (frm §7.3). */
  capabilities: textList.optional(),
  /** Key 4: selected compression (frm §4.6). */
  compression: text.optional(),
  /** Key 5: largest frame the responder accepts (frm §4.6). */
  maxFrameSize: uint.optional(),
  /** Key 6: responder clock, epoch seconds (frm §4.6). */
  serverTime: uint.optional(),
}
const ACK_KEYS: KeyTable<typeof ackShape> = {
  protocolVersion: 1, nodeId: 2, capabilities: 3, compression: 4, maxFrameSize: 5, serverTime: 6,
}

// ── DISCOVER and its reply (official-sdks.md §6.2; the draft spec's §4.7 puts intent at key 1, no SDK does) ──
const discoverShape = {
  /** Key 2: correlation id echoed in the reply. */
  sessionId: text.optional(),
  /** Key 3: intent URN to look up. */
  intent: text.optional(),
}
const DISCOVER_KEYS: KeyTable<typeof discoverShape> = { sessionId: 2, intent: 3 }

const discoverResponseShape = {
  /** Key 2: echo of the DISCOVER session id. */
  sessionId: text.optional(),
  /** Key 3: echo of the intent. */
  intent: text.optional(),
  /** Key 20: node descriptors (text-keyed maps). */
  nodes: z.array(z.unknown()),
}
const DISCOVER_RESPONSE_KEYS: KeyTable<typeof discoverResponseShape> = { sessionId: 2, intent: 3, nodes: 20 }

// ── SUB_PROTOCOL (frm §4.15) ─────────────────────────────────────────────────────────────────────────────
const subProtocolShape = {
  /** Key 1: sub-protocol URN, e.g. `urn:iicp:sp:cip:v1`. */
  subProtocol: text,
  /** Key 2: `propose` | `accept` | `reject`. */
  action: text,
  /** Key 3: sub-protocol parameters (text-keyed map). */
  parameters: textKeyed.optional(),
  /** Key 4: reason, required with `reject`. */
  reason: text.optional(),
}
const SUB_PROTOCOL_KEYS: KeyTable<typeof subProtocolShape> = { subProtocol: 1, action: 2, parameters: 3, reason: 4 }

// ── CALL (frm §4.3 plus the SDKs' keys 16 and 24; official-sdks.md §5.2, §6.2, §6.4) ─────────────────────
const callShape = {
  /** Key 1: framing version (frm §4.3; SDKs omit it). */
  protocolVersion: uint.optional(),
  /** Key 2: session id (a relay CALL has none). */
  sessionId: text.optional(),
  /** Key 3: intent URN (a relay CALL has none). */
  intent: text.optional(),
  /** Key 4: target node id (frm §4.3). */
  providerId: text.optional(),
  /**
   * Key 5: the task. A byte string holding JSON (the payload object on a direct call, the whole HTTP task
   * body on a relay call), or a CBOR map (official-sdks.md §6.2).
   */
  payload: z.union([bytes, textKeyed]).optional(),
  /** Key 6: timeout in seconds, 1–3600 (frm §4.3). */
  timeout: uint.optional(),
  /** Key 7: priority 0–3 (frm §4.3). */
  priority: uint.optional(),
  /** Key 8: credits for this call (frm §4.3). */
  credits: uint.optional(),
  /** Key 9: opaque routing directive (frm §4.3). */
  routingHint: text.optional(),
  /** Key 10: scheduler directive (frm §4.3). */
  schedulingHint: text.optional(),
  /** Key 11: bearer token, LOG-FORBIDDEN (frm §4.3, §9.3). */
  authToken: text.optional(),
  /** Key 12: `{1: max_retries, 2: backoff_ms}` (frm §4.3). */
  retryPolicy: z.object({ maxRetries: uint.optional(), backoffMs: uint.optional() }).optional(),
  /** Key 13: W3C trace id, exactly 16 bytes (frm §4.3, §4.16). */
  traceId: exactBytes(16).optional(),
  /** Key 14: W3C parent span id, exactly 8 bytes (frm §4.3, §4.16). */
  parentSpan: exactBytes(8).optional(),
  /** Key 15: call id; RESPONSE echoes it (frm §4.3). */
  callId: text.optional(),
  /** Key 16: idempotency key (frm §4.3; sent by stream_call). */
  idempotencyKey: text.optional(),
  /** Key 17: max output tokens (frm §4.3). */
  maxTokens: uint.optional(),
  /** Key 18: `interactive` | `batch` | `best-effort` (frm §4.3). */
  qos: text.optional(),
  /** Key 19: deprecated transport hint (frm §4.3). */
  transportHint: text.optional(),
  /** Key 20: target region (frm §4.3). */
  region: text.optional(),
  /** Key 21: required capabilities (frm §4.3). */
  capabilities: textList.optional(),
  /** Key 22: time to live in seconds, 0 = none (frm §4.3). */
  ttl: uint.optional(),
  /** Key 23: text-to-text metadata (frm §4.3). */
  metadata: recordOf(z.string()).optional(),
  /** Key 24: task id; its presence asks for negotiated streaming (official-sdks.md §6.4). */
  taskId: text.optional(),
}
const CALL_KEYS: KeyTable<typeof callShape> = {
  protocolVersion: 1, sessionId: 2, intent: 3, providerId: 4, payload: 5, timeout: 6, priority: 7, credits: 8,
  routingHint: 9, schedulingHint: 10, authToken: 11, retryPolicy: { key: 12, fields: { maxRetries: 1, backoffMs: 2 } },
  traceId: 13, parentSpan: 14, callId: 15, idempotencyKey: 16, maxTokens: 17, qos: 18, transportHint: 19,
  region: 20, capabilities: 21, ttl: 22, metadata: 23, taskId: 24,
}

// ── RESPONSE shapes (frm §4.4; official-sdks.md §6.2, §6.4) ──────────────────────────────────────────────
const errorDetail = z.object({
  /** Error code; the spec says text, SDK stream errors may carry an HTTP-style number. */
  code: z.union([text, z.int()]).optional(),
  message: text.optional(),
})
const ERROR_FIELDS = { code: 1, message: 2 } as const

const responseShape = {
  /** Key 1: framing version (frm §4.4; SDKs omit it on buffered responses). */
  protocolVersion: uint.optional(),
  /** Key 2: echo of the CALL session id. */
  sessionId: text.optional(),
  /** Key 4: `success` | `error` | `timeout` (frm §4.4; SDKs omit it on buffered responses). */
  status: text.optional(),
  /**
   * Key 5: the result. Direct calls: a byte string of CBOR (the handler's unwrapped `result`); relay calls:
   * a byte string of JSON (the handler's whole return value) (official-sdks.md §6.2).
   */
  result: z.unknown().optional(),
  /** Key 6: `{1: code, 2: message}` (frm §4.4). */
  error: errorDetail.optional(),
  /** Key 7: output tokens (frm §4.4). */
  tokensUsed: uint.optional(),
  /** Key 8: server wall-clock ms (frm §4.4). */
  durationMs: uint.optional(),
  /** Key 9: echo of the CALL trace id, 16 bytes (frm §4.4). */
  traceId: exactBytes(16).optional(),
  /** Key 10: credits charged (frm §4.4). */
  creditsCharged: uint.optional(),
  /** Key 11: responding node id (frm §4.4). */
  nodeId: text.optional(),
  /** Key 12: true when complete (frm §4.4). */
  isFinal: z.boolean().optional(),
  /** Key 15: echo of the CALL call id, when the CALL had one (the draft spec puts it at key 3). */
  callId: text.optional(),
  /** Key 100: numeric error code, HTTP-style (official-sdks.md §6.2). */
  errorCode: z.int().optional(),
  /** Key 101: error message (official-sdks.md §6.2). */
  errorMessage: text.optional(),
}
const RESPONSE_KEYS: KeyTable<typeof responseShape> = {
  protocolVersion: 1, sessionId: 2, status: 4, result: 5, error: { key: 6, fields: ERROR_FIELDS }, tokensUsed: 7,
  durationMs: 8, traceId: 9, creditsCharged: 10, nodeId: 11, isFinal: 12, callId: 15, errorCode: 100, errorMessage: 101,
}

const streamEventShape = {
  /** Key 1: framing version. */
  protocolVersion: uint.optional(),
  /** Key 2: echo of the CALL session id. */
  sessionId: text.optional(),
  /** Key 3: echo of the CALL call id (key 3 here, not 15; capture c). */
  callId: text.optional(),
  /** Key 4: `partial` | `success` | `error` | `timeout`. */
  status: text,
  /** Key 5: the chunk or final result as a native CBOR item (not a byte string). */
  result: z.unknown().optional(),
  /** Key 6: `{1: code, 2: message}` on failure. */
  error: errorDetail.optional(),
  /** Key 7: output tokens. */
  tokensUsed: uint.optional(),
  /** Key 8: server wall-clock ms. */
  durationMs: uint.optional(),
  /** Key 11: responding node id. */
  nodeId: text.optional(),
  /** Key 12: true on the terminal event; must agree with `lifecycle.isFinal`. */
  isFinal: z.boolean().optional(),
  /** Key 13: `{1: task_id, 2: sequence from 0, 3: event, 4: is_final}`. */
  lifecycle: z.object({ taskId: text, sequence: uint, event: text, isFinal: z.boolean() }),
}
const STREAM_EVENT_KEYS: KeyTable<typeof streamEventShape> = {
  protocolVersion: 1, sessionId: 2, callId: 3, status: 4, result: 5, error: { key: 6, fields: ERROR_FIELDS },
  tokensUsed: 7, durationMs: 8, nodeId: 11, isFinal: 12,
  lifecycle: { key: 13, fields: { taskId: 1, sequence: 2, event: 3, isFinal: 4 } },
}

// ── CLOSE, FEEDBACK, PING/PONG (frm §4.8–§4.10) ─────────────────────────────────────────────────────────
const closeShape = {
  /** Key 1: a close reason code or `graceful` (frm §4.8). */
  reason: text.optional(),
  /** Key 2: human-readable text (frm §4.8). */
  message: text.optional(),
  /** Key 3: session being closed (frm §4.8). */
  sessionId: text.optional(),
}
const CLOSE_KEYS: KeyTable<typeof closeShape> = { reason: 1, message: 2, sessionId: 3 }

const feedbackShape = {
  /** Key 1: the rated call. */
  callId: text,
  /** Key 2: score 0.0–1.0. */
  score: z.number().min(0).max(1),
  /** Key 3: observed latency ms. */
  latencyMs: uint.optional(),
  /** Key 4: error code if the task failed. */
  errorCode: text.optional(),
  /** Key 5: free text, ≤ 512 chars. */
  comment: text.max(512).optional(),
}
const FEEDBACK_KEYS: KeyTable<typeof feedbackShape> = { callId: 1, score: 2, latencyMs: 3, errorCode: 4, comment: 5 }

const pingShape = {
  /** Key 1: echo data, ≤ 64 bytes, returned verbatim in PONG; the SDK relay drops an empty echo (frm §4.9). */
  echo: bytes.refine((b) => b.length <= 64, 'must be at most 64 bytes').optional(),
}
const PING_KEYS: KeyTable<typeof pingShape> = { echo: 1 }

// ── RELAY_BIND / RELAY_ACK (official-sdks.md §5.2; not in the draft spec) ───────────────────────────────
const relayBindShape = {
  /** Key 1: the worker's node id. */
  workerId: text,
  /** Key 2: the intent the worker serves. */
  intent: text.optional(),
  /** Key 3: models it serves. */
  models: textList.optional(),
  /** Key 4: directory-signed bind ticket; a credential, never logged (official-sdks.md §5.5). */
  bindTicket: text.optional(),
}
const RELAY_BIND_KEYS: KeyTable<typeof relayBindShape> = { workerId: 1, intent: 2, models: 3, bindTicket: 4 }

const relayAckShape = {
  /** Key 1: `ok` or `error`. */
  status: text,
  /** Key 2: echo of the worker id. */
  workerId: text.optional(),
  /** Key 3: refusal reason, e.g. `worker_id already bound to an alive session`. */
  reason: text.optional(),
  /** Key 4: the relay's HTTP port for the path-scoped endpoint; workers default to 9484 without it. */
  relayHttpPort: uint.optional(),
}
const RELAY_ACK_KEYS: KeyTable<typeof relayAckShape> = { status: 1, workerId: 2, reason: 3, relayHttpPort: 4 }

// ── OBSERVE / TELEMETRY (frm §4.13, §4.14) ──────────────────────────────────────────────────────────────
const observeShape = {
  /** Key 1: `session` | `node` | `call`. */
  subject: text,
  /** Key 2: subject id. */
  subjectId: text,
  /** Key 3: `start` | `update` | `end` | `error`. */
  eventType: text,
  /** Key 4: opaque event data. */
  data: textKeyed.optional(),
  /** Key 5: per-subject sequence number. */
  sequence: uint.optional(),
}
const OBSERVE_KEYS: KeyTable<typeof observeShape> = { subject: 1, subjectId: 2, eventType: 3, data: 4, sequence: 5 }

const telemetryShape = {
  /** Key 1: reporting node id. */
  nodeId: text,
  /** Key 2: epoch seconds. */
  timestamp: uint,
  /** Key 3: text-keyed metrics. */
  metrics: textKeyed,
  /** Key 4: trace id, 16 bytes. */
  traceId: exactBytes(16).optional(),
  /** Key 5: span id, 8 bytes. */
  spanId: exactBytes(8).optional(),
}
const TELEMETRY_KEYS: KeyTable<typeof telemetryShape> = { nodeId: 1, timestamp: 2, metrics: 3, traceId: 4, spanId: 5 }

// ── The union ───────────────────────────────────────────────────────────────────────────────────────────
const initSchema = z.object({ kind: z.literal('init'), ...initShape })
const ackSchema = z.object({ kind: z.literal('ack'), ...ackShape })
const discoverSchema = z.object({ kind: z.literal('discover'), ...discoverShape })
const discoverResponseSchema = z.object({ kind: z.literal('discoverResponse'), ...discoverResponseShape })
const subProtocolSchema = z.object({ kind: z.literal('subProtocol'), ...subProtocolShape })
const callSchema = z.object({ kind: z.literal('call'), ...callShape })
const responseSchema = z.object({ kind: z.literal('response'), ...responseShape })
const streamEventSchema = z.object({ kind: z.literal('streamEvent'), ...streamEventShape })
const closeSchema = z.object({ kind: z.literal('close'), ...closeShape })
const feedbackSchema = z.object({ kind: z.literal('feedback'), ...feedbackShape })
const pingSchema = z.object({ kind: z.literal('ping'), ...pingShape })
const pongSchema = z.object({ kind: z.literal('pong'), ...pingShape })
const relayBindSchema = z.object({ kind: z.literal('relayBind'), ...relayBindShape })
const relayAckSchema = z.object({ kind: z.literal('relayAck'), ...relayAckShape })
const observeSchema = z.object({ kind: z.literal('observe'), ...observeShape })
const telemetrySchema = z.object({ kind: z.literal('telemetry'), ...telemetryShape })

const nativeMessageSchema = z.discriminatedUnion('kind', [
  initSchema, ackSchema, discoverSchema, discoverResponseSchema, subProtocolSchema, callSchema, responseSchema,
  streamEventSchema, closeSchema, feedbackSchema, pingSchema, pongSchema, relayBindSchema, relayAckSchema,
  observeSchema, telemetrySchema,
])

/** INIT (0x01): session handshake (frm §4.5). */
export type NativeInit = z.infer<typeof initSchema>
/** ACK (0x02): handshake reply (frm §4.6). */
export type NativeAck = z.infer<typeof ackSchema>
/** DISCOVER (0x03): intent lookup, SDK key layout (official-sdks.md §6.2). */
export type NativeDiscover = z.infer<typeof discoverSchema>
/** RESPONSE (0x06) answering DISCOVER: key 20 holds the nodes (official-sdks.md §6.2). */
export type NativeDiscoverResponse = z.infer<typeof discoverResponseSchema>
/** SUB_PROTOCOL (0x04): sub-protocol negotiation (frm §4.15). */
export type NativeSubProtocol = z.infer<typeof subProtocolSchema>
/** CALL (0x05): a task invocation, direct or pushed by a relay (frm §4.3; official-sdks.md §5.2). */
export type NativeCall = z.infer<typeof callSchema>
/** RESPONSE (0x06), buffered: the result of one CALL (frm §4.4; official-sdks.md §6.2). */
export type NativeResponse = z.infer<typeof responseSchema>
/** RESPONSE (0x06) with key 13: one event of a negotiated stream (official-sdks.md §6.4). */
export type NativeStreamEvent = z.infer<typeof streamEventSchema>
/** CLOSE (0x07): teardown with an optional reason (frm §4.8). An empty CLOSE is a zero-length payload. */
export type NativeClose = z.infer<typeof closeSchema>
/** FEEDBACK (0x08): quality signal (frm §4.10). */
export type NativeFeedback = z.infer<typeof feedbackSchema>
/** PING (0x09): keepalive with optional echo (frm §4.9). */
export type NativePing = z.infer<typeof pingSchema>
/** PONG (0x0A): keepalive reply echoing PING key 1 (frm §4.9). */
export type NativePong = z.infer<typeof pongSchema>
/** RELAY_BIND (0x0B): a worker binds its session to a relay (official-sdks.md §5.2). */
export type NativeRelayBind = z.infer<typeof relayBindSchema>
/** RELAY_ACK (0x0C): the relay's answer to RELAY_BIND (official-sdks.md §5.2). */
export type NativeRelayAck = z.infer<typeof relayAckSchema>
/** OBSERVE (0x0D): stream telemetry subscription or event (frm §4.13). */
export type NativeObserve = z.infer<typeof observeSchema>
/** TELEMETRY (0x0E): diagnostic report (frm §4.14). */
export type NativeTelemetry = z.infer<typeof telemetrySchema>
/** Any native message, discriminated by `kind` (frm §3). */
export type NativeMessage = z.infer<typeof nativeMessageSchema>
/** The `kind` of a native message. */
export type NativeMessageKind = NativeMessage['kind']

interface MessageDef {
  readonly type: number
  readonly fields: ReadonlyArray<readonly [string, FieldKey]>
  /** Field name to top-level key, for error messages. */
  readonly keyOf: ReadonlyMap<string, number>
}
function def(type: number, keys: Readonly<Record<string, FieldKey>>): MessageDef {
  const fields = Object.entries(keys)
  return { type, fields, keyOf: new Map(fields.map(([name, fk]) => [name, typeof fk === 'number' ? fk : fk.key])) }
}

const DEFS: Readonly<Record<NativeMessageKind, MessageDef>> = {
  init: def(NativeMessageType.INIT, INIT_KEYS),
  ack: def(NativeMessageType.ACK, ACK_KEYS),
  discover: def(NativeMessageType.DISCOVER, DISCOVER_KEYS),
  discoverResponse: def(NativeMessageType.RESPONSE, DISCOVER_RESPONSE_KEYS),
  subProtocol: def(NativeMessageType.SUB_PROTOCOL, SUB_PROTOCOL_KEYS),
  call: def(NativeMessageType.CALL, CALL_KEYS),
  response: def(NativeMessageType.RESPONSE, RESPONSE_KEYS),
  streamEvent: def(NativeMessageType.RESPONSE, STREAM_EVENT_KEYS),
  close: def(NativeMessageType.CLOSE, CLOSE_KEYS),
  feedback: def(NativeMessageType.FEEDBACK, FEEDBACK_KEYS),
  ping: def(NativeMessageType.PING, PING_KEYS),
  pong: def(NativeMessageType.PONG, PING_KEYS),
  relayBind: def(NativeMessageType.RELAY_BIND, RELAY_BIND_KEYS),
  relayAck: def(NativeMessageType.RELAY_ACK, RELAY_ACK_KEYS),
  observe: def(NativeMessageType.OBSERVE, OBSERVE_KEYS),
  telemetry: def(NativeMessageType.TELEMETRY, TELEMETRY_KEYS),
}

const KIND_BY_TYPE: ReadonlyMap<number, NativeMessageKind> = new Map<number, NativeMessageKind>([
  [NativeMessageType.INIT, 'init'],
  [NativeMessageType.ACK, 'ack'],
  [NativeMessageType.DISCOVER, 'discover'],
  [NativeMessageType.SUB_PROTOCOL, 'subProtocol'],
  [NativeMessageType.CALL, 'call'],
  [NativeMessageType.RESPONSE, 'response'],
  [NativeMessageType.CLOSE, 'close'],
  [NativeMessageType.FEEDBACK, 'feedback'],
  [NativeMessageType.PING, 'ping'],
  [NativeMessageType.PONG, 'pong'],
  [NativeMessageType.RELAY_BIND, 'relayBind'],
  [NativeMessageType.RELAY_ACK, 'relayAck'],
  [NativeMessageType.OBSERVE, 'observe'],
  [NativeMessageType.TELEMETRY, 'telemetry'],
])

/** The frame type byte a message kind is sent with (frm §3). */
export function nativeTypeOf(kind: NativeMessageKind): number {
  return DEFS[kind].type
}

// ── Encoding ────────────────────────────────────────────────────────────────────────────────────────────
function nestedToWire(fields: Readonly<Record<string, number>>, value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value
  const out = new Map<number, unknown>()
  for (const [name, key] of Object.entries(fields)) {
    const v: unknown = Reflect.get(value, name)
    if (v !== undefined) out.set(key, v)
  }
  return out
}

/** The integer-keyed map of a message (frm §4.2); `undefined` fields are left out. */
function toWire(message: NativeMessage): Map<number, unknown> {
  const record: Readonly<Record<string, unknown>> = message
  const out = new Map<number, unknown>()
  for (const [name, fk] of DEFS[message.kind].fields) {
    const v = record[name]
    if (v === undefined) continue
    if (typeof fk === 'number') out.set(fk, v)
    else out.set(fk.key, nestedToWire(fk.fields, v))
  }
  return out
}

/**
 * Encodes a message's CBOR payload (frm §4). A CLOSE without fields is the empty payload the SDKs send;
 * every other message is a map, `{}` (0xA0) at least. Throws IicpError `validation_error` on unencodable values.
 */
export function encodeNativePayload(message: NativeMessage): Uint8Array {
  const wire = toWire(message)
  if (wire.size === 0 && message.kind === 'close') return new Uint8Array(0)
  return encodeCbor(wire)
}

/** Encodes a message as one complete frame, header included (frm §1, §4). */
export function encodeNativeMessage(message: NativeMessage, options: EncodeFrameOptions = {}): Uint8Array {
  return encodeFrame(DEFS[message.kind].type, encodeNativePayload(message), options)
}

// ── Decoding ────────────────────────────────────────────────────────────────────────────────────────────
/** Result of {@link decodeNativeMessage}. */
export type DecodeMessageResult =
  | { readonly ok: true; readonly message: NativeMessage }
  | { readonly ok: false; readonly error: NativeCodecError }

function failure(code: NativeCodecError['code'], message: string): DecodeMessageResult {
  return { ok: false, error: { code, message } }
}

function nestedFromWire(fields: Readonly<Record<string, number>>, value: unknown): unknown {
  if (!(value instanceof Map)) return value
  const out: Record<string, unknown> = {}
  for (const [name, key] of Object.entries(fields)) {
    if (value.has(key)) out[name] = plain(value.get(key))
  }
  return out
}

function kindOf(type: number, map: ReadonlyMap<unknown, unknown>): NativeMessageKind | undefined {
  const kind = KIND_BY_TYPE.get(type)
  if (kind !== 'response') return kind
  if (map.has(13)) return 'streamEvent'
  if (map.has(20)) return 'discoverResponse'
  return 'response'
}

function typeError(type: number): DecodeMessageResult {
  const hex = `0x${type.toString(16).padStart(2, '0')}`
  if (type === 0x00 || type === 0xff) return failure('invalid_type', `message type ${hex} is reserved`)
  if (type >= 0xf0) return failure('unsupported_extension', `custom message type ${hex} was not negotiated`)
  return failure('unknown_type', `message type ${hex} is not a core IICP type`)
}

function describeIssues(error: z.ZodError, keys: ReadonlyMap<string, number>): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => {
      const head = issue.path[0]
      const name = typeof head === 'string' ? head : '(message)'
      const key = keys.get(name)
      return `${name}${key === undefined ? '' : ` (key ${key})`}: ${issue.message}`
    })
    .join('; ')
}

/**
 * Decodes a frame's payload into a typed message (frm §4, §9.6). Never throws: an unknown, reserved or
 * custom type, an empty CALL/RESPONSE, a compressed frame (this SDK never negotiates compression), a fragment
 * not yet reassembled, bad CBOR, text keys at the top level, or a field of the wrong type each return an error value.
 * Unknown integer keys are ignored (frm §4.16).
 */
export function decodeNativeMessage(frame: Frame, options: DecodeCborOptions = {}): DecodeMessageResult {
  const version = frame.version & 0x0f
  if (version !== NATIVE_FRAMING_VERSION) {
    return version === 0
      ? failure('invalid_version', 'frame version 0 is reserved')
      : failure('version_mismatch', `frame version ${version} is not ${NATIVE_FRAMING_VERSION}`)
  }
  if (!KIND_BY_TYPE.has(frame.type)) return typeError(frame.type)
  if ((frame.flags & NativeFrameFlags.COMPRESSED) !== 0) return failure('protocol_error', 'compressed payloads were not negotiated')
  if ((frame.flags & NativeFrameFlags.FRAGMENTED) !== 0) return failure('protocol_error', 'fragment frames must be reassembled (FragmentAssembler) before decoding')

  let map: ReadonlyMap<unknown, unknown>
  if (frame.payload.length === 0) {
    if (frame.type === NativeMessageType.CALL || frame.type === NativeMessageType.RESPONSE) {
      return failure('invalid_frame', 'CALL and RESPONSE frames need a payload')
    }
    map = new Map()
  } else {
    const decoded = decodeCbor(frame.payload, options)
    if (!decoded.ok) return decoded
    if (!(decoded.value instanceof Map)) return failure('invalid_payload', 'payload must be a CBOR map')
    map = decoded.value
  }

  const kind = kindOf(frame.type, map)
  if (kind === undefined) return typeError(frame.type)
  const candidate: Record<string, unknown> = { kind }
  try {
    for (const key of map.keys()) {
      if (typeof key !== 'number') return failure('invalid_payload', 'native payload maps use integer keys')
    }
    for (const [name, fk] of DEFS[kind].fields) {
      const key = typeof fk === 'number' ? fk : fk.key
      if (!map.has(key)) continue
      const raw = map.get(key)
      candidate[name] = typeof fk === 'number' ? plain(raw) : nestedFromWire(fk.fields, raw)
    }
  } catch {
    // Only a stack overflow can land here, from nesting deep enough to exhaust the converter.
    return failure('invalid_payload', 'payload nests too deeply')
  }
  const parsed = nativeMessageSchema.safeParse(candidate)
  if (!parsed.success) {
    return failure('invalid_payload', `${kind}: ${describeIssues(parsed.error, DEFS[kind].keyOf)}`)
  }
  return { ok: true, message: parsed.data }
}

/** Whether a type byte is one of the core message types this codec decodes (frm §3). */
export function isNativeMessageType(type: number): boolean {
  return KIND_BY_TYPE.has(type)
}

/**
 * The CLOSE to send before dropping a connection for a codec error (frm §8.4, §9.6): reason = the error code.
 * `undefined` for a wrong magic, where the spec says close silently because the peer likely is not IICP.
 */
export function closeFor(error: NativeCodecError): NativeClose | undefined {
  if (error.code === 'invalid_magic') return undefined
  return { kind: 'close', reason: error.code, message: error.message }
}
