/**
 * The worker half of the native TCP relay (official-sdks.md §5.1–§5.3): dial the relay's accept port, INIT/ACK,
 * a ticketed RELAY_BIND, then serve pushed CALLs through the node's handler. Unlike the reference worker it holds a
 * PONG deadline, so a half-open path (CGNAT state gone, relay host dead) is noticed within
 * `pingIntervalMs + pongTimeoutMs` (official-sdks.md §8 item 13). Reconnects back off from 2 s doubling to 60 s; when
 * they run out it emits `error` and closes, so the node elects the next relay.
 */
import { EventEmitter } from 'node:events'
import { connect } from 'node:net'
import {
  IicpError, NativeMessageType, decodeNativeMessage, encodeNativeMessage, errorBody, isIicpError, streamEvent,
} from '@iicp/protocol'
import type { Frame, NativeCall, StreamEventInit } from '@iicp/protocol'
import { relayEndpointFor } from '../election.js'
import { runTask } from '../worker/run-task.js'
import { refusalFromReason } from './bind-refusals.js'
import { FrameChannel } from './frame-channel.js'
import { encodeRelayResponse, readRelayCall } from './relay-codec.js'
import { DEFAULT_RELAY_HTTP_PORT, resolveTcpWorkerOptions, urlHost } from './tcp-options.js'
import type { RelayStreamHandler, ResolvedTcpRelayWorkerOptions, TcpRelayWorkerOptions } from './tcp-options.js'

/** How long a worker keeps retrying a bind the relay refuses as still alive (IICP-DIR §7.2 liveness window). */
const ALIVE_CONFLICT_WAIT_MS = 90_000
/** The reference worker's INIT: `{1: 1}` (fixtures/interop capture a, frame 0). */
const INIT = encodeNativeMessage({ kind: 'init', protocolVersion: 1 })

/** Lifecycle of a TCP relay worker (official-sdks.md §5.2). */
export type TcpRelayWorkerState = 'idle' | 'connecting' | 'bound' | 'reconnecting' | 'closed'

/** What `bound` carries (official-sdks.md §5.3): register `relayEndpoint` with the directory (transport_method `turn_relay`). */
export interface TcpRelayBoundEvent {
  transport: 'tcp'
  /** `http://{relay host}:{RELAY_ACK key 4 or 9484}/v1/relay-for/{workerId}`, or under `relayHttpUrl`. */
  relayEndpoint: string
  /** The relay's base URL (`relay_endpoint` at registration). */
  relayUrl: string
  /** RELAY_ACK key 4, when the relay sent it. */
  relayHttpPort: number | undefined
  /** The relay host as configured (`transport_metadata.relay_host` of the reference worker's re-registration). */
  relayHost: string
  /** The accept port dialled. */
  relayAcceptPort: number
}

/** Events of a TCP relay worker (official-sdks.md §5.2–§5.3). */
export interface TcpRelayWorkerEvents {
  /** A session is up (first bind and every rebind); re-register the path-scoped endpoint now. */
  bound: [TcpRelayBoundEvent]
  /** The session ended (`pong_timeout`, `socket_closed`, `relay_close`, `protocol_error`, …); a reconnect follows. */
  unbound: [{ reason: string }]
  /** Reconnects ran out: the worker is closed, elect the next relay. Only emitted when someone listens. */
  error: [IicpError]
}

/** A worker bound to one relay over native TCP (official-sdks.md §5.2). */
export interface TcpRelayWorker {
  /** The relay's accept address as configured, `host:port`. */
  readonly relay: string
  /** The path-scoped endpoint of the live (or last) session; undefined before the first bind. */
  readonly relayEndpoint: string | undefined
  /** The relay's HTTP base URL (`relay_endpoint` at registration); undefined before the first bind. */
  readonly relayUrl: string | undefined
  /** `'tcp'` while a session is up (the same field as @iicp/relay's WebSocket/long-poll worker). */
  readonly transport: 'tcp' | undefined
  readonly state: TcpRelayWorkerState
  /** Calls being handled right now. */
  readonly inFlight: number
  /** Connect and bind; resolves once bound, rejects with IicpError (and closes) if the first bind fails. Idempotent. */
  start(): Promise<void>
  /** End the session and every timer; handlers in flight see their signal abort. Idempotent. */
  close(): Promise<void>
  on<E extends keyof TcpRelayWorkerEvents>(event: E, listener: (...args: TcpRelayWorkerEvents[E]) => void): this
  off<E extends keyof TcpRelayWorkerEvents>(event: E, listener: (...args: TcpRelayWorkerEvents[E]) => void): this
  once<E extends keyof TcpRelayWorkerEvents>(event: E, listener: (...args: TcpRelayWorkerEvents[E]) => void): this
  [Symbol.asyncDispose](): Promise<void>
}

/** Create a native TCP relay worker (official-sdks.md §5.1–§5.3). Throws `invalid_config` on bad options. */
export function createTcpRelayWorker(options: TcpRelayWorkerOptions): TcpRelayWorker {
  return new TcpWorker(resolveTcpWorkerOptions(options))
}

/** Delay before reconnect attempt `attempt` (0-based): base·2^attempt, capped (official-sdks.md §5.2 step 6). */
export function tcpReconnectDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30))
}

const refusals = new WeakSet<IicpError>()

/** One live session from the worker's side. */
interface Session {
  readonly channel: FrameChannel
  /**
   * One signal for every call of the session: the native protocol has no per-call cancel, so a call's handler can
   * only be stopped by the session ending, and an AbortSignal per call (about a third of a relayed task's worker CPU
   * on Node 20) would buy nothing.
   */
  readonly calls: SessionCalls
  readonly ended: Promise<string>
  readonly bound: TcpRelayBoundEvent
}

/** The calls a session is running: how many, and the signal that aborts them all when the session ends. */
interface SessionCalls {
  readonly abort: AbortController
  running: number
}

class TcpWorker extends EventEmitter implements TcpRelayWorker {
  readonly relay: string
  readonly #o: ResolvedTcpRelayWorkerOptions
  #state: TcpRelayWorkerState = 'idle'
  #session: Session | undefined
  #relayEndpoint: string | undefined
  #relayUrl: string | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #lostAtMs = 0
  #starting: Promise<void> | undefined
  #closing: Promise<void> | undefined
  #connecting: FrameChannel | undefined

  constructor(o: ResolvedTcpRelayWorkerOptions) {
    super()
    this.#o = o
    this.relay = `${urlHost(o.relayHost)}:${o.relayPort}`
  }

  get state(): TcpRelayWorkerState {
    return this.#state
  }

  get relayEndpoint(): string | undefined {
    return this.#relayEndpoint
  }

  get relayUrl(): string | undefined {
    return this.#relayUrl
  }

  get transport(): 'tcp' | undefined {
    return this.#session ? 'tcp' : undefined
  }

  get inFlight(): number {
    return this.#session?.calls.running ?? 0
  }

  start(): Promise<void> {
    if (this.#closing) return Promise.reject(new IicpError('aborted', 'relay worker is closed'))
    this.#starting ??= (async () => {
      this.#state = 'connecting'
      try {
        await this.#connectOnce()
      } catch (err) {
        await this.close()
        throw err
      }
    })()
    return this.#starting
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closed'
      clearTimeout(this.#retryTimer)
      this.#connecting?.close('closed')
      const session = this.#session
      this.#session = undefined
      if (session) {
        session.calls.abort.abort()
        // The reference worker just drops TCP; a CLOSE first tells our relay it was on purpose.
        session.channel.close('closed', encodeNativeMessage({ kind: 'close', reason: 'graceful' }))
        await session.ended
      }
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** Connect, handshake and bind; resolves once bound. */
  async #connectOnce(): Promise<void> {
    const o = this.#o
    let ticket: string | undefined
    try {
      ticket = await o.ticketProvider()
    } catch (cause) {
      throw isIicpError(cause) ? cause : new IicpError('connection_failed', 'could not obtain a relay bind ticket', { cause })
    }
    if (this.#closing) throw new IicpError('aborted', 'relay worker is closed')
    const session = await this.#bind(ticket)
    if (this.#closing) {
      session.channel.close('closed')
      throw new IicpError('aborted', 'relay worker is closed')
    }
    this.#session = session
    this.#state = 'bound'
    void session.ended.then((reason) => this.#onEnded(session, reason))
    this.emit('bound', session.bound)
  }

  #bind(ticket: string | undefined): Promise<Session> {
    const o = this.#o
    return new Promise<Session>((resolve, reject) => {
      const socket = connect({ host: o.relayHost, port: o.relayPort })
      const calls: SessionCalls = { abort: new AbortController(), running: 0 }
      let phase: 'ack' | 'relay_ack' | 'bound' = 'ack'
      let settled = false
      let onEnded: (reason: string) => void = () => undefined
      const ended = new Promise<string>((r) => (onEnded = r))
      const fail = (err: IicpError): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        reject(err)
        channel.close('bind_failed')
      }
      const timer = setTimeout(() => fail(new IicpError('timeout', 'relay did not complete the bind in time')), o.connectTimeoutMs)
      timer.unref()

      const channel: FrameChannel = new FrameChannel(socket, o.maxFrameBytes, {
        onFrame: (frame) => {
          if (phase === 'bound') {
            this.#onSessionFrame(frame, channel, calls)
            return
          }
          if (frame.type === NativeMessageType.CLOSE) {
            fail(new IicpError('connection_failed', 'relay closed the session during the bind'))
            return
          }
          if (phase === 'ack') {
            if (frame.type !== NativeMessageType.ACK) {
              fail(new IicpError('invalid_response', 'relay did not answer INIT with ACK'))
              return
            }
            phase = 'relay_ack'
            const bind = encodeNativeMessage({
              kind: 'relayBind', workerId: o.workerId, intent: o.intent, models: [...o.models], ...(ticket ? { bindTicket: ticket } : {}),
            })
            channel.sendRaw(bind)
            return
          }
          if (frame.type !== NativeMessageType.RELAY_ACK) return
          const decoded = decodeNativeMessage(frame)
          if (!decoded.ok || decoded.message.kind !== 'relayAck') {
            fail(new IicpError('invalid_response', 'relay sent an unreadable RELAY_ACK'))
            return
          }
          const ack = decoded.message
          if (ack.status !== 'ok') {
            const err = refusalFromReason(ack.reason)
            refusals.add(err)
            fail(err)
            return
          }
          phase = 'bound'
          settled = true
          clearTimeout(timer)
          this.#connecting = undefined
          const relayUrl = o.relayHttpUrl?.replace(/\/+$/, '') ??
            `http://${urlHost(o.relayHost)}:${ack.relayHttpPort ?? DEFAULT_RELAY_HTTP_PORT}`
          this.#relayUrl = relayUrl
          this.#relayEndpoint = relayEndpointFor(relayUrl, o.workerId)
          channel.keepalive({ pingIntervalMs: o.pingIntervalMs, pongTimeoutMs: o.pongTimeoutMs })
          o.logger.info({ relay: this.relay }, 'relay session bound')
          resolve({ channel, calls, ended, bound: {
              transport: 'tcp', relayEndpoint: this.#relayEndpoint, relayUrl, relayHttpPort: ack.relayHttpPort, relayHost: o.relayHost, relayAcceptPort: o.relayPort,
            },
          })
        },
        onClosed: (reason) => {
          calls.abort.abort()
          if (!settled) {
            settled = true
            clearTimeout(timer)
            reject(new IicpError('connection_failed', `could not bind to the relay at ${this.relay} (${reason})`))
          }
          onEnded(reason)
        },
      })
      this.#connecting = channel
      socket.once('connect', () => channel.sendRaw(INIT))
    })
  }

  #onSessionFrame(frame: Frame, channel: FrameChannel, calls: SessionCalls): void {
    if (frame.type === NativeMessageType.CALL) {
      // A plain relayed CALL (no stream, no extra keys) is read without a generic CBOR decode.
      const fast = frame.flags === 0 ? readRelayCall(frame.payload) : undefined
      if (fast !== undefined) {
        const call: NativeCall = { kind: 'call', payload: fast.body, callId: fast.callId }
        if (fast.metadata !== undefined) call.metadata = fast.metadata
        void this.#serve(call, channel, calls)
        return
      }
      const decoded = decodeNativeMessage(frame)
      if (!decoded.ok || decoded.message.kind !== 'call') {
        if (!decoded.ok) channel.fail(decoded.error)
        return
      }
      void this.#serve(decoded.message, channel, calls)
      return
    }
    if (frame.type === NativeMessageType.CLOSE) channel.close('relay_close')
    // PONG and the rest: the channel already counted them as signs of life.
  }

  async #serve(call: NativeCall, channel: FrameChannel, calls: SessionCalls): Promise<void> {
    const callId = call.callId ?? ''
    const raw = call.payload
    const body = raw instanceof Uint8Array
      ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
      : Buffer.from(JSON.stringify(raw ?? {}))
    const headers = callHeaders(call.metadata)
    const signal = calls.abort.signal
    calls.running++
    const handleStream = this.#o.handleStream
    if (call.taskId !== undefined && handleStream !== undefined) {
      await this.#serveStream(handleStream, call, body, headers, channel, signal)
      calls.running--
      return
    }
    const answer = await runTask(this.#o.handleTask, body, headers, signal)
    calls.running--
    if (signal.aborted || channel.closed) return
    // Key 5 is the node's body, which a reference relay parses as JSON and merges; 100 and 23 let ours pass it through.
    let frame: Buffer
    try {
      frame = encodeRelayResponse(callId, answer.body, answer.headers, answer.status)
    } catch (err) {
      // Past the 16 MiB frame limit: the consumer learns why instead of waiting for the relay's timeout.
      const e = new IicpError('invalid_response', 'worker answer exceeds the native frame limit', { status: 502, cause: err })
      frame = encodeRelayResponse(callId, Buffer.from(JSON.stringify(errorBody(e))), { 'content-type': 'application/json' }, 502)
    }
    channel.sendRaw(frame)
  }

  /**
   * Lifecycle RESPONSEs for one streamed CALL (official-sdks.md §6.4): `partial` per chunk, then `success` with the
   * generator's return value, or `error`. Waits for the socket to drain between chunks, so a slow relay slows the
   * handler instead of growing a buffer here.
   */
  async #serveStream(
    handle: RelayStreamHandler, call: NativeCall, body: Buffer, headers: Record<string, string>, channel: FrameChannel, signal: AbortSignal,
  ): Promise<void> {
    const ids = { sessionId: call.sessionId ?? call.callId ?? '', callId: call.callId ?? '', taskId: call.taskId ?? '' }
    let sequence = 0
    const send = (init: Omit<StreamEventInit, 'sessionId' | 'callId' | 'taskId' | 'sequence'>): boolean =>
      !signal.aborted && channel.send(streamEvent({ ...ids, sequence: sequence++, ...init }))
    try {
      const iterable = await handle(body, headers, signal)
      const iterator = iterable[Symbol.asyncIterator]()
      for (;;) {
        const step = await iterator.next()
        if (step.done) {
          send({ status: 'success', ...(step.value === undefined ? {} : { result: step.value }) })
          return
        }
        if (!send({ status: 'partial', result: step.value })) {
          await iterator.return?.()
          return
        }
        await channel.drained()
      }
    } catch (err) {
      const e = isIicpError(err) ? err : new IicpError('server_error')
      send({ status: 'error', error: { code: e.code, message: e.message } })
    }
  }

  #onEnded(session: Session, reason: string): void {
    if (this.#session !== session || this.#closing) return
    this.#session = undefined
    this.#state = 'reconnecting'
    this.#lostAtMs = Date.now()
    this.#o.logger.warn({ reason }, 'relay session ended')
    this.emit('unbound', { reason })
    this.#scheduleReconnect(0)
  }

  #scheduleReconnect(attempt: number, delayOverrideMs?: number): void {
    if (this.#closing) return
    if (attempt >= this.#o.maxReconnectAttempts) {
      const err = new IicpError('connection_failed', `relay session at ${this.relay} lost and ${attempt} reconnects failed`)
      void this.close()
      if (this.listenerCount('error') > 0) this.emit('error', err)
      return
    }
    const delay = delayOverrideMs ?? tcpReconnectDelayMs(attempt, this.#o.reconnectBaseMs, this.#o.reconnectMaxMs)
    this.#retryTimer = setTimeout(() => {
      this.#connectOnce().catch((err: unknown) => {
        if (this.#closing) return
        const code = isIicpError(err) ? err.code : 'unknown'
        this.#o.logger.warn({ attempt, code }, 'relay reconnect failed')
        // The relay has not yet seen our old session die (IICP-DIR §7.2): wait for its liveness check at base
        // pace instead of spending attempts.
        if (code === 'IICP-E038' && isIicpError(err) && refusals.has(err) && Date.now() - this.#lostAtMs < ALIVE_CONFLICT_WAIT_MS) {
          this.#scheduleReconnect(attempt, Math.max(this.#o.reconnectBaseMs, 1))
          return
        }
        this.#scheduleReconnect(attempt + 1)
      })
    }, delay)
  }
}

/** The headers a handler sees: content-type JSON (CALLs leave it implied), then the CALL's key 23, names lower-case. */
function callHeaders(metadata: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = { 'content-type': 'application/json' }
  if (metadata) for (const k of Object.keys(metadata)) out[k.toLowerCase()] = metadata[k] as string
  return out
}
