/**
 * IICP-layer fragmentation (frm §10): splitting one large payload into FRAGMENTED frames and reassembling them,
 * within the spec's bounds (256 fragments per message and pending in total, 16 MiB, 30 s from the first
 * fragment; frm §9.6, §10.3). No deployed SDK sends fragments yet, so nothing fragments by default; the
 * assembler exists so a peer that does is handled instead of dropped. Pure: the clock comes in, no timers.
 */
import { IicpError } from '../errors.js'
import { decodeCbor, encodeCbor } from './cbor.js'
import { encodeFrame, NATIVE_FRAMING_VERSION, NATIVE_MAX_PAYLOAD_BYTES, NativeFrameFlags } from './frame.js'
import type { Frame, NativeCodecError } from './frame.js'

/** Most fragments one message may have, and most pending at once (frm §9.6, §10.3). */
export const MAX_FRAGMENTS = 256
/** Reassembly deadline from a message's first fragment (frm §9.6, §10.3). */
export const FRAGMENT_TIMEOUT_MS = 30_000
/** Payload size above which frm §10.1 says a sender SHOULD fragment over TCP, and the default slice size. */
export const FRAGMENT_THRESHOLD_BYTES = 65_536

/** Options of {@link fragmentFrame}. */
export interface FragmentOptions {
  /** Data bytes per fragment. @default FRAGMENT_THRESHOLD_BYTES */
  readonly fragmentBytes?: number
  /** UUID identifying the message; a fresh random UUID when absent (frm §10.2). */
  readonly fragmentId?: string
  /** Other flag bits of the original frame, e.g. COMPRESSED. @default 0 */
  readonly flags?: number
}

/**
 * Splits a payload into FRAGMENTED frames of the same type (frm §10.2): each payload is `{1: fragment_id,
 * 2: seq, 3: total, 4: data}`. Throws IicpError `payload_too_large` above 16 MiB or 256 fragments.
 */
export function fragmentFrame(type: number, payload: Uint8Array, options: FragmentOptions = {}): Uint8Array[] {
  const size = Math.max(1, Math.floor(options.fragmentBytes ?? FRAGMENT_THRESHOLD_BYTES))
  if (payload.length > NATIVE_MAX_PAYLOAD_BYTES) {
    throw new IicpError('payload_too_large', `payload exceeds ${NATIVE_MAX_PAYLOAD_BYTES} bytes`)
  }
  const total = Math.max(1, Math.ceil(payload.length / size))
  if (total > MAX_FRAGMENTS) throw new IicpError('payload_too_large', `payload needs ${total} fragments; the limit is ${MAX_FRAGMENTS}`)
  const id = options.fragmentId ?? globalThis.crypto.randomUUID()
  const flags = (options.flags ?? 0) | NativeFrameFlags.FRAGMENTED
  const frames: Uint8Array[] = []
  for (let seq = 0; seq < total; seq++) {
    const data = payload.subarray(seq * size, (seq + 1) * size)
    frames.push(encodeFrame(type, encodeCbor(new Map<number, unknown>([[1, id], [2, seq], [3, total], [4, data]])), { flags }))
  }
  return frames
}

/** Options of {@link FragmentAssembler}. */
export interface FragmentAssemblerOptions {
  /** Clock in ms; injected so tests never sleep. @default Date.now */
  readonly now?: () => number
  /** Reassembly deadline per message. @default FRAGMENT_TIMEOUT_MS */
  readonly timeoutMs?: number
  /** Bytes held across all pending messages. @default NATIVE_MAX_PAYLOAD_BYTES */
  readonly maxBytes?: number
}

/** Result of {@link FragmentAssembler.accept}: a whole frame when one is ready, an error, or neither (waiting). */
export interface FragmentResult {
  readonly frame: Frame | undefined
  readonly error: NativeCodecError | undefined
}

interface Pending {
  readonly type: number
  readonly flags: number
  readonly total: number
  readonly startedAt: number
  readonly parts: Array<Uint8Array | undefined>
  received: number
  bytes: number
}

const WAITING: FragmentResult = Object.freeze({ frame: undefined, error: undefined })

function failed(code: NativeCodecError['code'], message: string): FragmentResult {
  return { frame: undefined, error: { code, message } }
}

/**
 * Reassembles FRAGMENTED frames per connection (frm §10.2–§10.3, §9.6). Frames without the flag pass
 * straight through. Fragments of one message may arrive in any order and interleave with other frames and
 * messages. Every failure is an error value and, as the spec closes the connection, the assembler then
 * drops all pending state.
 */
export class FragmentAssembler {
  readonly #now: () => number
  readonly #timeoutMs: number
  readonly #maxBytes: number
  readonly #pending = new Map<string, Pending>()
  #fragments = 0
  #bytes = 0

  constructor(options: FragmentAssemblerOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#timeoutMs = options.timeoutMs ?? FRAGMENT_TIMEOUT_MS
    this.#maxBytes = Math.min(options.maxBytes ?? NATIVE_MAX_PAYLOAD_BYTES, NATIVE_MAX_PAYLOAD_BYTES)
  }

  /** Fragments held across all incomplete messages. */
  get pendingFragments(): number {
    return this.#fragments
  }

  /** Data bytes held across all incomplete messages. */
  get pendingBytes(): number {
    return this.#bytes
  }

  /** `fragment_timeout` if a message has waited past the deadline (call it from the connection's timer too). */
  expire(): NativeCodecError | undefined {
    const now = this.#now()
    for (const p of this.#pending.values()) {
      if (now - p.startedAt > this.#timeoutMs) {
        this.#clear()
        return { code: 'fragment_timeout', message: `a fragmented message was incomplete after ${this.#timeoutMs} ms` }
      }
    }
    return undefined
  }

  /** Takes the next frame off the wire; returns the whole frame once every fragment of its message is in. */
  accept(frame: Frame): FragmentResult {
    const expired = this.expire()
    if (expired) return { frame: undefined, error: expired }
    if ((frame.flags & NativeFrameFlags.FRAGMENTED) === 0) return { frame, error: undefined }
    const result = this.#acceptFragment(frame)
    if (result.error) this.#clear()
    return result
  }

  #acceptFragment(frame: Frame): FragmentResult {
    const decoded = decodeCbor(frame.payload)
    if (!decoded.ok) return { frame: undefined, error: decoded.error }
    const map = decoded.value
    if (!(map instanceof Map)) return failed('invalid_payload', 'a fragment payload must be a CBOR map')
    const id = map.get(1)
    const seq = map.get(2)
    const total = map.get(3)
    const data = map.get(4)
    if (typeof id !== 'string' || !Number.isInteger(seq) || !Number.isInteger(total) || !(data instanceof Uint8Array)) {
      return failed('invalid_payload', 'a fragment needs {1: id text, 2: seq uint, 3: total uint, 4: data bytes}')
    }
    const index = Number(seq)
    const count = Number(total)
    if (count > MAX_FRAGMENTS) return failed('fragment_limit_exceeded', `a message announces ${count} fragments; the limit is ${MAX_FRAGMENTS}`)
    if (count < 1 || index < 0 || index >= count) return failed('protocol_error', 'fragment sequence is outside 0..total-1')

    let pending = this.#pending.get(id)
    if (!pending) {
      pending = { type: frame.type, flags: frame.flags, total: count, startedAt: this.#now(), parts: new Array(count), received: 0, bytes: 0 }
      this.#pending.set(id, pending)
    }
    if (pending.total !== count || pending.type !== frame.type) return failed('protocol_error', 'fragments of one message disagree on type or total')
    if (pending.parts[index] !== undefined) return failed('protocol_error', 'a fragment arrived twice')
    if (this.#fragments + 1 > MAX_FRAGMENTS) return failed('fragment_limit_exceeded', `more than ${MAX_FRAGMENTS} fragments pending`)
    if (this.#bytes + data.length > this.#maxBytes) return failed('frame_too_large', `fragmented message exceeds ${this.#maxBytes} bytes`)

    pending.parts[index] = data
    pending.received++
    pending.bytes += data.length
    this.#fragments++
    this.#bytes += data.length
    if (pending.received < pending.total) return WAITING

    this.#pending.delete(id)
    this.#fragments -= pending.received
    this.#bytes -= pending.bytes
    const payload = new Uint8Array(pending.bytes)
    let offset = 0
    for (const part of pending.parts) {
      if (!part) continue
      payload.set(part, offset)
      offset += part.length
    }
    const flags = pending.flags & ~NativeFrameFlags.FRAGMENTED
    return { frame: { version: NATIVE_FRAMING_VERSION, type: pending.type, flags, reserved: 0, payload }, error: undefined }
  }

  #clear(): void {
    this.#pending.clear()
    this.#fragments = 0
    this.#bytes = 0
  }
}
