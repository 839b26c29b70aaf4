// Proves with fast-check that nothing a peer sends can crash the native codec or make it hoard memory
// (iicp-framing.md §2, §9.5–§9.6): random bytes, random chunkings, truncated and bit-flipped frames never throw out
// of FrameDecoder, decodeFrame or decodeNativeMessage; the decoder never holds more than one capped frame; valid
// streams cut anywhere yield exactly the whole frames before the cut; generated messages re-encode byte for byte.
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeFrame, FrameDecoder, NATIVE_FRAME_HEADER_BYTES } from '../src/native/frame.js'
import { decodeCbor, encodeCbor } from '../src/native/cbor.js'
import { decodeNativeMessage, encodeNativeMessage } from '../src/native/messages.js'
import type { NativeMessage } from '../src/native/messages.js'

const SMALL_CAP = 4096
const captured = JSON.parse(
  readFileSync(new URL('../../../fixtures/interop/native-python-sdk-0.7.107.json', import.meta.url), 'utf8'),
) as { captures: { native_streaming: { streaming_server_session: { frames: Array<{ header_hex: string; payload_hex: string }> } } } }
const capturedWire = captured.captures.native_streaming.streaming_server_session.frames.map(
  (f) => new Uint8Array(Buffer.from(f.header_hex + f.payload_hex, 'hex')),
)

/** Cuts `bytes` into consecutive chunks at the given (sorted, deduplicated) offsets. */
function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let prev = 0
  for (const p of points) {
    out.push(bytes.subarray(prev, p))
    prev = p
  }
  out.push(bytes.subarray(prev))
  return out
}

const frameArb = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  flags: fc.integer({ min: 0, max: 255 }),
  payload: fc.uint8Array({ maxLength: 300 }),
})

describe('FrameDecoder under generated input', () => {
  it('never throws on random bytes in random chunks and never holds more than one capped frame', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.array(fc.nat(), { maxLength: 20 }), fc.boolean(), (bytes, cuts, magicFirst) => {
        const input = magicFirst ? new Uint8Array([0x49, 0x49, 0x43, 0x50, ...bytes]) : bytes
        const decoder = new FrameDecoder({ maxPayloadBytes: SMALL_CAP })
        let failed = false
        for (const piece of chunk(input, cuts)) {
          const out = decoder.push(piece)
          expect(Array.isArray(out.frames)).toBe(true)
          if (out.error) failed = true
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(NATIVE_FRAME_HEADER_BYTES + SMALL_CAP)
          for (const f of out.frames) expect(f.payload.length).toBeLessThanOrEqual(SMALL_CAP)
        }
        if (failed) expect(decoder.error).toBeDefined()
      }),
      { numRuns: 500 },
    )
  })

  it('yields exactly the whole frames of a valid stream cut at any length, in any chunking', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.nat(), fc.array(fc.nat(), { maxLength: 10 }), (frames, cutAt, cuts) => {
        const encoded = frames.map((f) => encodeFrame(f.type, f.payload, { flags: f.flags }))
        const stream = new Uint8Array(encoded.reduce((n, e) => n + e.length, 0))
        let offset = 0
        for (const e of encoded) {
          stream.set(e, offset)
          offset += e.length
        }
        const prefix = stream.subarray(0, cutAt % (stream.length + 1))
        const decoder = new FrameDecoder()
        const got = []
        for (const piece of chunk(prefix, cuts)) {
          const out = decoder.push(piece)
          expect(out.error).toBeUndefined()
          got.push(...out.frames)
        }
        let whole = 0
        let used = 0
        for (const e of encoded) {
          if (used + e.length > prefix.length) break
          used += e.length
          whole++
        }
        expect(got).toHaveLength(whole)
        got.forEach((f, i) => {
          expect(f.type).toBe(frames[i]?.type)
          expect(f.flags).toBe(frames[i]?.flags)
          expect(Buffer.from(f.payload).equals(Buffer.from(frames[i]?.payload ?? []))).toBe(true)
        })
        expect(decoder.bufferedBytes).toBe(prefix.length - used)
      }),
      { numRuns: 300 },
    )
  })

  it('refuses every announced length above the cap from the header alone', () => {
    fc.assert(
      fc.property(fc.integer({ min: SMALL_CAP + 1, max: 0xffffffff }), fc.integer({ min: 1, max: 11 }), (length, split) => {
        const header = encodeFrame(0x05, new Uint8Array(0))
        new DataView(header.buffer).setUint32(8, length, false)
        const decoder = new FrameDecoder({ maxPayloadBytes: SMALL_CAP })
        expect(decoder.push(header.subarray(0, split)).error).toBeUndefined()
        expect(decoder.push(header.subarray(split)).error?.code).toBe('frame_too_large')
        expect(decoder.bufferedBytes).toBe(0)
      }),
    )
  })
})

describe('decodeFrame and decodeNativeMessage under generated input', () => {
  it('never throw on random bytes or truncated frames', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), fc.uint8Array({ maxLength: 64 }), (f, cutAt, junk) => {
        const wire = encodeFrame(f.type, f.payload, { flags: f.flags })
        const truncated = wire.subarray(0, cutAt % (wire.length + 1))
        for (const input of [truncated, junk]) {
          const result = decodeFrame(input)
          expect(typeof result.ok).toBe('boolean')
          if (!result.ok) expect(['invalid_magic', 'truncated_header', 'truncated_payload']).toContain(result.error.code)
        }
        if (truncated.length < wire.length) expect(decodeFrame(truncated).ok).toBe(false)
        const message = decodeNativeMessage({ version: 1, type: f.type, flags: f.flags, reserved: 0, payload: f.payload })
        expect(typeof message.ok).toBe('boolean')
      }),
      { numRuns: 1000 },
    )
  })

  it('never throw on captured frames with random bytes flipped', () => {
    fc.assert(
      fc.property(fc.constantFrom(...capturedWire), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (wire, flips) => {
        const damaged = Uint8Array.from(wire)
        for (const [at, xor] of flips) damaged[at % damaged.length] = (damaged[at % damaged.length] ?? 0) ^ xor
        const out = new FrameDecoder().push(damaged)
        for (const f of out.frames) expect(typeof decodeNativeMessage(f).ok).toBe('boolean')
        const one = decodeFrame(damaged)
        if (one.ok) expect(typeof decodeNativeMessage(one.frame, { requireCanonical: true }).ok).toBe('boolean')
      }),
      { numRuns: 1000 },
    )
  })

  it('never throw on arbitrary well-formed CBOR in any message type', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 14 }), fc.jsonValue(), fc.dictionary(fc.integer({ min: 0, max: 30 }).map(String), fc.jsonValue()), (type, value, keyed) => {
        const map = new Map(Object.entries(keyed).map(([k, v]) => [Number(k), v]))
        for (const payload of [encodeCbor(value), encodeCbor(map)]) {
          const decoded = decodeNativeMessage({ version: 1, type, flags: 0, reserved: 0, payload })
          expect(typeof decoded.ok).toBe('boolean')
          if (!decoded.ok) expect(decoded.error.message).not.toMatch(/at .*\.ts:\d+/)
        }
      }),
      { numRuns: 500 },
    )
  })
})

const text = fc.string({ maxLength: 40 })
const callArb: fc.Arbitrary<NativeMessage> = fc.record(
  {
    kind: fc.constant('call' as const),
    sessionId: text,
    intent: text,
    payload: fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.dictionary(text, fc.jsonValue())),
    callId: text,
    taskId: text,
    idempotencyKey: text,
    timeout: fc.integer({ min: 1, max: 3600 }),
    traceId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    metadata: fc.dictionary(text, text),
  },
  { requiredKeys: ['kind'] },
)
const streamEventArb: fc.Arbitrary<NativeMessage> = fc.record(
  {
    kind: fc.constant('streamEvent' as const),
    protocolVersion: fc.constant(1),
    sessionId: text,
    callId: text,
    status: fc.constantFrom('partial', 'success', 'error', 'timeout'),
    result: fc.jsonValue(),
    tokensUsed: fc.nat(),
    isFinal: fc.boolean(),
    lifecycle: fc.record({ taskId: text, sequence: fc.nat(), event: text, isFinal: fc.boolean() }),
  },
  { requiredKeys: ['kind', 'status', 'lifecycle'] },
)

describe('generated messages', () => {
  it('re-encode byte for byte after a decode', () => {
    fc.assert(
      fc.property(fc.oneof(callArb, streamEventArb), (message) => {
        const wire = encodeNativeMessage(message)
        const frame = decodeFrame(wire)
        if (!frame.ok) throw new Error(frame.error.code)
        const decoded = decodeNativeMessage(frame.frame, { requireCanonical: true })
        if (!decoded.ok) throw new Error(`${decoded.error.code}: ${decoded.error.message}`)
        expect(Buffer.from(encodeNativeMessage(decoded.message)).equals(Buffer.from(wire))).toBe(true)
      }),
      { numRuns: 300 },
    )
  })

  it('decode the CBOR they were encoded from', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const decoded = decodeCbor(encodeCbor(value), { requireCanonical: true })
        expect(decoded.ok).toBe(true)
      }),
    )
  })
})
