/**
 * One native session on the node's port (iicp-framing.md §4, §8; official-sdks.md §6.2): INIT/ACK handshake, then
 * PING/PONG, DISCOVER, CALL/RESPONSE (several in flight, answered as they finish) and negotiated streaming, CLOSE
 * in both directions. A codec error sends the CLOSE its code names and drops the connection; a session silent for
 * the idle timeout (with nothing in flight) is closed. Frames are decoded into typed messages by @iicp/protocol.
 */
import type { Socket } from 'node:net'
import { FrameDecoder, closeFor, decodeNativeMessage, encodeNativeMessage, NATIVE_FRAMING_VERSION } from '@iicp/protocol'
import type { Frame, Logger, NativeCall, NativeClose, NativeMessage } from '@iicp/protocol'
import type { TimerHandle, Timers } from '../timers.js'
import { runNativeCall } from './native-call.js'
import type { NativeTaskRunner } from './native-call.js'

/** What a session needs from its node. */
export interface NativeSessionDeps {
  readonly run: NativeTaskRunner
  /** The node id, sent in ACK key 2. */
  readonly nodeId: () => string
  /** DISCOVER answer (key 20) for an intent. */
  readonly discover: (intent: string | undefined) => unknown[]
  readonly idleTimeoutMs: number
  readonly maxCallsPerSession: number
  readonly maxFrameBytes: number
  readonly timers: Timers
  readonly log: Logger
}

/** A served native connection. `closed` settles once the socket is gone. */
export class NativeSession {
  readonly #socket: Socket
  readonly #deps: NativeSessionDeps
  readonly #decoder: FrameDecoder
  readonly #shutdown = new AbortController()
  #greeted = false
  #ended = false
  #inFlight = 0
  #idle: TimerHandle | undefined
  #lastActivity: number
  #corked = false
  readonly #uncork = (): void => {
    this.#corked = false
    this.#socket.uncork()
  }
  readonly closed: Promise<void>

  constructor(socket: Socket, head: Uint8Array, deps: NativeSessionDeps) {
    this.#socket = socket
    this.#deps = deps
    this.#decoder = new FrameDecoder({ maxPayloadBytes: deps.maxFrameBytes })
    this.#lastActivity = deps.timers.now()
    socket.setNoDelay(true)
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()))
    socket.once('close', () => this.#onClosed())
    socket.on('error', () => {
      // A reset or broken pipe ends the session; 'close' follows and cleans up.
    })
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    this.#armIdle()
    if (head.length > 0) this.#onData(head)
  }

  /** Calls running now. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** Drop the connection at once, cancelling the calls it carries. Idempotent. */
  destroy(): void {
    this.#socket.destroy()
    this.#onClosed()
  }

  #onClosed(): void {
    if (this.#ended) return
    this.#ended = true
    this.#shutdown.abort()
    if (this.#idle !== undefined) this.#deps.timers.clearTimeout(this.#idle)
    this.#idle = undefined
  }

  #armIdle(ms = this.#deps.idleTimeoutMs): void {
    if (this.#idle !== undefined) this.#deps.timers.clearTimeout(this.#idle)
    this.#idle = this.#ended ? undefined : this.#deps.timers.setTimeout(() => this.#onIdle(), ms)
  }

  #onIdle(): void {
    this.#idle = undefined
    // Activity only stamps a time (no timer churn per frame); the timer re-arms for whatever is left.
    const quiet = this.#deps.timers.now() - this.#lastActivity
    if (quiet < this.#deps.idleTimeoutMs) {
      this.#armIdle(this.#deps.idleTimeoutMs - quiet)
      return
    }
    // A long call is not idleness: wait for it (its own deadline bounds it).
    if (this.#inFlight > 0) {
      this.#armIdle()
      return
    }
    this.#closeWith({ kind: 'close', reason: 'timeout', message: 'session idle' })
  }

  #onData(chunk: Uint8Array): void {
    if (this.#ended) return
    this.#lastActivity = this.#deps.timers.now()
    const { frames, error } = this.#decoder.push(chunk)
    for (const frame of frames) {
      if (this.#ended) return
      this.#onFrame(frame)
    }
    if (error !== undefined) {
      this.#deps.log.debug({ code: error.code }, 'native frame refused')
      this.#closeWith(closeFor(error))
    }
  }

  #onFrame(frame: Frame): void {
    const decoded = decodeNativeMessage(frame)
    if (!decoded.ok) {
      this.#deps.log.debug({ code: decoded.error.code }, 'native message refused')
      this.#closeWith(closeFor(decoded.error))
      return
    }
    const m = decoded.message
    if (!this.#greeted && m.kind !== 'init' && m.kind !== 'close') {
      this.#closeWith({ kind: 'close', reason: 'protocol_error', message: 'INIT must come first' })
      return
    }
    switch (m.kind) {
      case 'init':
        if (this.#greeted) {
          this.#closeWith({ kind: 'close', reason: 'protocol_error', message: 'INIT sent twice' })
          return
        }
        this.#greeted = true
        this.#send({ kind: 'ack', protocolVersion: NATIVE_FRAMING_VERSION, nodeId: this.#deps.nodeId() })
        return
      case 'ping':
        // An empty echo is dropped, as the reference relay does (capture a).
        this.#send(m.echo !== undefined && m.echo.length > 0 ? { kind: 'pong', echo: m.echo } : { kind: 'pong' })
        return
      case 'pong':
      case 'feedback':
        return
      case 'discover':
        this.#send({
          kind: 'discoverResponse',
          ...(m.sessionId === undefined ? {} : { sessionId: m.sessionId }),
          ...(m.intent === undefined ? {} : { intent: m.intent }),
          nodes: this.#deps.discover(m.intent),
        })
        return
      case 'call':
        this.#call(m)
        return
      case 'close':
        // The peer reads nothing more on this session, so its calls are aborted: this is how a consumer cancels a
        // task (the wire has no per-call cancel). A graceful CLOSE is answered with one (frm §8.3), an error close not (§8.4).
        if (m.reason === undefined || m.reason === 'graceful') {
          this.#closeWith({ kind: 'close', reason: 'graceful' })
          return
        }
        this.#shutdown.abort()
        this.#socket.end()
        return
      default:
        this.#closeWith({ kind: 'close', reason: 'protocol_error', message: `unexpected ${m.kind} on a node session` })
    }
  }

  #call(call: NativeCall): void {
    if (this.#inFlight >= this.#deps.maxCallsPerSession) {
      this.#send({
        kind: 'response',
        ...(call.sessionId === undefined ? {} : { sessionId: call.sessionId }),
        ...(call.callId === undefined ? {} : { callId: call.callId }),
        error: { code: 'capacity_exceeded', message: 'Too many calls in flight on this session' },
        errorCode: 429,
        errorMessage: 'Too many calls in flight on this session',
      })
      return
    }
    this.#inFlight++
    void this.#serveCall(call).finally(() => {
      this.#inFlight--
    })
  }

  async #serveCall(call: NativeCall): Promise<void> {
    try {
      for await (const message of runNativeCall(this.#deps.run, call, { signal: this.#shutdown.signal })) {
        if (this.#ended) return
        if (!this.#send(message)) {
          // A chunk that cannot be encoded ends the stream with an error event instead of a broken frame.
          if (message.kind === 'streamEvent' && message.status === 'partial') {
            this.#send({ ...message, status: 'error', result: undefined, error: { code: 'backend_error', message: 'Stream chunk is not encodable' }, isFinal: true, lifecycle: { ...message.lifecycle, event: 'failed', isFinal: true } })
          }
          return
        }
        if (message.kind === 'streamEvent' && this.#socket.writableNeedDrain) await this.#drained()
      }
    } catch {
      // runNativeCall never throws; a failure here means the socket went away mid-write.
    }
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.#socket.off('drain', done)
        this.#socket.off('close', done)
        resolve()
      }
      this.#socket.once('drain', done)
      this.#socket.once('close', done)
    })
  }

  /** Encode and write; false when the message could not be encoded or the socket is gone. */
  #send(message: NativeMessage): boolean {
    if (this.#ended || this.#socket.destroyed) return false
    let bytes: Uint8Array
    try {
      bytes = encodeNativeMessage(message)
    } catch (err) {
      this.#deps.log.warn({ kind: message.kind, code: (err as { code?: unknown }).code }, 'native message not encodable')
      return false
    }
    // Answers finished in one turn of the event loop leave in one syscall, which costs more than encoding them.
    if (!this.#corked) {
      this.#corked = true
      this.#socket.cork()
      setImmediate(this.#uncork)
    }
    this.#socket.write(bytes)
    return true
  }

  #closeWith(close: NativeClose | undefined): void {
    if (this.#ended) return
    if (close !== undefined) this.#send(close)
    this.#shutdown.abort()
    this.#socket.end()
    // A peer that never reads must not keep the socket half-open.
    const sock = this.#socket
    setTimeout(() => sock.destroy(), 1000).unref()
    this.#onClosed()
  }
}
