/**
 * Native IICP framing: the 12-byte header, one-shot and incremental frame decoding, and the first-bytes
 * sniffer a single-port node uses to tell native frames from HTTP (iicp-framing.md §1–§3, §9.5–§9.6;
 * official-sdks.md §6.1–§6.2). Decoders never throw: every failure is a {@link NativeCodecError} value.
 */
import { IicpError } from '../errors.js'

/** The four magic bytes that open every frame, as ASCII: 0x49 0x49 0x43 0x50 (frm §1.2). */
export const NATIVE_FRAME_MAGIC = 'IICP'
// Kept private: an exported Uint8Array could be mutated by any importer (typed arrays cannot be frozen).
const MAGIC = new Uint8Array([0x49, 0x49, 0x43, 0x50])
/**
 * Header size: magic(4) version(1) type(1) flags(1) reserved(1) length(4). The spec's prose says 11 bytes but
 * its own field list sums to 12, which is what every SDK sends (frm §1.1; native-framing-v1.json).
 */
export const NATIVE_FRAME_HEADER_BYTES = 12
/** Largest payload a frame may announce: 16 MiB, checked before any buffer is allocated (frm §2, §9.5). */
export const NATIVE_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
/** The framing version this codec speaks and sends (frm §1.2, §6.2). */
export const NATIVE_FRAMING_VERSION = 1

/**
 * Message type codes (frm §3; official-sdks.md §6.1). 0x0B/0x0C are RELAY_BIND/RELAY_ACK as every deployed
 * SDK and relay uses them; the draft spec lists CONTROL/ADVERTISE there, which no implementation sends.
 */
export const NativeMessageType = Object.freeze({
  INIT: 0x01,
  ACK: 0x02,
  DISCOVER: 0x03,
  SUB_PROTOCOL: 0x04,
  CALL: 0x05,
  RESPONSE: 0x06,
  CLOSE: 0x07,
  FEEDBACK: 0x08,
  PING: 0x09,
  PONG: 0x0a,
  RELAY_BIND: 0x0b,
  RELAY_ACK: 0x0c,
  OBSERVE: 0x0d,
  TELEMETRY: 0x0e,
} as const)
/** Name of a core message type (frm §3). */
export type NativeMessageTypeName = keyof typeof NativeMessageType

/** Header flag bits (frm §1.2): bit 0 gzip-compressed payload, bit 1 fragment (§10). Others are ignored. */
export const NativeFrameFlags = Object.freeze({ COMPRESSED: 0x01, FRAGMENTED: 0x02 } as const)

/**
 * Why a frame or payload was refused. Codes are the spec's CLOSE reasons (frm §4.8, §9.6) plus the
 * one-shot decoder's `truncated_header`/`truncated_payload` (native-framing-v1.json).
 */
export type NativeErrorCode =
  | 'invalid_magic'
  | 'invalid_version'
  | 'version_mismatch'
  | 'frame_too_large'
  | 'truncated_header'
  | 'truncated_payload'
  | 'invalid_frame'
  | 'invalid_type'
  | 'unknown_type'
  | 'unsupported_extension'
  | 'cbor_decode_error'
  | 'invalid_payload'
  | 'protocol_error'
  | 'fragment_timeout'
  | 'fragment_limit_exceeded'

/** A refusal as a value: decoders return these instead of throwing (frm §9.6). Messages never echo payload bytes. */
export interface NativeCodecError {
  readonly code: NativeErrorCode
  readonly message: string
}

/** One frame: header fields as received plus the payload (frm §1.1). `payload` may share memory with the input. */
export interface Frame {
  /** Raw version byte; its low 4 bits are the framing version (frm §1.2). */
  readonly version: number
  /** Message type byte (frm §3). Not validated here: see decodeNativeMessage. */
  readonly type: number
  /** Flag bits; unknown bits are kept and ignored (frm §1.2). */
  readonly flags: number
  /** Reserved byte as received; ignored (frm §1.2). */
  readonly reserved: number
  /** CBOR payload, `length` bytes. */
  readonly payload: Uint8Array
}

/** Options of {@link encodeFrame}. */
export interface EncodeFrameOptions {
  /** Flag bits to send. @default 0 */
  readonly flags?: number
  /** Version byte to send. @default NATIVE_FRAMING_VERSION */
  readonly version?: number
  /** Reserved byte; the spec says send 0, tests may replay a captured value. @default 0 */
  readonly reserved?: number
}

/** Result of {@link decodeFrame}: a frame and the bytes it used, or an error value. */
export type DecodeFrameResult =
  | { readonly ok: true; readonly frame: Frame; readonly consumed: number }
  | { readonly ok: false; readonly error: NativeCodecError }

/** Result of {@link FrameDecoder.push}: every frame completed by the bytes, then the error that stopped decoding, if any. */
export interface FramePushResult {
  readonly frames: readonly Frame[]
  readonly error: NativeCodecError | undefined
}

/** Options of {@link FrameDecoder} and {@link decodeFrame}. */
export interface FrameDecoderOptions {
  /** Largest accepted payload; clamped to 16 MiB (frm §2). @default NATIVE_MAX_PAYLOAD_BYTES */
  readonly maxPayloadBytes?: number
}

const EMPTY = new Uint8Array(0)

function byteField(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw new IicpError('validation_error', `frame ${name} must be an integer 0–255`)
  }
  return value
}

/**
 * Encodes one frame: header plus payload (frm §1.1). Throws IicpError `payload_too_large` above 16 MiB and
 * `validation_error` for a header field outside 0–255.
 */
export function encodeFrame(type: number, payload: Uint8Array = EMPTY, options: EncodeFrameOptions = {}): Uint8Array {
  if (payload.length > NATIVE_MAX_PAYLOAD_BYTES) {
    throw new IicpError('payload_too_large', `frame payload exceeds ${NATIVE_MAX_PAYLOAD_BYTES} bytes`)
  }
  const out = new Uint8Array(NATIVE_FRAME_HEADER_BYTES + payload.length)
  out.set(MAGIC, 0)
  out[4] = byteField('version', options.version ?? NATIVE_FRAMING_VERSION)
  out[5] = byteField('type', type)
  out[6] = byteField('flags', options.flags ?? 0)
  out[7] = byteField('reserved', options.reserved ?? 0)
  new DataView(out.buffer).setUint32(8, payload.length, false)
  out.set(payload, NATIVE_FRAME_HEADER_BYTES)
  return out
}

function maxPayloadOf(options: FrameDecoderOptions): number {
  const max = options.maxPayloadBytes
  if (max === undefined || !Number.isFinite(max) || max < 0) return NATIVE_MAX_PAYLOAD_BYTES
  return Math.min(Math.floor(max), NATIVE_MAX_PAYLOAD_BYTES)
}

function fail(code: NativeErrorCode, message: string): NativeCodecError {
  return Object.freeze({ code, message })
}

/**
 * Checks a complete 12-byte header. Only the low 4 bits of the version byte count (frm §1.2); a newer
 * version must not have its payload parsed (frm §6.3), so it fails here, before any allocation.
 */
function checkHeader(version: number, length: number, maxPayload: number): NativeCodecError | undefined {
  const v = version & 0x0f
  if (v === 0) return fail('invalid_version', 'frame version 0 is reserved')
  if (v > NATIVE_FRAMING_VERSION) return fail('version_mismatch', `frame version ${v} is newer than ${NATIVE_FRAMING_VERSION}`)
  if (length > maxPayload) return fail('frame_too_large', `frame announces ${length} payload bytes; the limit is ${maxPayload}`)
  return undefined
}

/** Whether magic bytes `from`..`to` (exclusive) differ from `bytes` read at `base + index`. */
function magicMismatch(bytes: Uint8Array, base: number, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    if (bytes[base + i] !== MAGIC[i]) return true
  }
  return false
}

/**
 * Decodes the first frame of `bytes` in one shot (frm §1; native-framing-v1.json). Returns the frame and the
 * bytes consumed, or `truncated_header`/`truncated_payload` when `bytes` ends early. Never throws.
 */
export function decodeFrame(bytes: Uint8Array, options: FrameDecoderOptions = {}): DecodeFrameResult {
  const magicBytes = Math.min(bytes.length, 4)
  if (magicMismatch(bytes, 0, 0, magicBytes)) return { ok: false, error: fail('invalid_magic', 'frame does not start with IICP') }
  if (bytes.length < NATIVE_FRAME_HEADER_BYTES) {
    return { ok: false, error: fail('truncated_header', `frame too short: ${bytes.length} < ${NATIVE_FRAME_HEADER_BYTES} header bytes`) }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const length = view.getUint32(8, false)
  const error = checkHeader(view.getUint8(4), length, maxPayloadOf(options))
  if (error) return { ok: false, error }
  const total = NATIVE_FRAME_HEADER_BYTES + length
  if (bytes.length < total) {
    return { ok: false, error: fail('truncated_payload', `payload truncated: need ${total} bytes, have ${bytes.length}`) }
  }
  const frame: Frame = {
    version: view.getUint8(4),
    type: view.getUint8(5),
    flags: view.getUint8(6),
    reserved: view.getUint8(7),
    payload: bytes.subarray(NATIVE_FRAME_HEADER_BYTES, total),
  }
  return { ok: true, frame, consumed: total }
}

/**
 * Incremental frame decoder for a byte stream (frm §1, §2, §9.5–§9.6). `push()` takes whatever the socket
 * delivered, in any fragmentation (a magic split over pushes included), and returns the frames it completed.
 *
 * Memory is bounded: between pushes it holds at most one partial frame, whose announced length was already
 * checked against the cap, and a payload buffer is allocated only once that check passed. A wrong magic byte
 * fails as soon as it arrives. After an error the decoder stays failed and drops further input, since the
 * spec closes the connection (frm §8.4).
 */
export class FrameDecoder {
  readonly #maxPayload: number
  readonly #header = new Uint8Array(NATIVE_FRAME_HEADER_BYTES)
  #headerFill = 0
  #payload: Uint8Array | undefined
  #payloadFill = 0
  #error: NativeCodecError | undefined

  constructor(options: FrameDecoderOptions = {}) {
    this.#maxPayload = maxPayloadOf(options)
  }

  /** Bytes held for the frame in progress (header plus payload so far). */
  get bufferedBytes(): number {
    return this.#headerFill + this.#payloadFill
  }

  /** The error that stopped this decoder, if any. */
  get error(): NativeCodecError | undefined {
    return this.#error
  }

  /** Feeds bytes; returns the frames completed and, if decoding failed, why (frm §9.6). Never throws. */
  push(chunk: Uint8Array): FramePushResult {
    if (this.#error) return { frames: [], error: this.#error }
    const frames: Frame[] = []
    let pos = 0
    while (pos < chunk.length) {
      if (this.#headerFill < NATIVE_FRAME_HEADER_BYTES) {
        // Fast path: a whole header and payload inside this chunk needs no copy.
        if (this.#headerFill === 0 && chunk.length - pos >= NATIVE_FRAME_HEADER_BYTES) {
          const whole = this.#wholeFrameAt(chunk, pos)
          if (whole === 'error') return { frames, error: this.#error }
          if (whole !== undefined) {
            frames.push(whole)
            pos += NATIVE_FRAME_HEADER_BYTES + whole.payload.length
            continue
          }
        }
        const take = Math.min(NATIVE_FRAME_HEADER_BYTES - this.#headerFill, chunk.length - pos)
        const start = this.#headerFill
        this.#header.set(chunk.subarray(pos, pos + take), start)
        this.#headerFill += take
        pos += take
        if (start < 4 && magicMismatch(this.#header, 0, start, Math.min(4, this.#headerFill))) {
          return this.#fail(frames, fail('invalid_magic', 'frame does not start with IICP'))
        }
        if (this.#headerFill < NATIVE_FRAME_HEADER_BYTES) break
        const view = new DataView(this.#header.buffer)
        const length = view.getUint32(8, false)
        const error = checkHeader(this.#header[4] ?? 0, length, this.#maxPayload)
        if (error) return this.#fail(frames, error)
        if (length === 0) {
          frames.push(this.#headerFrame(EMPTY))
          this.#reset()
          continue
        }
        this.#payload = new Uint8Array(length)
        this.#payloadFill = 0
        continue
      }
      const payload = this.#payload
      if (!payload) break
      const take = Math.min(payload.length - this.#payloadFill, chunk.length - pos)
      payload.set(chunk.subarray(pos, pos + take), this.#payloadFill)
      this.#payloadFill += take
      pos += take
      if (this.#payloadFill === payload.length) {
        frames.push(this.#headerFrame(payload))
        this.#reset()
      }
    }
    return { frames, error: undefined }
  }

  /** A frame entirely inside `chunk` at `pos`, `undefined` when it runs past the chunk, or 'error'. */
  #wholeFrameAt(chunk: Uint8Array, pos: number): Frame | undefined | 'error' {
    if (magicMismatch(chunk, pos, 0, 4)) {
      this.#error = fail('invalid_magic', 'frame does not start with IICP')
      return 'error'
    }
    const view = new DataView(chunk.buffer, chunk.byteOffset + pos, NATIVE_FRAME_HEADER_BYTES)
    const length = view.getUint32(8, false)
    const error = checkHeader(view.getUint8(4), length, this.#maxPayload)
    if (error) {
      this.#error = error
      return 'error'
    }
    const end = pos + NATIVE_FRAME_HEADER_BYTES + length
    if (end > chunk.length) return undefined
    return {
      version: view.getUint8(4),
      type: view.getUint8(5),
      flags: view.getUint8(6),
      reserved: view.getUint8(7),
      payload: chunk.subarray(pos + NATIVE_FRAME_HEADER_BYTES, end),
    }
  }

  #headerFrame(payload: Uint8Array): Frame {
    const h = this.#header
    return { version: h[4] ?? 0, type: h[5] ?? 0, flags: h[6] ?? 0, reserved: h[7] ?? 0, payload }
  }

  #reset(): void {
    this.#headerFill = 0
    this.#payload = undefined
    this.#payloadFill = 0
  }

  #fail(frames: Frame[], error: NativeCodecError): FramePushResult {
    this.#error = error
    this.#reset()
    return { frames, error }
  }
}

/** What a listener should do with a new connection, judged from its first bytes (official-sdks.md §6.2). */
export type SniffResult = 'iicp' | 'http' | 'need_more'

/**
 * Routes a connection on one port by its first bytes: `iicp` once the four magic bytes are there,
 * `need_more` while fewer than four bytes are a prefix of the magic (so a 1–3 byte first segment is never
 * misrouted, unlike the official TS SDK), `http` as soon as a byte differs (official-sdks.md §6.2).
 */
export function sniffProtocol(firstBytes: Uint8Array): SniffResult {
  const n = Math.min(firstBytes.length, 4)
  if (magicMismatch(firstBytes, 0, 0, n)) return 'http'
  return n === 4 ? 'iicp' : 'need_more'
}
