// Proves the message layer (iicp-framing.md §3–§4, §4.16, §9.6; official-sdks.md §5.2, §6.2, §6.4): every message
// kind, with every field set, survives encode → frame → decode unchanged and lands on its documented integer keys;
// and each kind of bad input (reserved, unknown and custom types, empty CALL, compressed or fragmented frames, bad
// CBOR, text keys, invalid UTF-8, wrong field types, short trace ids, non-canonical bytes) is an error value.
import { describe, expect, it } from 'vitest'
import { decodeCbor, encodeCbor } from '../src/native/cbor.js'
import { decodeFrame, encodeFrame, NativeFrameFlags, NativeMessageType } from '../src/native/frame.js'
import type { Frame } from '../src/native/frame.js'
import {
  closeFor, decodeNativeMessage, encodeNativeMessage, encodeNativePayload, isNativeMessageType, nativeTypeOf,
} from '../src/native/messages.js'
import type { NativeMessage, NativeMessageKind } from '../src/native/messages.js'

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b)
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const trace16 = new Uint8Array(16).fill(7)
const span8 = new Uint8Array(8).fill(9)

function frameOf(type: number, payload: Uint8Array, flags = 0, version = 1): Frame {
  return { version, type, flags, reserved: 0, payload }
}

function roundTrip(message: NativeMessage): NativeMessage {
  const decodedFrame = decodeFrame(encodeNativeMessage(message))
  if (!decodedFrame.ok) throw new Error(decodedFrame.error.code)
  const decoded = decodeNativeMessage(decodedFrame.frame, { requireCanonical: true })
  if (!decoded.ok) throw new Error(`${decoded.error.code}: ${decoded.error.message}`)
  return decoded.message
}

/** The top-level integer keys a message is written with. */
function keysOf(message: NativeMessage): number[] {
  const payload = encodeNativePayload(message)
  const decoded = decodeCbor(payload)
  if (!decoded.ok || !(decoded.value instanceof Map)) return []
  return [...decoded.value.keys()].map(Number)
}

const FULL: Readonly<Record<NativeMessageKind, NativeMessage>> = {
  init: {
    kind: 'init', protocolVersion: 1, minVersion: 1, nodeId: 'n-1', nodeToken: 't'.repeat(64),
    capabilities: ['urn:iicp:custom:acme:audit:v1'], compression: ['gzip'], maxFrameSize: 65536,
  },
  ack: { kind: 'ack', protocolVersion: 1, nodeId: 'n-2', capabilities: [], compression: 'gzip', maxFrameSize: 1024, serverTime: 1795696155 },
  discover: { kind: 'discover', sessionId: 's-1', intent: 'urn:iicp:intent:llm:chat:v1' },
  discoverResponse: {
    kind: 'discoverResponse', sessionId: 's-1', intent: 'urn:iicp:intent:llm:chat:v1',
    nodes: [{ node_id: 'n-3', endpoint: 'https://n3.example.org', score: 0.5 }],
  },
  subProtocol: { kind: 'subProtocol', subProtocol: 'urn:iicp:sp:cip:v1', action: 'reject', parameters: { k: 1 }, reason: 'busy' },
  call: {
    kind: 'call', protocolVersion: 1, sessionId: 's-2', intent: 'urn:iicp:intent:llm:chat:v1', providerId: 'n-4',
    payload: new TextEncoder().encode('{"messages":[]}'), timeout: 30, priority: 1, credits: 2, routingHint: 'r',
    schedulingHint: 'interactive', authToken: 'a'.repeat(40), retryPolicy: { maxRetries: 2, backoffMs: 200 },
    traceId: trace16, parentSpan: span8, callId: 'c-1', idempotencyKey: 'i-1', maxTokens: 256, qos: 'batch',
    transportHint: 'tcp', region: 'eu-central', capabilities: ['text'], ttl: 0, metadata: { a: 'b' }, taskId: 't-1',
  },
  response: {
    kind: 'response', protocolVersion: 1, sessionId: 's-2', status: 'error', result: bytes(0xa0),
    error: { code: 'backend_error', message: 'boom' }, tokensUsed: 3, durationMs: 12, traceId: trace16,
    creditsCharged: 1, nodeId: 'n-4', isFinal: true, callId: 'c-1', errorCode: 502, errorMessage: 'boom',
  },
  streamEvent: {
    kind: 'streamEvent', protocolVersion: 1, sessionId: 's-2', callId: 'c-1', status: 'error', result: { partial: 'x' },
    error: { code: 500, message: 'handler failed' }, tokensUsed: 1, durationMs: 5, nodeId: 'n-4', isFinal: true,
    lifecycle: { taskId: 't-1', sequence: 4, event: 'failed', isFinal: true },
  },
  close: { kind: 'close', reason: 'graceful', message: 'bye', sessionId: 's-2' },
  feedback: { kind: 'feedback', callId: 'c-1', score: 0.75, latencyMs: 120, errorCode: 'task_timeout', comment: 'slow' },
  ping: { kind: 'ping', echo: bytes(1, 2, 3) },
  pong: { kind: 'pong', echo: bytes(1, 2, 3) },
  relayBind: { kind: 'relayBind', workerId: 'w-1', intent: 'urn:iicp:intent:llm:chat:v1', models: ['m'], bindTicket: 'e30.00' },
  relayAck: { kind: 'relayAck', status: 'ok', workerId: 'w-1', reason: 'none', relayHttpPort: 9484 },
  observe: { kind: 'observe', subject: 'call', subjectId: 'c-1', eventType: 'update', data: { n: 1 }, sequence: 2 },
  telemetry: { kind: 'telemetry', nodeId: 'n-4', timestamp: 1795696155, metrics: { rps: 1.5 }, traceId: trace16, spanId: span8 },
}

const EXPECTED_KEYS: Readonly<Record<NativeMessageKind, number[]>> = {
  init: [1, 2, 3, 4, 5, 6, 7],
  ack: [1, 2, 3, 4, 5, 6],
  discover: [2, 3],
  discoverResponse: [2, 3, 20],
  subProtocol: [1, 2, 3, 4],
  call: Array.from({ length: 24 }, (_, i) => i + 1),
  response: [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 100, 101],
  streamEvent: [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13],
  close: [1, 2, 3],
  feedback: [1, 2, 3, 4, 5],
  ping: [1],
  pong: [1],
  relayBind: [1, 2, 3, 4],
  relayAck: [1, 2, 3, 4],
  observe: [1, 2, 3, 4, 5],
  telemetry: [1, 2, 3, 4, 5],
}

const EXPECTED_TYPE: Readonly<Record<NativeMessageKind, number>> = {
  init: 0x01, ack: 0x02, discover: 0x03, discoverResponse: 0x06, subProtocol: 0x04, call: 0x05, response: 0x06,
  streamEvent: 0x06, close: 0x07, feedback: 0x08, ping: 0x09, pong: 0x0a, relayBind: 0x0b, relayAck: 0x0c,
  observe: 0x0d, telemetry: 0x0e,
}

describe('every native message kind', () => {
  it.each(Object.values(FULL).map((m) => [m.kind, m] as const))('%s round-trips with every field set', (_kind, message) => {
    expect(roundTrip(message)).toEqual(message)
  })

  it.each(Object.values(FULL).map((m) => [m.kind, m] as const))('%s is written under its documented integer keys', (kind, message) => {
    expect(keysOf(message)).toEqual(EXPECTED_KEYS[kind])
  })

  it.each(Object.values(FULL).map((m) => [m.kind, m] as const))('%s travels in its frame type', (kind, message) => {
    const frame = decodeFrame(encodeNativeMessage(message))
    expect(frame.ok && frame.frame.type).toBe(EXPECTED_TYPE[kind])
    expect(nativeTypeOf(kind)).toBe(EXPECTED_TYPE[kind])
  })

  it('covers all fourteen core type bytes', () => {
    const types = new Set(Object.values(EXPECTED_TYPE))
    expect([...types].sort((a, b) => a - b)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1))
    for (const t of types) expect(isNativeMessageType(t)).toBe(true)
    expect(isNativeMessageType(0x0f)).toBe(false)
  })

  it('round-trips the minimal forms the SDKs send', () => {
    for (const message of [
      { kind: 'init', protocolVersion: 1 },
      { kind: 'ack', protocolVersion: 1 },
      { kind: 'ping' },
      { kind: 'pong' },
      { kind: 'close' },
      { kind: 'relayBind', workerId: 'w' },
      { kind: 'relayAck', status: 'error', workerId: 'w', reason: 'relay at session capacity' },
      { kind: 'call', payload: { messages: [] }, callId: 'c' },
    ] satisfies NativeMessage[]) {
      expect(roundTrip(message)).toEqual(message)
    }
  })

  it('writes an empty CLOSE as a zero-length payload and an empty PING as an empty map', () => {
    expect(toHex(encodeNativeMessage({ kind: 'close' }))).toBe('494943500107000000000000')
    expect(toHex(encodeNativeMessage({ kind: 'ping' }))).toBe('494943500109000000000001a0')
  })

  it('reads a zero-length PING as a PING without echo', () => {
    expect(decodeNativeMessage(frameOf(NativeMessageType.PING, bytes()))).toEqual({ ok: true, message: { kind: 'ping' } })
  })

  it('turns text-keyed maps into plain objects without ever touching a prototype through a __proto__ key', () => {
    const hostile = new Map<string, unknown>([['__proto__', new Map([['polluted', true]])], ['a', 1]])
    const call = decodeNativeMessage(frameOf(NativeMessageType.CALL, encodeCbor(new Map<number, unknown>([[5, hostile]]))))
    if (!call.ok || call.message.kind !== 'call') throw new Error('CALL did not decode')
    const payload = call.message.payload ?? {}
    expect(Object.getPrototypeOf(payload)).toBe(Object.prototype)
    expect(Reflect.get(payload, 'polluted')).toBeUndefined()
    expect(Reflect.get(payload, 'a')).toBe(1)
    const response = decodeNativeMessage(frameOf(NativeMessageType.RESPONSE, encodeCbor(new Map<number, unknown>([[5, hostile]]))))
    if (!response.ok || response.message.kind !== 'response') throw new Error('RESPONSE did not decode')
    const result: unknown = response.message.result
    expect(typeof result === 'object' && result !== null && Object.getPrototypeOf(result)).toBe(Object.prototype)
    expect(Object.keys(result ?? {}).sort()).toEqual(['__proto__', 'a'])
    expect(Reflect.get({}, 'polluted')).toBeUndefined()
  })

  it('keeps a result map with integer keys as a Map', () => {
    const payload = encodeCbor(new Map<number, unknown>([[2, 's'], [5, new Map([[1, 'x']])]]))
    const decoded = decodeNativeMessage(frameOf(NativeMessageType.RESPONSE, payload))
    expect(decoded.ok && decoded.message.kind === 'response' && decoded.message.result).toEqual(new Map([[1, 'x']]))
  })

  it('ignores unknown integer keys', () => {
    const payload = encodeCbor(new Map<number, unknown>([[1, 'w'], [99, 'future']]))
    expect(decodeNativeMessage(frameOf(NativeMessageType.RELAY_BIND, payload))).toEqual({ ok: true, message: { kind: 'relayBind', workerId: 'w' } })
  })
})

describe('decodeNativeMessage refusals', () => {
  const ok = encodeCbor(new Map([[1, 1]]))

  const refusedTypes: ReadonlyArray<readonly [number, string]> = [
    [0x00, 'invalid_type'],
    [0xff, 'invalid_type'],
    [0x0f, 'unknown_type'],
    [0xef, 'unknown_type'],
    [0xf0, 'unsupported_extension'],
    [0xfe, 'unsupported_extension'],
  ]
  it.each(refusedTypes.map(([type, code]) => [`0x${type.toString(16).padStart(2, '0')}`, type, code] as const))('refuses type %s with %s', (_hex, type, code) => {
    expect(decodeNativeMessage(frameOf(type, ok))).toEqual({ ok: false, error: { code, message: expect.any(String) } })
  })

  it('refuses empty CALL and RESPONSE payloads with invalid_frame', () => {
    expect(decodeNativeMessage(frameOf(NativeMessageType.CALL, bytes()))).toMatchObject({ ok: false, error: { code: 'invalid_frame' } })
    expect(decodeNativeMessage(frameOf(NativeMessageType.RESPONSE, bytes()))).toMatchObject({ ok: false, error: { code: 'invalid_frame' } })
  })

  it('refuses compressed and fragmented frames, which this SDK never negotiates, but ignores unknown flag bits', () => {
    expect(decodeNativeMessage(frameOf(NativeMessageType.INIT, ok, NativeFrameFlags.COMPRESSED))).toMatchObject({ ok: false, error: { code: 'protocol_error' } })
    expect(decodeNativeMessage(frameOf(NativeMessageType.INIT, ok, NativeFrameFlags.FRAGMENTED))).toMatchObject({ ok: false, error: { code: 'protocol_error' } })
    expect(decodeNativeMessage(frameOf(NativeMessageType.INIT, ok, 0x80))).toEqual({ ok: true, message: { kind: 'init', protocolVersion: 1 } })
  })

  it('refuses frame versions other than 1', () => {
    expect(decodeNativeMessage(frameOf(NativeMessageType.INIT, ok, 0, 0))).toMatchObject({ ok: false, error: { code: 'invalid_version' } })
    expect(decodeNativeMessage(frameOf(NativeMessageType.INIT, ok, 0, 3))).toMatchObject({ ok: false, error: { code: 'version_mismatch' } })
  })

  it.each([
    ['truncated CBOR', bytes(0xa1, 0x01)],
    ['an indefinite-length map', bytes(0xbf, 0x01, 0x01, 0xff)],
    ['a non-minimal integer', bytes(0xa1, 0x18, 0x01, 0x01)],
    ['a duplicate key', bytes(0xa2, 0x01, 0x01, 0x01, 0x02)],
    ['trailing bytes', bytes(0xa1, 0x01, 0x01, 0x00)],
    ['an unknown tag', bytes(0xa1, 0x01, 0xd8, 0x64, 0x01)],
    ['undefined', bytes(0xa1, 0x01, 0xf7)],
    ['invalid UTF-8 in a text string', bytes(0xa1, 0x03, 0x62, 0xc3, 0x28)],
    ['a lone continuation byte in a text string', bytes(0xa1, 0x03, 0x61, 0x80)],
  ])('refuses %s with cbor_decode_error', (_name, payload) => {
    expect(decodeNativeMessage(frameOf(NativeMessageType.INIT, payload))).toMatchObject({ ok: false, error: { code: 'cbor_decode_error' } })
  })

  it('accepts valid multi-byte UTF-8', () => {
    const payload = encodeCbor(new Map([[1, 'wörker-ü-✓-😀']]))
    expect(decodeNativeMessage(frameOf(NativeMessageType.RELAY_BIND, payload))).toEqual({ ok: true, message: { kind: 'relayBind', workerId: 'wörker-ü-✓-😀' } })
  })

  it.each([
    ['a payload that is not a map', NativeMessageType.INIT, encodeCbor([1, 2])],
    ['text keys (the 0.5.x TS dialect)', NativeMessageType.INIT, encodeCbor({ 1: 1 })],
    ['a missing required field', NativeMessageType.RELAY_BIND, encodeCbor(new Map([[2, 'urn:iicp:intent:llm:chat:v1']]))],
    ['a field of the wrong type', NativeMessageType.INIT, encodeCbor(new Map([[1, 'one']]))],
    ['a 15-byte trace id', NativeMessageType.CALL, encodeCbor(new Map([[13, new Uint8Array(15)]]))],
    ['a 9-byte parent span', NativeMessageType.CALL, encodeCbor(new Map([[14, new Uint8Array(9)]]))],
    ['a 65-byte PING echo', NativeMessageType.PING, encodeCbor(new Map([[1, new Uint8Array(65)]]))],
    ['a text PING echo', NativeMessageType.PING, encodeCbor(new Map([[1, 'abc']]))],
    ['a stream event without lifecycle fields', NativeMessageType.RESPONSE, encodeCbor(new Map<number, unknown>([[4, 'partial'], [13, new Map()]]))],
  ])('refuses %s with invalid_payload', (_name, type, payload) => {
    expect(decodeNativeMessage(frameOf(type, payload))).toMatchObject({ ok: false, error: { code: 'invalid_payload' } })
  })

  it('names the field and key in the message but never the value', () => {
    const secret = 'sk-secret-token-value-that-must-not-leak'
    const decoded = decodeNativeMessage(frameOf(NativeMessageType.INIT, encodeCbor(new Map<number, unknown>([[1, secret], [4, 42]]))))
    expect(decoded.ok).toBe(false)
    if (decoded.ok) return
    expect(decoded.error.message).toContain('protocolVersion (key 1)')
    expect(decoded.error.message).not.toContain(secret)
  })

  it('accepts maps in insertion order by default but refuses them when canonical form is required', () => {
    // {2: "a", 1: 1}: keys out of order, as the official TS SDK's cbor-x emits them.
    const unordered = bytes(0xa2, 0x02, 0x61, 0x61, 0x01, 0x01)
    expect(decodeNativeMessage(frameOf(NativeMessageType.ACK, unordered))).toEqual({ ok: true, message: { kind: 'ack', protocolVersion: 1, nodeId: 'a' } })
    expect(decodeNativeMessage(frameOf(NativeMessageType.ACK, unordered), { requireCanonical: true })).toMatchObject({ ok: false, error: { code: 'invalid_payload' } })
  })

  it('refuses a float wider than needed when canonical form is required', () => {
    // 0.5 as a float64 (0xfb…) instead of the float16 0xf93800.
    const wide = bytes(0xa2, 0x01, 0x61, 0x63, 0x02, 0xfb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0)
    expect(decodeNativeMessage(frameOf(NativeMessageType.FEEDBACK, wide))).toMatchObject({ ok: true, message: { score: 0.5 } })
    expect(decodeNativeMessage(frameOf(NativeMessageType.FEEDBACK, wide), { requireCanonical: true })).toMatchObject({ ok: false, error: { code: 'invalid_payload' } })
  })

  it('turns absurd nesting into an error value', () => {
    const deep = new Uint8Array(200_000).fill(0x81)
    const payload = new Uint8Array([0xa1, 0x05, ...deep, 0x00])
    const decoded = decodeNativeMessage(frameOf(NativeMessageType.CALL, payload))
    expect(decoded.ok).toBe(false)
  })
})

describe('closeFor', () => {
  it('names the codec error as the CLOSE reason', () => {
    expect(closeFor({ code: 'frame_too_large', message: 'too big' })).toEqual({ kind: 'close', reason: 'frame_too_large', message: 'too big' })
    expect(toHex(encodeNativeMessage({ kind: 'close', reason: 'graceful' }))).toBe('49494350010700000000000b' + 'a10168677261636566756c')
  })

  it('stays silent on a wrong magic, where the peer is likely not IICP', () => {
    expect(closeFor({ code: 'invalid_magic', message: 'x' })).toBeUndefined()
  })
})

describe('encodeCbor', () => {
  it('throws IicpError validation_error for values CBOR cannot carry', () => {
    expect(() => encodeCbor(() => 1)).toThrowError(expect.objectContaining({ code: 'validation_error' }))
  })

  it('sorts keys length-first as cbor2 canonical does', () => {
    expect(toHex(encodeCbor({ usage: 1, id: 2, model: 3 }))).toBe(toHex(encodeCbor({ id: 2, model: 3, usage: 1 })))
    expect(toHex(encodeCbor({ bb: 1, a: 2 }))).toBe('a261610262626201')
  })

  it('encodes through encodeFrame unchanged', () => {
    const payload = encodeCbor(new Map([[1, 1]]))
    expect(toHex(encodeFrame(NativeMessageType.INIT, payload))).toBe('494943500101000000000003a10101')
  })
})
