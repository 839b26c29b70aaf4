// Proves the native codec speaks the Python SDK's wire byte for byte (official-sdks.md §5–§6): every frame of
// every captured session (TCP relay bind, refused rebind, direct session, negotiated streaming) decodes into a
// typed message and re-encodes to exactly the captured bytes; rebuilding each frame from the capture's decoded
// JSON gives the same bytes; each direction's stream decodes through the incremental decoder at every split.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  decodeFrame, encodeFrame, FrameDecoder, NATIVE_FRAME_HEADER_BYTES,
} from '../src/native/frame.js'
import { decodeCbor, encodeCbor } from '../src/native/cbor.js'
import { decodeNativeMessage, encodeNativeMessage } from '../src/native/messages.js'
import type { NativeMessage } from '../src/native/messages.js'

interface CapturedFrame {
  i: number
  dir: string
  header: { type: number; type_name: string; length: number; version: number; flags: number; reserved: number }
  header_hex: string
  payload_hex: string
  payload?: unknown
}
interface NativeFixture {
  captures: {
    tcp_relay_session: { session: { frames: CapturedFrame[] }; refused_second_bind: { frames: CapturedFrame[] } }
    native_direct_session: { frames: CapturedFrame[] }
    native_streaming: {
      streaming_server_session: { frames: CapturedFrame[] }
      stream_call_against_serve_node: { frames: CapturedFrame[] }
    }
  }
}

const fixture = JSON.parse(
  readFileSync(new URL('../../../fixtures/interop/native-python-sdk-0.7.107.json', import.meta.url), 'utf8'),
) as NativeFixture

const SESSIONS: ReadonlyArray<readonly [string, CapturedFrame[]]> = [
  ['tcp relay session', fixture.captures.tcp_relay_session.session.frames],
  ['refused second bind', fixture.captures.tcp_relay_session.refused_second_bind.frames],
  ['native direct session', fixture.captures.native_direct_session.frames],
  ['streaming server session', fixture.captures.native_streaming.streaming_server_session.frames],
  ['stream call against serve()', fixture.captures.native_streaming.stream_call_against_serve_node.frames],
]
const ALL_FRAMES = SESSIONS.flatMap(([name, frames]) => frames.map((f) => [name, f] as const))

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const wireOf = (f: CapturedFrame): Uint8Array => hex(f.header_hex + f.payload_hex)

/** The capture's JSON rendering back to a CBOR value: digit keys are integers, {hex} is a byte string. */
function fromCaptureJson(value: unknown, intKeys: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => fromCaptureJson(v, false))
  if (typeof value !== 'object' || value === null) return value
  const entries = Object.entries(value)
  if (entries.length >= 1 && entries.every(([k]) => k === 'hex' || k === 'json' || k === 'cbor') && 'hex' in value) {
    return hex(String(Reflect.get(value, 'hex')))
  }
  const keyed = intKeys || (entries.length > 0 && entries.every(([k]) => /^\d+$/.test(k)))
  if (keyed) return new Map(entries.map(([k, v]) => [Number(k), fromCaptureJson(v, false)]))
  return Object.fromEntries(entries.map(([k, v]) => [k, fromCaptureJson(v, false)]))
}

function decodeCaptured(f: CapturedFrame): NativeMessage {
  const frame = decodeFrame(wireOf(f))
  if (!frame.ok) throw new Error(`frame ${f.i} did not decode: ${frame.error.code}`)
  const message = decodeNativeMessage(frame.frame, { requireCanonical: true })
  if (!message.ok) throw new Error(`frame ${f.i} payload did not decode: ${message.error.code} ${message.error.message}`)
  return message.message
}

describe('the Python SDK 0.7.107 native captures', () => {
  it('hold the 54 frames the capture notes count', () => {
    expect(ALL_FRAMES).toHaveLength(54)
  })

  it.each(ALL_FRAMES.map(([session, f]) => [`${session} #${f.i} ${f.header.type_name}`, f] as const))(
    '%s decodes to a typed message and re-encodes byte for byte',
    (_name, f) => {
      const message = decodeCaptured(f)
      expect(toHex(encodeNativeMessage(message))).toBe(f.header_hex + f.payload_hex)
    },
  )

  it.each(ALL_FRAMES.map(([session, f]) => [`${session} #${f.i} ${f.header.type_name}`, f] as const))(
    '%s rebuilt from the capture\'s decoded fields matches the captured bytes',
    (_name, f) => {
      const payload = f.payload === undefined ? new Uint8Array(0) : encodeCbor(fromCaptureJson(f.payload, true))
      expect(toHex(encodeFrame(f.header.type, payload))).toBe(f.header_hex + f.payload_hex)
    },
  )

  it('maps the relay bind, ticket and acknowledgement to named fields', () => {
    const frames = fixture.captures.tcp_relay_session.session.frames
    const bind = decodeCaptured(frames[2]!)
    expect(bind).toMatchObject({ kind: 'relayBind', workerId: 'cap-worker-1', intent: 'urn:iicp:intent:llm:chat:v1', models: ['worker-echo-1'] })
    expect(bind.kind === 'relayBind' && bind.bindTicket?.startsWith('eyJ2Ijox')).toBe(true)
    expect(decodeCaptured(frames[3]!)).toEqual({ kind: 'relayAck', status: 'ok', workerId: 'cap-worker-1', relayHttpPort: 9620 })
    expect(decodeCaptured(frames[4]!)).toEqual({ kind: 'ping', echo: new Uint8Array(0) })
    expect(decodeCaptured(frames[5]!)).toEqual({ kind: 'pong' })
  })

  it('reads the refused rebind reason', () => {
    const frames = fixture.captures.tcp_relay_session.refused_second_bind.frames
    expect(decodeCaptured(frames[3]!)).toEqual({
      kind: 'relayAck', status: 'error', workerId: 'cap-worker-1', reason: 'worker_id already bound to an alive session',
    })
  })

  it('carries the relay CALL task and the worker RESPONSE as JSON bytes', () => {
    const frames = fixture.captures.tcp_relay_session.session.frames
    const call = decodeCaptured(frames[8]!)
    expect(call.kind).toBe('call')
    if (call.kind !== 'call' || !(call.payload instanceof Uint8Array)) throw new Error('relay CALL payload is not bytes')
    const task = JSON.parse(Buffer.from(call.payload).toString('utf8')) as { intent: string; payload: unknown }
    expect(task.intent).toBe('urn:iicp:intent:llm:chat:v1')
    expect(call.sessionId).toBeUndefined()
    const response = decodeCaptured(frames[9]!)
    expect(response.kind === 'response' && response.callId).toBe(call.callId)
    if (response.kind !== 'response' || !(response.result instanceof Uint8Array)) throw new Error('relay RESPONSE result is not bytes')
    expect(JSON.parse(Buffer.from(response.result).toString('utf8'))).toHaveProperty('result.object', 'chat.completion')
  })

  it('reads the direct session: node ACK, echoed PING, DISCOVER reply, CBOR result, empty CLOSE', () => {
    const frames = fixture.captures.native_direct_session.frames
    expect(decodeCaptured(frames[1]!)).toEqual({ kind: 'ack', protocolVersion: 1, nodeId: 'cap-node-1' })
    expect(decodeCaptured(frames[3]!)).toEqual({ kind: 'pong', echo: new Uint8Array(Buffer.from('iicp-ping-1')) })
    expect(decodeCaptured(frames[6]!)).toEqual({ kind: 'discover', sessionId: 'discover-1', intent: 'urn:iicp:intent:llm:chat:v1' })
    expect(decodeCaptured(frames[7]!)).toEqual({
      kind: 'discoverResponse', sessionId: 'discover-1', intent: 'urn:iicp:intent:llm:chat:v1', nodes: [],
    })
    const response = decodeCaptured(frames[9]!)
    if (response.kind !== 'response' || !(response.result instanceof Uint8Array)) throw new Error('direct RESPONSE result is not bytes')
    const inner = decodeCbor(response.result)
    expect(inner.ok && inner.value instanceof Map && inner.value.get('id')).toBe('chatcmpl-call-native-1')
    expect(decodeCaptured(frames[12]!)).toEqual({ kind: 'close' })
  })

  it('reads negotiated stream events, the buffered reply on the same connection and the error reply', () => {
    const frames = fixture.captures.native_streaming.streaming_server_session.frames
    expect(decodeCaptured(frames[2]!)).toMatchObject({
      kind: 'call', sessionId: 'sess-stream-1', callId: 'call-stream-1', idempotencyKey: 'idem-stream-1', taskId: 'task-stream-1',
    })
    expect(decodeCaptured(frames[3]!)).toEqual({
      kind: 'streamEvent', protocolVersion: 1, sessionId: 'sess-stream-1', callId: 'call-stream-1', status: 'partial',
      result: { delta: 'echo:' }, isFinal: false, lifecycle: { taskId: 'task-stream-1', sequence: 0, event: 'partial', isFinal: false },
    })
    expect(decodeCaptured(frames[6]!)).toMatchObject({
      kind: 'streamEvent', status: 'success', tokensUsed: 3, isFinal: true, result: { content: 'echo: stream me' },
      lifecycle: { sequence: 3, event: 'completed', isFinal: true },
    })
    expect(decodeCaptured(frames[8]!)).toMatchObject({ kind: 'response', callId: 'call-buffered-1' })
    expect(decodeCaptured(frames[10]!)).toEqual({
      kind: 'response', sessionId: 'sess-stream-1', callId: 'call-error-1', errorCode: 422, errorMessage: "echo refuses 'fail'",
    })
  })

  it.each(SESSIONS.flatMap(([name, frames]) => {
    const dirs = [...new Set(frames.map((f) => f.dir))]
    return dirs.map((dir) => [`${name} ${dir}`, frames.filter((f) => f.dir === dir)] as const)
  }))('%s decodes as one stream split at every byte offset', (_name, frames) => {
    const stream = Buffer.concat(frames.map(wireOf))
    const expected = frames.map((f) => f.header_hex + f.payload_hex)
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder()
      const first = decoder.push(stream.subarray(0, cut))
      const second = decoder.push(stream.subarray(cut))
      expect(first.error ?? second.error).toBeUndefined()
      const got = [...first.frames, ...second.frames].map((fr) =>
        toHex(encodeFrame(fr.type, fr.payload, { flags: fr.flags, version: fr.version, reserved: fr.reserved })),
      )
      expect(got).toEqual(expected)
      expect(decoder.bufferedBytes).toBe(0)
    }
    expect(NATIVE_FRAME_HEADER_BYTES).toBe(12)
  })
})
