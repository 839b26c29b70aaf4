/**
 * W3C Trace Context `traceparent` (wire.md §5.3 TRACE-01..04; cts §13.2): parse, format, generate and
 * derive child spans. Randomness comes from `globalThis.crypto.getRandomValues`, present in browsers and Node 20.
 */
export interface TraceContext {
  /** 32 lowercase hex characters, not all zero. */
  readonly traceId: string
  /** 16 lowercase hex characters, not all zero (the parent-id field). */
  readonly spanId: string
  /** Trace flags byte; bit 0 = sampled. */
  readonly flags: number
}

/** Fills a fresh byte array of length n with random bytes; injectable so tests can drive edge cases. */
export type RandomBytes = (n: number) => Uint8Array

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
/** Sampled flag (W3C Trace Context §3.2.2.5). */
const SAMPLED = 0x01

const cryptoRandom: RandomBytes = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n))

function toHex(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += HEX[b]
  return out
}

function randomId(random: RandomBytes, bytes: number): string {
  // An all-zero id is invalid; with real randomness the loop runs once.
  for (;;) {
    const hex = toHex(random(bytes).subarray(0, bytes))
    if (hex.length === bytes * 2 && !/^0+$/.test(hex)) return hex
  }
}

/**
 * Parse `version-traceid-parentid-flags`. Undefined when malformed: version `ff`, uppercase hex, wrong
 * lengths, an all-zero trace or parent id, or (for version 00) anything after the flags. Higher versions
 * may append fields, which are ignored (W3C Trace Context §4.3).
 */
export function parseTraceparent(header: string | undefined | null): TraceContext | undefined {
  if (typeof header !== 'string') return undefined
  const m = TRACEPARENT.exec(header.trim())
  if (!m) return undefined
  const [, version = '', traceId = '', spanId = '', flags = '', rest] = m
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined
  return { traceId, spanId, flags: Number.parseInt(flags, 16) }
}

/** Render a context as a version-00 `traceparent` header value. */
export function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${HEX[ctx.flags & 0xff]}`
}

/** A fresh sampled context with random ids. */
export function newTraceContext(random: RandomBytes = cryptoRandom): TraceContext {
  return { traceId: randomId(random, 16), spanId: randomId(random, 8), flags: SAMPLED }
}

/** Same trace id and flags, fresh span id (never equal to the parent's). */
export function childSpan(ctx: TraceContext, random: RandomBytes = cryptoRandom): TraceContext {
  let spanId = randomId(random, 8)
  while (spanId === ctx.spanId) spanId = randomId(random, 8)
  return { traceId: ctx.traceId, spanId, flags: ctx.flags }
}
