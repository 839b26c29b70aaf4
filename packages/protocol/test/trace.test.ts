// Proves the W3C traceparent rules (TRACE-01..04; W3C Trace Context §3.2, §4.3): the spec's own example and
// the reference SDKs' headers parse and format back unchanged; all-zero ids, version ff, uppercase hex, wrong
// lengths and trailing data on version 00 are refused; generated and child contexts are well-formed, sampled,
// never all zero, and a child keeps the trace id with a new span id.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { childSpan, formatTraceparent, newTraceContext, parseTraceparent } from '@iicp/protocol'

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

describe('parseTraceparent', () => {
  it('parses the W3C example and formats it back unchanged', () => {
    const ctx = parseTraceparent(VALID)
    expect(ctx).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1 })
    expect(formatTraceparent(ctx!)).toBe(VALID)
  })

  it('parses the header the Python SDK sent on the wire', () => {
    expect(parseTraceparent('00-37a2b1092cf236c608ea170ac66c78fa-f16c1193b38f9be9-01')?.spanId).toBe('f16c1193b38f9be9')
  })

  it('keeps unsampled flags as 0', () => {
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00')?.flags).toBe(0)
  })

  it('tolerates surrounding whitespace from header folding', () => {
    expect(parseTraceparent(`  ${VALID} `)).toBeDefined()
  })

  it('accepts a higher version with extra fields and ignores them', () => {
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-brings')).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1,
    })
  })

  it.each([
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['an all-zero span id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['uppercase hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'],
    ['uppercase flags', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A'],
    ['a short trace id', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01'],
    ['a long span id', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7a-01'],
    ['a one-digit version', '0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['trailing data on version 00', `${VALID}-extra`],
    ['non-hex characters', '00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01'],
    ['missing flags', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7'],
    ['another separator', '00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01'],
    ['the empty string', ''],
  ])('refuses %s', (_name, header) => {
    expect(parseTraceparent(header)).toBeUndefined()
  })

  it('refuses absent headers', () => {
    expect(parseTraceparent(undefined)).toBeUndefined()
    expect(parseTraceparent(null)).toBeUndefined()
  })

  it('round-trips every well-formed version-00 header', () => {
    const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`)).filter((s) => !/^0+$/.test(s))
    fc.assert(
      fc.property(hex(32), hex(16), fc.integer({ min: 0, max: 255 }), (t, s, f) => {
        const header = formatTraceparent({ traceId: t, spanId: s, flags: f })
        expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
        expect(parseTraceparent(header)).toEqual({ traceId: t, spanId: s, flags: f })
      }),
    )
  })
})

describe('generating contexts', () => {
  it('makes a sampled context whose header parses back', () => {
    const ctx = newTraceContext()
    expect(ctx.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(ctx.spanId).toMatch(/^[0-9a-f]{16}$/)
    expect(ctx.flags).toBe(1)
    expect(parseTraceparent(formatTraceparent(ctx))).toEqual(ctx)
  })

  it('makes a different trace id each time', () => {
    expect(newTraceContext().traceId).not.toBe(newTraceContext().traceId)
  })

  it('draws again when the random source yields all zeros', () => {
    const draws = [new Uint8Array(16), new Uint8Array(16).fill(0xab), new Uint8Array(8), new Uint8Array(8).fill(0x01)]
    const ctx = newTraceContext(() => draws.shift() ?? new Uint8Array(16).fill(0xff))
    expect(ctx).toEqual({ traceId: 'ab'.repeat(16), spanId: '01'.repeat(8), flags: 1 })
  })

  it('gives a child span the same trace id and flags with a new span id', () => {
    const parent = parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00')!
    const child = childSpan(parent)
    expect(child.traceId).toBe(parent.traceId)
    expect(child.flags).toBe(0)
    expect(child.spanId).toMatch(/^[0-9a-f]{16}$/)
    expect(child.spanId).not.toBe(parent.spanId)
  })

  it('never reuses the parent span id even when the random source repeats it', () => {
    const parent = { traceId: 'ab'.repeat(16), spanId: '11'.repeat(8), flags: 1 }
    const draws = [new Uint8Array(8).fill(0x11), new Uint8Array(8).fill(0x22)]
    expect(childSpan(parent, () => draws.shift() ?? new Uint8Array(8).fill(0x33)).spanId).toBe('22'.repeat(8))
  })
})
