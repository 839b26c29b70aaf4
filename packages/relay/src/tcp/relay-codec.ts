/**
 * The two frames every relayed task sends over a native TCP session, hand-coded: the relay's CALL
 * `{5: body, 15: call_id, 23?: headers}` and this package's worker's RESPONSE `{5: body, 15: call_id, 23: headers,
 * 100: status}` (official-sdks.md §5.2, §6.2). A generic CBOR round (tokens, a `Map`, a schema check, a second copy
 * of the body) costs more than the rest of a relay hop's CPU; these write the bytes @iicp/protocol's deterministic
 * encoder writes (frm §4.1: shortest heads, keys length-first) straight into one buffer, and read only the exact
 * shapes they write. Anything else (another key, a non-ASCII string, a non-shortest head, a duplicate key, trailing
 * bytes) reads as `undefined` and goes through @iicp/protocol's strict decoder, which stays the judge of errors.
 */
import {
  IicpError, NATIVE_FRAME_HEADER_BYTES, NATIVE_FRAMING_VERSION, NATIVE_MAX_PAYLOAD_BYTES, NativeMessageType,
} from '@iicp/protocol'

const MAJOR_UINT = 0
const MAJOR_BYTES = 2
const MAJOR_TEXT = 3
const MAJOR_MAP = 5

/** A CALL as the relay sends it and the worker reads it. */
export interface RelayCallFrame {
  readonly callId: string
  readonly body: Uint8Array
  /** CALL key 23: the consumer's headers (frm §4.3 metadata). */
  readonly metadata: Record<string, string> | undefined
}

/** A RESPONSE as this package's worker sends it and the relay reads it. */
export interface RelayResponseFrame {
  readonly callId: string
  readonly status: number
  readonly headers: Record<string, string> | undefined
  readonly body: Uint8Array
}

function headLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

function writeHead(out: Uint8Array, pos: number, major: number, n: number): number {
  const m = major << 5
  if (n < 24) {
    out[pos] = m | n
    return pos + 1
  }
  if (n < 0x100) {
    out[pos] = m | 24
    out[pos + 1] = n
    return pos + 2
  }
  if (n < 0x10000) {
    out[pos] = m | 25
    out[pos + 1] = n >>> 8
    out[pos + 2] = n & 0xff
    return pos + 3
  }
  out[pos] = m | 26
  out[pos + 1] = n >>> 24
  out[pos + 2] = (n >>> 16) & 0xff
  out[pos + 3] = (n >>> 8) & 0xff
  out[pos + 4] = n & 0xff
  return pos + 5
}

/** Entries of frozen records, which cannot change: a worker answers every task with the same frozen headers. */
const frozenEntries = new WeakMap<object, ReadonlyArray<readonly [Buffer, Buffer]>>()

/** A text-keyed map's entries as UTF-8, in deterministic order: shorter key first, then bytewise (frm §4.1). */
function sortedEntries(record: Readonly<Record<string, string>>): ReadonlyArray<readonly [Buffer, Buffer]> {
  const frozen = Object.isFrozen(record)
  if (frozen) {
    const hit = frozenEntries.get(record)
    if (hit !== undefined) return hit
  }
  const entries: Array<[Buffer, Buffer]> = []
  for (const k of Object.keys(record)) {
    const v = record[k]
    if (typeof v === 'string') entries.push([Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')])
  }
  if (entries.length > 1) entries.sort((a, b) => a[0].length - b[0].length || Buffer.compare(a[0], b[0]))
  if (frozen) frozenEntries.set(record, entries)
  return entries
}

function entriesLength(entries: ReadonlyArray<readonly [Buffer, Buffer]>): number {
  let n = headLength(entries.length)
  for (const [k, v] of entries) n += headLength(k.length) + k.length + headLength(v.length) + v.length
  return n
}

function writeEntries(out: Uint8Array, pos: number, entries: ReadonlyArray<readonly [Buffer, Buffer]>): number {
  let p = writeHead(out, pos, MAJOR_MAP, entries.length)
  for (const [k, v] of entries) {
    p = writeHead(out, p, MAJOR_TEXT, k.length)
    out.set(k, p)
    p = writeHead(out, p + k.length, MAJOR_TEXT, v.length)
    out.set(v, p)
    p += v.length
  }
  return p
}

function frame(type: number, payloadLength: number): Buffer {
  if (payloadLength > NATIVE_MAX_PAYLOAD_BYTES) {
    throw new IicpError('payload_too_large', `frame payload exceeds ${NATIVE_MAX_PAYLOAD_BYTES} bytes`)
  }
  const out = Buffer.allocUnsafe(NATIVE_FRAME_HEADER_BYTES + payloadLength)
  out[0] = 0x49 // 'IICP'
  out[1] = 0x49
  out[2] = 0x43
  out[3] = 0x50
  out[4] = NATIVE_FRAMING_VERSION
  out[5] = type
  out[6] = 0
  out[7] = 0
  out.writeUInt32BE(payloadLength, 8)
  return out
}

/**
 * The whole CALL frame of a relayed task, byte for byte what `encodeNativeMessage({kind: 'call', payload, callId,
 * metadata})` writes. Throws IicpError `payload_too_large` past the 16 MiB frame limit (as that encoder does).
 */
export function encodeRelayCall(callId: string, body: Uint8Array, metadata: Record<string, string> | undefined): Buffer {
  const id = Buffer.from(callId, 'utf8')
  const meta = metadata === undefined ? undefined : sortedEntries(metadata)
  const length = 1 + 1 + headLength(body.length) + body.length + 1 + headLength(id.length) + id.length +
    (meta === undefined ? 0 : 1 + entriesLength(meta))
  const out = frame(NativeMessageType.CALL, length)
  let p = writeHead(out, NATIVE_FRAME_HEADER_BYTES, MAJOR_MAP, meta === undefined ? 2 : 3)
  out[p++] = 5
  p = writeHead(out, p, MAJOR_BYTES, body.length)
  out.set(body, p)
  p += body.length
  out[p++] = 15
  p = writeHead(out, p, MAJOR_TEXT, id.length)
  out.set(id, p)
  p += id.length
  if (meta !== undefined) {
    out[p++] = 23
    writeEntries(out, p, meta)
  }
  return out
}

/**
 * This worker's whole RESPONSE frame, byte for byte what `encodeFrame(RESPONSE, encodeCbor(new Map([[5, body],
 * [15, callId], [23, headers], [100, status]])))` writes. Throws IicpError `payload_too_large` past the 16 MiB frame limit.
 */
export function encodeRelayResponse(callId: string, body: Uint8Array, headers: Readonly<Record<string, string>>, status: number): Buffer {
  const id = Buffer.from(callId, 'utf8')
  const h = sortedEntries(headers)
  const length = 1 + 1 + headLength(body.length) + body.length + 1 + headLength(id.length) + id.length +
    1 + entriesLength(h) + 2 + headLength(status)
  const out = frame(NativeMessageType.RESPONSE, length)
  let p = writeHead(out, NATIVE_FRAME_HEADER_BYTES, MAJOR_MAP, 4)
  out[p++] = 5
  p = writeHead(out, p, MAJOR_BYTES, body.length)
  out.set(body, p)
  p += body.length
  out[p++] = 15
  p = writeHead(out, p, MAJOR_TEXT, id.length)
  out.set(id, p)
  p += id.length
  out[p++] = 23
  p = writeEntries(out, p, h)
  out[p++] = 0x18 // uint 100, the status key
  out[p++] = 100
  writeHead(out, p, MAJOR_UINT, status)
  return out
}

/** A cursor over one payload; every read returns `false`/`undefined` at the first thing outside the fast shapes. */
class Reader {
  pos = 0
  value = 0
  constructor(readonly bytes: Uint8Array) {}

  /** Read a head in shortest form (lengths below 2^32) into `value`; its major type, or -1 for anything else. */
  head(): number {
    const b = this.bytes
    const first = b[this.pos]
    if (first === undefined) return -1
    const info = first & 0x1f
    let v: number
    if (info < 24) {
      v = info
      this.pos += 1
    } else if (info === 24) {
      if (this.pos + 2 > b.length) return -1
      v = b[this.pos + 1] as number
      if (v < 24) return -1
      this.pos += 2
    } else if (info === 25) {
      if (this.pos + 3 > b.length) return -1
      v = ((b[this.pos + 1] as number) << 8) | (b[this.pos + 2] as number)
      if (v < 0x100) return -1
      this.pos += 3
    } else if (info === 26) {
      if (this.pos + 5 > b.length) return -1
      v = (b[this.pos + 1] as number) * 0x1000000 + (((b[this.pos + 2] as number) << 16) | ((b[this.pos + 3] as number) << 8) | (b[this.pos + 4] as number))
      if (v < 0x10000) return -1
      this.pos += 5
    } else {
      return -1
    }
    this.value = v
    return first >>> 5
  }

  /** A byte string's bytes (a view), or undefined. */
  bytesItem(): Uint8Array | undefined {
    if (this.head() !== MAJOR_BYTES) return undefined
    const end = this.pos + this.value
    if (end > this.bytes.length) return undefined
    const out = this.bytes.subarray(this.pos, end)
    this.pos = end
    return out
  }

  /** An ASCII text string, or undefined (non-ASCII text goes to the strict decoder, which checks its UTF-8). */
  ascii(): string | undefined {
    if (this.head() !== MAJOR_TEXT) return undefined
    const b = this.bytes
    const end = this.pos + this.value
    if (end > b.length) return undefined
    for (let i = this.pos; i < end; i++) if ((b[i] as number) >= 0x80) return undefined
    const out = Buffer.from(b.buffer, b.byteOffset + this.pos, this.value).toString('latin1')
    this.pos = end
    return out
  }

  /** A map of ASCII text to ASCII text with no repeated key, or undefined. */
  textMap(): Record<string, string> | undefined {
    if (this.head() !== MAJOR_MAP) return undefined
    const out: Record<string, string> = {}
    for (let n = this.value; n > 0; n--) {
      const k = this.ascii()
      // `__proto__` as a plain key would set a prototype; the strict decoder handles that case.
      if (k === undefined || k === '__proto__' || Object.hasOwn(out, k)) return undefined
      const v = this.ascii()
      if (v === undefined) return undefined
      out[k] = v
    }
    return out
  }
}

/** Read a CALL payload of exactly `{5: bytes, 15: text, 23?: text map}`; undefined for anything else. */
export function readRelayCall(payload: Uint8Array): RelayCallFrame | undefined {
  const r = new Reader(payload)
  if (r.head() !== MAJOR_MAP || r.value < 2 || r.value > 3) return undefined
  let body: Uint8Array | undefined
  let callId: string | undefined
  let metadata: Record<string, string> | undefined
  for (let n = r.value; n > 0; n--) {
    if (r.head() !== MAJOR_UINT) return undefined
    const key = r.value
    if (key === 5 && body === undefined) {
      body = r.bytesItem()
      if (body === undefined) return undefined
    } else if (key === 15 && callId === undefined) {
      callId = r.ascii()
      if (callId === undefined) return undefined
    } else if (key === 23 && metadata === undefined) {
      metadata = r.textMap()
      if (metadata === undefined) return undefined
    } else {
      return undefined
    }
  }
  if (r.pos !== payload.length || body === undefined || callId === undefined) return undefined
  return { callId, body, metadata }
}

/** Read a RESPONSE payload of exactly `{5: bytes, 15: text, 23?: text map, 100: status 100–599}`; undefined otherwise. */
export function readRelayResponse(payload: Uint8Array): RelayResponseFrame | undefined {
  const r = new Reader(payload)
  if (r.head() !== MAJOR_MAP || r.value < 3 || r.value > 4) return undefined
  let body: Uint8Array | undefined
  let callId: string | undefined
  let headers: Record<string, string> | undefined
  let status: number | undefined
  for (let n = r.value; n > 0; n--) {
    if (r.head() !== MAJOR_UINT) return undefined
    const key = r.value
    if (key === 5 && body === undefined) {
      body = r.bytesItem()
      if (body === undefined) return undefined
    } else if (key === 15 && callId === undefined) {
      callId = r.ascii()
      if (callId === undefined) return undefined
    } else if (key === 23 && headers === undefined) {
      headers = r.textMap()
      if (headers === undefined) return undefined
    } else if (key === 100 && status === undefined) {
      if (r.head() !== MAJOR_UINT || r.value < 100 || r.value > 599) return undefined
      status = r.value
    } else {
      return undefined
    }
  }
  if (r.pos !== payload.length || body === undefined || callId === undefined || status === undefined) return undefined
  return { callId, status, headers, body }
}
