/**
 * One native-framed TCP connection as both relay sides see it (iicp-framing.md §1–§4; official-sdks.md §5.2):
 * bytes in through a bounded FrameDecoder, frames out through the protocol codec, and a keepalive that PINGs
 * after a quiet spell and drops the connection when nothing at all comes back by the deadline. Any frame
 * counts as a sign of life, because the reference Python worker never answers a relay's PING but sends its own
 * every 30 s (official-sdks.md §5.2 step 5).
 */
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import {
  FrameDecoder, NativeMessageType, closeFor, decodeNativeMessage, encodeFrame, encodeNativeMessage,
} from '@iicp/protocol'
import type { Frame, NativeCodecError, NativeMessage } from '@iicp/protocol'
import { coalesceWrites } from '../write-coalescing.js'

/** Keepalive timing of one connection. */
export interface KeepaliveTiming {
  /** Send a PING after this long without any frame from the peer. */
  pingIntervalMs: number
  /** Drop the connection when no frame arrives this long after that PING. */
  pongTimeoutMs: number
}

/** What a channel reports to its owner. */
export interface FrameChannelHandlers {
  /** A complete frame (never a PING: those are answered here). */
  onFrame(frame: Frame): void
  /** The connection is over; called once, after the socket is destroyed. */
  onClosed(reason: string): void
}

/** The PING the reference worker sends: `{1: h''}` (fixtures/interop capture a, frame 4). */
const EMPTY_ECHO_PING = encodeNativeMessage({ kind: 'ping', echo: new Uint8Array(0) })
/** The reference relay's answer to an empty echo: `{}` (capture a, frame 5). */
const EMPTY_PONG = encodeNativeMessage({ kind: 'pong' })

/** A framed socket with keepalive; the owner decides what frames mean. */
export class FrameChannel {
  readonly socket: Socket
  #decoder: FrameDecoder
  readonly #handlers: FrameChannelHandlers
  #timing: KeepaliveTiming | undefined
  #lastRx = performance.now()
  #pingSentAt: number | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false
  #closeReason: string | undefined
  #pendingLimit: number | undefined
  readonly #beforeWrite: () => void

  constructor(socket: Socket, maxPayloadBytes: number, handlers: FrameChannelHandlers) {
    this.socket = socket
    this.#decoder = new FrameDecoder({ maxPayloadBytes })
    this.#handlers = handlers
    this.#beforeWrite = coalesceWrites(socket)
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    // 'close' always follows 'error'; the reason is settled there.
    socket.on('error', () => {
      this.#closeReason ??= 'socket_error'
    })
    socket.on('close', () => this.#finish(this.#closeReason ?? 'socket_closed'))
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Start (or retune) the keepalive. */
  keepalive(timing: KeepaliveTiming): void {
    this.#timing = timing
    this.#arm(timing.pingIntervalMs)
  }

  /**
   * Raise the frame size cap once the peer is trusted (after a bind); applied at a frame boundary so no
   * partial frame is lost. Before that, a small cap keeps unauthenticated peers from making us allocate 16 MiB.
   */
  raiseLimit(maxPayloadBytes: number): void {
    if (this.#decoder.bufferedBytes === 0 && this.#decoder.error === undefined) this.#decoder = new FrameDecoder({ maxPayloadBytes })
    else this.#pendingLimit = maxPayloadBytes
  }

  /** Send a typed message; false when the connection is gone. */
  send(message: NativeMessage): boolean {
    return this.sendRaw(encodeNativeMessage(message))
  }

  /** Send an already encoded frame. */
  sendRaw(frame: Uint8Array): boolean {
    if (this.#closed || this.socket.destroyed || !this.socket.writable) return false
    this.#beforeWrite()
    this.socket.write(frame)
    return true
  }

  /** Send a frame of `type` with a pre-encoded CBOR payload. */
  sendPayload(type: number, payload: Uint8Array): boolean {
    return this.sendRaw(encodeFrame(type, payload))
  }

  /** Resolves once the socket can take more (or is gone): a streaming sender waits here instead of buffering. */
  drained(): Promise<void> {
    const socket = this.socket
    if (!socket.writableNeedDrain || this.#closed) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('drain', done)
        socket.off('close', done)
        resolve()
      }
      socket.once('drain', done)
      socket.once('close', done)
    })
  }

  /** The reference worker's PING. */
  ping(): boolean {
    return this.sendRaw(EMPTY_ECHO_PING)
  }

  /** Close: flush what was written, then end; destroy right away for `pong_timeout` (the peer is gone). */
  close(reason: string, finalFrame?: Uint8Array): void {
    if (this.#closed) return
    this.#closeReason ??= reason
    clearTimeout(this.#timer)
    if (reason === 'pong_timeout' || this.socket.destroyed) {
      this.socket.destroy()
      return
    }
    if (finalFrame) this.socket.end(finalFrame)
    else this.socket.end()
    // A peer that never reads must not keep the socket (and this channel) alive.
    setTimeout(() => this.socket.destroy(), 2_000).unref()
  }

  /** Close for a codec error: a CLOSE naming it (none for a wrong magic), then the socket (frm §8.4, §9.6). */
  fail(error: NativeCodecError): void {
    const close = closeFor(error)
    this.close('protocol_error', close ? encodeNativeMessage(close) : undefined)
  }

  /** Bytes another reader already took off the socket (a single-port sniffer), processed as if just received. */
  feed(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#onData(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return
    this.#lastRx = performance.now()
    if (this.#pingSentAt !== undefined) {
      // Answered: go back to the quiet-spell timer instead of waiting out the deadline timer.
      this.#pingSentAt = undefined
      if (this.#timing) this.#arm(this.#timing.pingIntervalMs)
    }
    const { frames, error } = this.#decoder.push(chunk)
    for (const frame of frames) {
      if (this.#closed) return
      if (frame.type === NativeMessageType.PING) this.#pong(frame)
      else this.#handlers.onFrame(frame)
    }
    if (error) {
      this.fail(error)
      return
    }
    if (this.#pendingLimit !== undefined && this.#decoder.bufferedBytes === 0) {
      this.#decoder = new FrameDecoder({ maxPayloadBytes: this.#pendingLimit })
      this.#pendingLimit = undefined
    }
  }

  /** PONG echoes a non-empty PING key 1 and is `{}` otherwise, as the reference relay does (capture a). */
  #pong(frame: Frame): void {
    // `a1 01 40` is {1: h''}; anything else is decoded to find the echo.
    const p = frame.payload
    if (p.length <= 3) {
      this.sendRaw(EMPTY_PONG)
      return
    }
    const echo = readEcho(p)
    this.sendRaw(echo ? encodeNativeMessage({ kind: 'pong', echo }) : EMPTY_PONG)
  }

  #arm(delayMs: number): void {
    clearTimeout(this.#timer)
    if (this.#closed) return
    this.#timer = setTimeout(() => this.#tick(), Math.max(1, delayMs))
    this.#timer.unref()
  }

  #tick(): void {
    const timing = this.#timing
    if (!timing || this.#closed) return
    const now = performance.now()
    if (this.#pingSentAt !== undefined) {
      // A frame since the PING resets #pingSentAt, so still being set means the deadline passed in silence.
      if (now - this.#pingSentAt >= timing.pongTimeoutMs) {
        this.close('pong_timeout')
        return
      }
      this.#arm(timing.pongTimeoutMs - (now - this.#pingSentAt))
      return
    }
    const quiet = now - this.#lastRx
    if (quiet < timing.pingIntervalMs) {
      this.#arm(timing.pingIntervalMs - quiet)
      return
    }
    this.#pingSentAt = now
    this.ping()
    this.#arm(timing.pongTimeoutMs)
  }

  #finish(reason: string): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#timer)
    this.#handlers.onClosed(reason)
  }
}

/** PING key 1 when it is non-empty; `undefined` for `{}`, `{1: h''}` or an unreadable PING. */
function readEcho(payload: Uint8Array): Uint8Array | undefined {
  const r = decodeNativeMessage({ version: 1, type: NativeMessageType.PING, flags: 0, reserved: 0, payload })
  if (!r.ok || r.message.kind !== 'ping') return undefined
  const echo = r.message.echo
  return echo && echo.length > 0 ? echo : undefined
}
