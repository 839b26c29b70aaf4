/**
 * What this proves: the hand-coded CALL and RESPONSE frames of a TCP relay session are, byte for byte, what
 * @iicp/protocol's deterministic encoder writes (any call id, any body length across every CBOR head width, any
 * headers, Unicode included, in the encoder's key order); and the hand-written readers never disagree with the
 * strict decoder: on any payload they accept, the strict decoder accepts it too and reads the same fields, and
 * everything they refuse (extra keys, non-ASCII text, long-form heads, repeated keys, trailing bytes, mutated bytes)
 * is left to it.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { NativeMessageType, decodeCbor, decodeNativeMessage, encodeCbor, encodeFrame, encodeNativeMessage } from '@iicp/protocol'
import { encodeRelayCall, encodeRelayResponse, readRelayCall, readRelayResponse } from '../src/tcp/relay-codec.js'

const FRAME_HEADER = 12

/** Body lengths around every CBOR head boundary (1, 2, 3 and 5 bytes), plus small random ones. */
const body = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.constantFrom(23, 24, 255, 256, 65_535, 65_536, 70_000).map((n) => new Uint8Array(n).fill(0x7b)),
)
/** Any JavaScript string: ASCII, other scripts, and lone surrogates (which both encoders write as U+FFFD). */
const anyText = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme', maxLength: 5 }))
const headerName = fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,20}$/), anyText)
const headers = fc.dictionary(headerName, anyText, { maxKeys: 6 })
const asciiText = fc.stringMatching(/^[\x00-\x7f]{0,40}$/)
const asciiHeaders = fc.dictionary(fc.stringMatching(/^[a-z0-9-]{1,20}$/).filter((k) => k !== '__proto__'), asciiText, { maxKeys: 6 })
const status = fc.integer({ min: 100, max: 599 })

function bytesOf(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}

/** Byte equality that stays fast for 70 kB bodies (a deep `toEqual` over arrays of numbers does not). */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length)
  expect(bytesOf(actual).equals(bytesOf(expected))).toBe(true)
}

describe('hand-coded relay frames', () => {
  it('write the CALL frame encodeNativeMessage writes, with and without headers', () => {
    fc.assert(fc.property(anyText, body, fc.option(headers, { nil: undefined }), (callId, b, metadata) => {
      const expected = encodeNativeMessage({ kind: 'call', payload: b, callId, ...(metadata ? { metadata } : {}) })
      expectSameBytes(encodeRelayCall(callId, b, metadata), expected)
    }), { numRuns: 400 })
  })

  it('write the RESPONSE frame the generic CBOR encoder writes for this worker\'s four keys', () => {
    fc.assert(fc.property(anyText, body, headers, status, (callId, b, h, s) => {
      const expected = encodeFrame(NativeMessageType.RESPONSE, encodeCbor(new Map<number, unknown>([[5, b], [15, callId], [23, h], [100, s]])))
      expectSameBytes(encodeRelayResponse(callId, b, h, s), expected)
    }), { numRuns: 400 })
  })

  it('refuse a frame past the native size limit with payload_too_large, as the protocol encoder does', () => {
    const huge = new Uint8Array(16 * 1024 * 1024 + 1)
    expect(() => encodeRelayCall('c', huge, undefined)).toThrow(expect.objectContaining({ code: 'payload_too_large' }))
    expect(() => encodeRelayResponse('c', huge, {}, 200)).toThrow(expect.objectContaining({ code: 'payload_too_large' }))
  })
})

describe('the CALL reader', () => {
  it('reads every plain relayed CALL with ASCII ids and headers exactly as the strict decoder does', () => {
    fc.assert(fc.property(asciiText, body, fc.option(asciiHeaders, { nil: undefined }), (callId, b, metadata) => {
      const frame = encodeNativeMessage({ kind: 'call', payload: b, callId, ...(metadata ? { metadata } : {}) })
      const fast = readRelayCall(frame.subarray(FRAME_HEADER))
      expect(fast).toBeDefined()
      expect(fast?.callId).toBe(callId)
      expectSameBytes(fast?.body ?? new Uint8Array(), b)
      expect(fast?.metadata).toEqual(metadata)
    }), { numRuns: 300 })
  })

  it('never accepts what the strict decoder refuses, and agrees with it on what both accept', () => {
    const value = fc.oneof(fc.uint8Array({ maxLength: 8 }), anyText, asciiText, fc.integer(), headers, asciiHeaders, fc.constant(null))
    const key = fc.constantFrom(1, 2, 5, 15, 23, 24, 100)
    const random = fc.array(fc.tuple(key, value), { maxLength: 4 }).map((entries) => encodeCbor(new Map<number, unknown>(entries)))
    // Valid relayed CALLs, some with one more entry, so that both the accepting and the refusing side get exercised.
    const nearValid = fc.tuple(fc.uint8Array({ maxLength: 8 }), asciiText, fc.option(asciiHeaders, { nil: undefined }), fc.option(fc.tuple(key, value), { nil: undefined }))
      .map(([b, id, h, extra]) => {
        const m = new Map<number, unknown>([[5, b], [15, id]])
        if (h) m.set(23, h)
        if (extra) m.set(extra[0], extra[1])
        return encodeCbor(m)
      })
    const payload = fc.oneof(random, nearValid)
    const mutated = fc.tuple(payload, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean())
      .map(([p, at, byte, append]) => {
        const copy = Uint8Array.from(p)
        if (append) return Uint8Array.from([...copy, byte])
        if (copy.length > 0) copy[at % copy.length] = byte
        return copy
      })
    fc.assert(fc.property(fc.oneof(payload, mutated), (p) => {
      const fast = readRelayCall(p)
      if (fast === undefined) return
      const strict = decodeNativeMessage({ version: 1, type: NativeMessageType.CALL, flags: 0, reserved: 0, payload: p })
      expect(strict.ok).toBe(true)
      if (!strict.ok || strict.message.kind !== 'call') throw new Error('strict decoder refused what the reader accepted')
      expect(strict.message.callId).toBe(fast.callId)
      expectSameBytes(strict.message.payload as Uint8Array, fast.body)
      expect(strict.message.metadata).toEqual(fast.metadata)
      expect(strict.message.taskId).toBeUndefined()
      expect(strict.message.sessionId).toBeUndefined()
    }), { numRuns: 2000 })
  })

  it('leaves to the strict decoder a streaming CALL, a repeated key, a long-form head, non-ASCII text and trailing bytes', () => {
    const plain = encodeNativeMessage({ kind: 'call', payload: new Uint8Array([1]), callId: 'c1' }).subarray(FRAME_HEADER)
    expect(readRelayCall(plain)).toEqual({ callId: 'c1', body: new Uint8Array([1]), metadata: undefined })
    const streaming = encodeNativeMessage({ kind: 'call', payload: new Uint8Array([1]), callId: 'c1', taskId: 't1' }).subarray(FRAME_HEADER)
    expect(readRelayCall(streaming)).toBeUndefined()
    // {5: h'01', 5: h'01'}: a repeated key.
    expect(readRelayCall(Uint8Array.from([0xa2, 0x05, 0x41, 0x01, 0x05, 0x41, 0x01]))).toBeUndefined()
    // {5: h'01', 15: "c"} with the length of "c" in a two-byte head.
    expect(readRelayCall(Uint8Array.from([0xa2, 0x05, 0x41, 0x01, 0x0f, 0x78, 0x01, 0x63]))).toBeUndefined()
    const accented = encodeNativeMessage({ kind: 'call', payload: new Uint8Array([1]), callId: 'caf\u00e9' }).subarray(FRAME_HEADER)
    expect(readRelayCall(accented)).toBeUndefined()
    expect(readRelayCall(Uint8Array.from([...plain, 0x00]))).toBeUndefined()
    const proto = encodeNativeMessage({ kind: 'call', payload: new Uint8Array([1]), callId: 'c', metadata: JSON.parse('{"__proto__":"x"}') as Record<string, string> })
    expect(readRelayCall(proto.subarray(FRAME_HEADER))).toBeUndefined()
  })
})

describe('the RESPONSE reader', () => {
  it('reads every answer of this package\'s worker with ASCII ids and headers', () => {
    fc.assert(fc.property(asciiText, body, asciiHeaders, status, (callId, b, h, s) => {
      const fast = readRelayResponse(encodeRelayResponse(callId, b, h, s).subarray(FRAME_HEADER))
      expect(fast).toBeDefined()
      expect(fast?.callId).toBe(callId)
      expect(fast?.status).toBe(s)
      expect(fast?.headers).toEqual(h)
      expectSameBytes(fast?.body ?? new Uint8Array(), b)
    }), { numRuns: 300 })
  })

  it('never accepts what the strict decoder refuses, and agrees with it on what both accept', () => {
    const value = fc.oneof(fc.uint8Array({ maxLength: 8 }), anyText, asciiText, fc.integer({ min: -5, max: 700 }), headers, asciiHeaders)
    const key = fc.constantFrom(5, 13, 15, 23, 100, 101)
    const random = fc.array(fc.tuple(key, value), { maxLength: 5 }).map((entries) => encodeCbor(new Map<number, unknown>(entries)))
    const nearValid = fc.tuple(fc.uint8Array({ maxLength: 8 }), asciiText, fc.option(asciiHeaders, { nil: undefined }), status, fc.option(fc.tuple(key, value), { nil: undefined }))
      .map(([b, id, h, s, extra]) => {
        const m = new Map<number, unknown>([[5, b], [15, id], [100, s]])
        if (h) m.set(23, h)
        if (extra) m.set(extra[0], extra[1])
        return encodeCbor(m)
      })
    const payload = fc.oneof(random, nearValid)
    const mutated = fc.tuple(payload, fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([p, at, byte]) => {
        const copy = Uint8Array.from(p)
        if (copy.length > 0) copy[at % copy.length] = byte
        return copy
      })
    fc.assert(fc.property(fc.oneof(payload, mutated), (p) => {
      const fast = readRelayResponse(p)
      if (fast === undefined) return
      const strict = decodeCbor(p)
      expect(strict.ok).toBe(true)
      if (!strict.ok || !(strict.value instanceof Map)) throw new Error('strict decoder refused what the reader accepted')
      const map = strict.value as Map<unknown, unknown>
      expect(map.has(13)).toBe(false)
      expect(map.get(15)).toBe(fast.callId)
      expect(map.get(100)).toBe(fast.status)
      expectSameBytes(map.get(5) as Uint8Array, fast.body)
      const h = map.get(23)
      expect(h === undefined ? undefined : Object.fromEntries(h as Map<string, string>)).toEqual(fast.headers)
    }), { numRuns: 2000 })
  })

  it('leaves to the generic path a stream event, a reference worker\'s answer and a status outside 100-599', () => {
    const event = encodeCbor(new Map<number, unknown>([[5, new Uint8Array(0)], [13, 'x'], [15, 'c'], [100, 200]]))
    expect(readRelayResponse(event)).toBeUndefined()
    const reference = encodeCbor(new Map<number, unknown>([[5, new Uint8Array(0)], [15, 'c']]))
    expect(readRelayResponse(reference)).toBeUndefined()
    const odd = encodeCbor(new Map<number, unknown>([[5, new Uint8Array(0)], [15, 'c'], [100, 600]]))
    expect(readRelayResponse(odd)).toBeUndefined()
  })
})
