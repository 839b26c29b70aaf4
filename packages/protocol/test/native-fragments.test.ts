// Proves IICP-layer fragmentation (iicp-framing.md §10, §9.6): a payload split by fragmentFrame comes back whole
// from FragmentAssembler through the real FrameDecoder, in order, out of order and interleaved with other traffic;
// and every bound the spec sets (256 fragments, 16 MiB, 30 s on an injected clock, duplicates, disagreeing
// fragments) is an error value that also drops all pending state.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeCbor } from '../src/native/cbor.js'
import { encodeFrame, FrameDecoder, NativeFrameFlags, NativeMessageType } from '../src/native/frame.js'
import type { Frame } from '../src/native/frame.js'
import { FRAGMENT_TIMEOUT_MS, FragmentAssembler, fragmentFrame, MAX_FRAGMENTS } from '../src/native/fragments.js'
import { decodeNativeMessage, encodeNativePayload } from '../src/native/messages.js'

const ID = '0f8fad5b-d9cb-469f-a165-70867728950e'

function framesOf(wires: Uint8Array[]): Frame[] {
  const decoder = new FrameDecoder()
  const out: Frame[] = []
  for (const w of wires) {
    const r = decoder.push(w)
    if (r.error) throw new Error(r.error.code)
    out.push(...r.frames)
  }
  return out
}

function fragment(seq: number, total: number, data: Uint8Array, id = ID, type: number = NativeMessageType.CALL): Frame {
  return {
    version: 1, type, flags: NativeFrameFlags.FRAGMENTED, reserved: 0,
    payload: encodeCbor(new Map<number, unknown>([[1, id], [2, seq], [3, total], [4, data]])),
  }
}

describe('fragmentFrame and FragmentAssembler', () => {
  it('split a 200 KiB CALL into 64 KiB fragments that reassemble into the same message', () => {
    const payload = encodeNativePayload({ kind: 'call', callId: 'c-1', payload: new Uint8Array(200 * 1024).fill(7) })
    const wires = fragmentFrame(NativeMessageType.CALL, payload, { fragmentId: ID })
    expect(wires).toHaveLength(4)
    const assembler = new FragmentAssembler()
    const results = framesOf(wires).map((f) => assembler.accept(f))
    expect(results.slice(0, 3).every((r) => r.frame === undefined && r.error === undefined)).toBe(true)
    const whole = results[3]?.frame
    expect(whole && Buffer.from(whole.payload).equals(Buffer.from(payload))).toBe(true)
    expect(whole?.flags).toBe(0)
    const decoded = whole ? decodeNativeMessage(whole) : undefined
    expect(decoded?.ok && decoded.message.kind === 'call' && decoded.message.callId).toBe('c-1')
    expect(assembler.pendingFragments).toBe(0)
    expect(assembler.pendingBytes).toBe(0)
  })

  it('write the spec fragment map {1: id, 2: seq, 3: total, 4: data} with the FRAGMENTED flag', () => {
    const [wire] = fragmentFrame(NativeMessageType.CALL, Uint8Array.of(1, 2), { fragmentId: 'f' })
    expect(Buffer.from(wire ?? []).toString('hex')).toBe('49494350010502000000000c' + 'a40161660200030104420102')
  })

  it('reassemble any order, interleaved with unfragmented frames and another message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.integer({ min: 1, max: 50 }), fc.nat(), (payload, size, seed) => {
        const a = framesOf(fragmentFrame(NativeMessageType.CALL, payload, { fragmentBytes: size, fragmentId: 'a' }))
        const b = framesOf(fragmentFrame(NativeMessageType.RESPONSE, Uint8Array.of(9), { fragmentId: 'b' }))
        const ping = framesOf([encodeFrame(NativeMessageType.PING)])
        const all = [...a, ...b, ...ping]
        // A seeded shuffle: the order of arrival must not matter.
        let s = seed
        for (let i = all.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) % 2 ** 31
          const j = s % (i + 1)
          const t = all[i]
          all[i] = all[j] as Frame
          all[j] = t as Frame
        }
        const assembler = new FragmentAssembler()
        const done: Frame[] = []
        for (const f of all) {
          const r = assembler.accept(f)
          expect(r.error).toBeUndefined()
          if (r.frame) done.push(r.frame)
        }
        const call = done.find((f) => f.type === NativeMessageType.CALL)
        expect(call && Buffer.from(call.payload).equals(Buffer.from(payload))).toBe(true)
        expect(done.map((f) => f.type).sort()).toEqual([NativeMessageType.CALL, NativeMessageType.RESPONSE, NativeMessageType.PING].sort())
      }),
      { numRuns: 200 },
    )
  })

  it('keep the original frame flags other than FRAGMENTED', () => {
    const [wire] = fragmentFrame(NativeMessageType.CALL, Uint8Array.of(1), { flags: NativeFrameFlags.COMPRESSED })
    const r = new FragmentAssembler().accept(framesOf([wire ?? new Uint8Array()])[0] as Frame)
    expect(r.frame?.flags).toBe(NativeFrameFlags.COMPRESSED)
  })

  it('refuse to fragment beyond 256 fragments', () => {
    expect(() => fragmentFrame(NativeMessageType.CALL, new Uint8Array(257), { fragmentBytes: 1 })).toThrowError(expect.objectContaining({ code: 'payload_too_large' }))
    expect(fragmentFrame(NativeMessageType.CALL, new Uint8Array(256), { fragmentBytes: 1 })).toHaveLength(MAX_FRAGMENTS)
  })
})

describe('FragmentAssembler refusals', () => {
  it('fails with fragment_timeout once a message waited past 30 s on the injected clock', () => {
    let now = 1_000
    const assembler = new FragmentAssembler({ now: () => now })
    expect(assembler.accept(fragment(0, 2, Uint8Array.of(1))).error).toBeUndefined()
    now += FRAGMENT_TIMEOUT_MS
    expect(assembler.expire()).toBeUndefined()
    now += 1
    expect(assembler.expire()?.code).toBe('fragment_timeout')
    expect(assembler.pendingFragments).toBe(0)
  })

  it('reports the timeout on the next accept as well', () => {
    let now = 0
    const assembler = new FragmentAssembler({ now: () => now })
    assembler.accept(fragment(0, 2, Uint8Array.of(1)))
    now = FRAGMENT_TIMEOUT_MS + 1
    expect(assembler.accept(fragment(1, 2, Uint8Array.of(2))).error?.code).toBe('fragment_timeout')
  })

  it('fails with fragment_limit_exceeded past 256 pending fragments across messages', () => {
    const assembler = new FragmentAssembler()
    for (let m = 0; m < 2; m++) {
      for (let i = 0; i < 128; i++) expect(assembler.accept(fragment(i, 200, Uint8Array.of(1), `m${m}`)).error).toBeUndefined()
    }
    expect(assembler.pendingFragments).toBe(256)
    expect(assembler.accept(fragment(0, 2, Uint8Array.of(1), 'm3')).error?.code).toBe('fragment_limit_exceeded')
    expect(assembler.pendingFragments).toBe(0)
  })

  it('fails with fragment_limit_exceeded when a message announces more than 256 fragments', () => {
    expect(new FragmentAssembler().accept(fragment(0, 257, Uint8Array.of(1))).error?.code).toBe('fragment_limit_exceeded')
  })

  it('fails with frame_too_large when held bytes pass the cap', () => {
    const assembler = new FragmentAssembler({ maxBytes: 10 })
    expect(assembler.accept(fragment(0, 3, new Uint8Array(6))).error).toBeUndefined()
    expect(assembler.accept(fragment(1, 3, new Uint8Array(6))).error?.code).toBe('frame_too_large')
    expect(assembler.pendingBytes).toBe(0)
  })

  it.each([
    ['a duplicate fragment', [fragment(0, 2, Uint8Array.of(1)), fragment(0, 2, Uint8Array.of(1))]],
    ['a disagreeing total', [fragment(0, 2, Uint8Array.of(1)), fragment(1, 3, Uint8Array.of(1))]],
    ['a disagreeing type', [fragment(0, 2, Uint8Array.of(1)), fragment(1, 2, Uint8Array.of(1), ID, NativeMessageType.RESPONSE)]],
    ['a sequence past the total', [fragment(2, 2, Uint8Array.of(1))]],
    ['a total of zero', [fragment(0, 0, Uint8Array.of(1))]],
  ])('fails with protocol_error on %s', (_name, frames) => {
    const assembler = new FragmentAssembler()
    const errors = frames.map((f) => assembler.accept(f).error?.code)
    expect(errors.at(-1)).toBe('protocol_error')
  })

  it('fails with invalid_payload or cbor_decode_error on a malformed fragment map', () => {
    const bad = (payload: Uint8Array): Frame => ({ version: 1, type: 5, flags: NativeFrameFlags.FRAGMENTED, reserved: 0, payload })
    expect(new FragmentAssembler().accept(bad(encodeCbor(new Map([[1, 1]])))).error?.code).toBe('invalid_payload')
    expect(new FragmentAssembler().accept(bad(encodeCbor([1]))).error?.code).toBe('invalid_payload')
    expect(new FragmentAssembler().accept(bad(Uint8Array.of(0xa1))).error?.code).toBe('cbor_decode_error')
  })

  it('never throws on random fragment-flagged frames', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 60 })), { maxLength: 20 }), (frames) => {
        const assembler = new FragmentAssembler()
        for (const [type, payload] of frames) {
          const r = assembler.accept({ version: 1, type, flags: NativeFrameFlags.FRAGMENTED, reserved: 0, payload })
          expect(r.frame === undefined || r.frame.payload instanceof Uint8Array).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })
})
