// Proves the frame layer (iicp-framing.md §1–§2, §9.5–§9.6): the spec's implementation-backed native-framing
// vectors decode as the Rust, Python and TS SDKs decode them; an oversize length is refused from the header
// alone, before any payload buffer exists; a magic split across pushes still routes and decodes; garbage fails
// at the first wrong byte; and the single-port sniffer never decides on fewer than four matching bytes.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { isIicpError } from '../src/errors.js'
import {
  decodeFrame, encodeFrame, FrameDecoder, NATIVE_FRAME_HEADER_BYTES, NATIVE_FRAME_MAGIC, NATIVE_MAX_PAYLOAD_BYTES,
  NativeMessageType, sniffProtocol,
} from '../src/native/frame.js'

interface FramingScenario {
  name: string
  wire_hex: string
  expected:
    | { outcome: 'accept'; version: number; message_type: number; flags: number; payload_hex: string; consumed: number }
    | { outcome: 'reject'; reason: string }
}
const vectors = JSON.parse(
  readFileSync(new URL('../../../fixtures/spec/research/native-ai-infrastructure/fixtures/native-framing-v1.json', import.meta.url), 'utf8'),
) as { frame: { header_bytes: number; framing_version: number }; scenarios: FramingScenario[] }

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'))

/** A header announcing `length` payload bytes, with nothing after it. */
function header(length: number, type: number = NativeMessageType.CALL, version = 1): Uint8Array {
  const h = new Uint8Array(NATIVE_FRAME_HEADER_BYTES)
  h.set(ascii('IICP'))
  h[4] = version
  h[5] = type
  new DataView(h.buffer).setUint32(8, length, false)
  return h
}

describe('the spec native-framing-v1 vectors', () => {
  it('pin a 12-byte header at framing version 1', () => {
    expect(vectors.frame.header_bytes).toBe(NATIVE_FRAME_HEADER_BYTES)
    expect(vectors.frame.framing_version).toBe(1)
    expect(NATIVE_FRAME_MAGIC).toBe('IICP')
  })

  it.each(vectors.scenarios.map((s) => [s.name, s] as const))('%s decodes as the SDKs decode it', (_name, scenario) => {
    const result = decodeFrame(hex(scenario.wire_hex))
    const expected = scenario.expected
    if (expected.outcome === 'accept') {
      expect(result.ok).toBe(true)
      if (!result.ok) return
      expect(result.frame.version).toBe(expected.version)
      expect(result.frame.type).toBe(expected.message_type)
      expect(result.frame.flags).toBe(expected.flags)
      expect(toHex(result.frame.payload)).toBe(expected.payload_hex)
      expect(result.consumed).toBe(expected.consumed)
    } else {
      expect(result).toEqual({ ok: false, error: { code: expected.reason, message: expect.any(String) } })
    }
  })

  it('encodes the empty PING vector exactly', () => {
    const ping = vectors.scenarios.find((s) => s.name === 'ping_empty')
    expect(toHex(encodeFrame(NativeMessageType.PING))).toBe(ping?.wire_hex)
  })

  it.each(vectors.scenarios.filter((s) => s.expected.outcome === 'accept').map((s) => [s.name, s] as const))(
    '%s decodes the same through the incremental decoder fed one byte at a time',
    (_name, scenario) => {
      const decoder = new FrameDecoder()
      const wire = hex(scenario.wire_hex)
      const frames = []
      for (const byte of wire) {
        const out = decoder.push(Uint8Array.of(byte))
        expect(out.error).toBeUndefined()
        frames.push(...out.frames)
      }
      expect(frames).toHaveLength(1)
      expect(toHex(frames[0]!.payload)).toBe(scenario.expected.outcome === 'accept' ? scenario.expected.payload_hex : '')
    },
  )
})

describe('encodeFrame', () => {
  it('writes magic, version 1, type, zero flags and reserved, and a big-endian length', () => {
    expect(toHex(encodeFrame(NativeMessageType.INIT, hex('a10101')))).toBe('494943500101000000000003a10101')
  })

  it('refuses a payload over 16 MiB with IicpError payload_too_large', () => {
    expect.assertions(2)
    try {
      encodeFrame(NativeMessageType.CALL, new Uint8Array(NATIVE_MAX_PAYLOAD_BYTES + 1))
    } catch (err) {
      expect(isIicpError(err)).toBe(true)
      expect(isIicpError(err) && err.code).toBe('payload_too_large')
    }
  })

  it('refuses a header byte outside 0–255 with IicpError validation_error', () => {
    expect(() => encodeFrame(256)).toThrowError(expect.objectContaining({ code: 'validation_error' }))
    expect(() => encodeFrame(NativeMessageType.PING, undefined, { flags: -1 })).toThrowError(expect.objectContaining({ code: 'validation_error' }))
  })
})

describe('FrameDecoder', () => {
  it('refuses a 0xFFFFFFFF length from the header alone, holding nothing', () => {
    const decoder = new FrameDecoder()
    const out = decoder.push(header(0xffffffff, NativeMessageType.PING))
    expect(out).toEqual({ frames: [], error: { code: 'frame_too_large', message: expect.any(String) } })
    expect(decoder.bufferedBytes).toBe(0)
  })

  it('refuses a length one past 16 MiB even when the header arrives in pieces', () => {
    const decoder = new FrameDecoder()
    const h = header(NATIVE_MAX_PAYLOAD_BYTES + 1)
    expect(decoder.push(h.subarray(0, 7)).error).toBeUndefined()
    expect(decoder.push(h.subarray(7)).error?.code).toBe('frame_too_large')
    expect(decoder.bufferedBytes).toBe(0)
  })

  it('accepts exactly 16 MiB as the largest announced payload', () => {
    const decoder = new FrameDecoder()
    expect(decoder.push(header(NATIVE_MAX_PAYLOAD_BYTES)).error).toBeUndefined()
  })

  it('honours a smaller configured cap', () => {
    const decoder = new FrameDecoder({ maxPayloadBytes: 1024 })
    expect(decoder.push(header(1025)).error?.code).toBe('frame_too_large')
    expect(new FrameDecoder({ maxPayloadBytes: 1024 }).push(header(1024)).error).toBeUndefined()
  })

  it('never raises its cap above 16 MiB', () => {
    const decoder = new FrameDecoder({ maxPayloadBytes: 2 ** 40 })
    expect(decoder.push(header(NATIVE_MAX_PAYLOAD_BYTES + 1)).error?.code).toBe('frame_too_large')
  })

  it('decodes a frame whose magic is split 2+2 across pushes', () => {
    const wire = encodeFrame(NativeMessageType.PING, hex('a0'))
    const decoder = new FrameDecoder()
    expect(decoder.push(wire.subarray(0, 2))).toEqual({ frames: [], error: undefined })
    const out = decoder.push(wire.subarray(2))
    expect(out.error).toBeUndefined()
    expect(out.frames.map((f) => [f.type, toHex(f.payload)])).toEqual([[NativeMessageType.PING, 'a0']])
  })

  it('fails on the first byte that breaks the magic, without waiting for a header', () => {
    const decoder = new FrameDecoder()
    expect(decoder.push(ascii('II')).error).toBeUndefined()
    expect(decoder.push(ascii('X')).error?.code).toBe('invalid_magic')
  })

  it('fails at once on HTTP bytes', () => {
    expect(new FrameDecoder().push(ascii('G')).error?.code).toBe('invalid_magic')
  })

  it('returns the frames completed before an error in the same push', () => {
    const good = encodeFrame(NativeMessageType.PING, hex('a0'))
    const decoder = new FrameDecoder()
    const out = decoder.push(new Uint8Array([...good, ...ascii('JUNK')]))
    expect(out.frames).toHaveLength(1)
    expect(out.error?.code).toBe('invalid_magic')
  })

  it('stays failed after an error and ignores later input', () => {
    const decoder = new FrameDecoder()
    decoder.push(ascii('HTTP'))
    const later = decoder.push(encodeFrame(NativeMessageType.PING))
    expect(later.frames).toEqual([])
    expect(later.error?.code).toBe('invalid_magic')
    expect(decoder.error?.code).toBe('invalid_magic')
  })

  it('refuses version 0 and versions above 1, ignoring the upper four version bits', () => {
    expect(new FrameDecoder().push(header(0, NativeMessageType.PING, 0)).error?.code).toBe('invalid_version')
    expect(new FrameDecoder().push(header(0, NativeMessageType.PING, 2)).error?.code).toBe('version_mismatch')
    const out = new FrameDecoder().push(header(0, NativeMessageType.PING, 0xf1))
    expect(out.error).toBeUndefined()
    expect(out.frames[0]?.version).toBe(0xf1)
  })

  it('decodes many frames from one push, including zero-length ones', () => {
    const wire = new Uint8Array([
      ...encodeFrame(NativeMessageType.PING),
      ...encodeFrame(NativeMessageType.CALL, hex('a10101')),
      ...encodeFrame(NativeMessageType.CLOSE),
    ])
    const out = new FrameDecoder().push(wire)
    expect(out.error).toBeUndefined()
    expect(out.frames.map((f) => f.type)).toEqual([NativeMessageType.PING, NativeMessageType.CALL, NativeMessageType.CLOSE])
  })

  it('holds only the partial frame between pushes', () => {
    const wire = encodeFrame(NativeMessageType.CALL, new Uint8Array(100).fill(0xa0))
    const decoder = new FrameDecoder()
    decoder.push(wire.subarray(0, 50))
    expect(decoder.bufferedBytes).toBe(50)
    const out = decoder.push(wire.subarray(50))
    expect(out.frames).toHaveLength(1)
    expect(decoder.bufferedBytes).toBe(0)
  })

  it('accepts an empty push', () => {
    expect(new FrameDecoder().push(new Uint8Array(0))).toEqual({ frames: [], error: undefined })
  })
})

describe('sniffProtocol', () => {
  it('asks for more while the first bytes are a prefix of the magic', () => {
    expect(sniffProtocol(new Uint8Array(0))).toBe('need_more')
    expect(sniffProtocol(ascii('I'))).toBe('need_more')
    expect(sniffProtocol(ascii('II'))).toBe('need_more')
    expect(sniffProtocol(ascii('IIC'))).toBe('need_more')
  })

  it('answers iicp once the four magic bytes are there', () => {
    expect(sniffProtocol(ascii('IICP'))).toBe('iicp')
    expect(sniffProtocol(encodeFrame(NativeMessageType.INIT, hex('a10101')))).toBe('iicp')
  })

  it('answers http as soon as a byte differs from the magic', () => {
    expect(sniffProtocol(ascii('G'))).toBe('http')
    expect(sniffProtocol(ascii('POST /v1/task HTTP/1.1\r\n'))).toBe('http')
    expect(sniffProtocol(ascii('IIX'))).toBe('http')
    expect(sniffProtocol(ascii('IICQ'))).toBe('http')
  })
})

describe('the @iicp/protocol index', () => {
  it('exports the native codec by name', async () => {
    const api = await import('../src/index.js')
    for (const name of [
      'NATIVE_FRAME_MAGIC', 'NATIVE_FRAME_HEADER_BYTES', 'NATIVE_MAX_PAYLOAD_BYTES', 'NATIVE_FRAMING_VERSION', 'NativeMessageType',
      'NativeFrameFlags', 'encodeFrame', 'decodeFrame', 'FrameDecoder', 'sniffProtocol', 'encodeCbor', 'decodeCbor',
      'encodeNativeMessage', 'encodeNativePayload', 'decodeNativeMessage', 'nativeTypeOf', 'isNativeMessageType', 'closeFor',
      'streamEvent', 'streamEventName', 'StreamSequence', 'STREAM_RELAY_BUFFER_EVENTS', 'STREAM_BACKPRESSURE_ERROR',
      'encodeJsonBytes', 'decodeJsonBytes', 'readCallPayload', 'readResponseResult',
      'fragmentFrame', 'FragmentAssembler', 'MAX_FRAGMENTS', 'FRAGMENT_TIMEOUT_MS', 'FRAGMENT_THRESHOLD_BYTES',
    ]) {
      expect(Reflect.get(api, name), name).toBeDefined()
    }
  })
})
