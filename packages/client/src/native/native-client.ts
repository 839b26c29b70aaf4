/**
 * A native IICP connection to one node (iicp-framing.md §4, §8; official-sdks.md §6.2–§6.4): TCP (`iicp://`) or TLS
 * (`iicpsec://`), INIT/ACK handshake, then PING, DISCOVER, CALL/RESPONSE and negotiated streaming, multiplexed by call
 * id so several calls share the connection. A keepalive PING with a PONG deadline finds half-open connections; a
 * missed deadline, a codec error or the peer's CLOSE fails every pending call with an IicpError. Frames are typed
 * messages from @iicp/protocol; nothing here throws anything but IicpError.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { isIP } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import {
  FrameDecoder, IicpError, NATIVE_FRAMING_VERSION, NATIVE_MAX_PAYLOAD_BYTES, StreamSequence, closeFor, decodeNativeMessage,
  encodeNativeMessage,
} from '@iicp/protocol'
import type { NativeCall, NativeMessage, NativeResponse, NativeStreamEvent } from '@iicp/protocol'
import { checkEndpoint } from '../endpoint-security.js'
import { guardedLookup } from '../http.js'

/** Timers the keepalive runs on (test seam). */
export interface NativeTimers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const realTimers: NativeTimers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms)
    t.unref()
    return t
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  },
}

/** Options of {@link NativeClient.connect}. */
export interface NativeClientOptions {
  /** `iicp://host:port` (TCP) or `iicpsec://host:port` (TLS, certificate verified). */
  endpoint: string
  /** Dial loopback/private addresses (local meshes only). @default false */
  allowPrivateEndpoints?: boolean
  /** Connect plus handshake budget. @default 10000 */
  connectTimeoutMs?: number
  /** Send a PING after this long without inbound frames; 0 turns keepalive off. @default 30000 */
  keepaliveIntervalMs?: number
  /** Drop the connection when no frame arrives this long after a keepalive PING. @default 10000 */
  pongTimeoutMs?: number
  /** Largest frame payload accepted. @default 16777216 */
  maxFrameBytes?: number
  /** Extra CA certificates (PEM) trusted for `iicpsec://`, e.g. a private mesh's; verification cannot be turned off. */
  ca?: string | Buffer | Array<string | Buffer>
  /** Cancels connecting. */
  signal?: AbortSignal
  /** Timer seam for the keepalive (tests drive it by hand). @default real, unref'd timers */
  timers?: NativeTimers
}

/** A parsed native transport endpoint. */
export interface NativeEndpoint {
  readonly tls: boolean
  readonly host: string
  readonly port: number
}

/** Parse `iicp://host:port` / `iicpsec://host:port` (official-sdks.md §6.2); `undefined` for anything else. */
export function parseNativeEndpoint(endpoint: string): NativeEndpoint | undefined {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return undefined
  }
  if (url.protocol !== 'iicp:' && url.protocol !== 'iicpsec:') return undefined
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '' && url.pathname !== '/')) return undefined
  const tls = url.protocol === 'iicpsec:'
  const port = url.port === '' ? (tls ? 443 : 9484) : Number(url.port)
  if (!Number.isInteger(port) || port < 1 || port > 65535 || url.hostname === '') return undefined
  return { tls, host: url.hostname.replace(/^\[|\]$/g, ''), port }
}

/** A cancellation source without an AbortSignal (the client's deadline): a reason once cancelled, and a subscription. */
export interface NativeCancellation {
  readonly reason: IicpError | undefined
  subscribe(fn: (reason: IicpError) => void): () => void
}

/** Options of one call. */
export interface NativeCallOptions {
  readonly signal?: AbortSignal
  /** Cancels the wait like `signal`, rejecting with its reason. */
  readonly cancel?: NativeCancellation
  /** DISCOVER only: the correlation id (key 2). @default a fresh UUID */
  readonly sessionId?: string
}

type Pending =
  | { readonly kind: 'call'; resolve: (r: NativeResponse) => void; reject: (e: IicpError) => void }
  | {
      readonly kind: 'stream'; readonly seq: StreamSequence; readonly onEvent: (e: NativeStreamEvent) => void
      resolve: (r: NativeStreamEvent | NativeResponse) => void; reject: (e: IicpError) => void
    }

/** One live native connection. Make it with {@link NativeClient.connect}. */
export class NativeClient {
  readonly #socket: Socket
  readonly #decoder: FrameDecoder
  readonly #timers: NativeTimers
  readonly #keepaliveMs: number
  readonly #pongTimeoutMs: number
  readonly #pending = new Map<string, Pending>()
  readonly #pings = new Map<string, { resolve: (echo: Uint8Array | undefined) => void; reject: (e: IicpError) => void }>()
  readonly #discovers = new Map<string, { resolve: (nodes: unknown[]) => void; reject: (e: IicpError) => void }>()
  #ack: ((m: NativeMessage) => void) | undefined
  #nodeId: string | undefined
  #failure: IicpError | undefined
  #keepalive: unknown
  #pongDeadline: unknown
  readonly #closedPromise: Promise<void>
  readonly #sessionId = randomUUID()
  #corked = false
  readonly #uncork = (): void => {
    if (!this.#corked) return
    this.#corked = false
    this.#socket.uncork()
  }

  private constructor(socket: Socket, opts: Required<Pick<NativeClientOptions, 'keepaliveIntervalMs' | 'pongTimeoutMs' | 'maxFrameBytes'>> & { timers: NativeTimers }) {
    this.#socket = socket
    this.#decoder = new FrameDecoder({ maxPayloadBytes: opts.maxFrameBytes })
    this.#timers = opts.timers
    this.#keepaliveMs = opts.keepaliveIntervalMs
    this.#pongTimeoutMs = opts.pongTimeoutMs
    this.#closedPromise = new Promise((resolve) => socket.once('close', () => {
      this.#fail(new IicpError('connection_failed', 'Native connection closed'))
      resolve()
    }))
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#fail(new IicpError('connection_failed', err.code ? `Native connection failed (${err.code})` : 'Native connection failed', { cause: err }))
    })
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
  }

  /** Connect and complete the INIT/ACK handshake. Throws IicpError `connection_failed`, `timeout`, `aborted` or `IICP-POLICY-ROUTING`. */
  static async connect(options: NativeClientOptions): Promise<NativeClient> {
    const ep = parseNativeEndpoint(options.endpoint)
    if (ep === undefined) throw new IicpError('validation_error', 'native endpoint must be iicp://host:port or iicpsec://host:port')
    const allowPrivate = options.allowPrivateEndpoints ?? false
    const hostForCheck = isIP(ep.host) === 6 ? `[${ep.host}]` : ep.host
    if (!checkEndpoint(`http://${hostForCheck}:${ep.port}`, allowPrivate).ok) {
      throw new IicpError('IICP-POLICY-ROUTING', 'Native endpoint host is not public')
    }
    const timeoutMs = options.connectTimeoutMs ?? 10_000
    const lookup = allowPrivate ? undefined : guardedLookup
    const socket = ep.tls
      ? tlsConnect({
        host: ep.host, port: ep.port, ...(isIP(ep.host) === 0 ? { servername: ep.host } : {}), ...(lookup ? { lookup } : {}),
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      })
      : netConnect({ host: ep.host, port: ep.port, ...(lookup ? { lookup } : {}), noDelay: true })
    socket.setNoDelay(true)
    const client = new NativeClient(socket, {
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? 30_000,
      pongTimeoutMs: options.pongTimeoutMs ?? 10_000,
      maxFrameBytes: options.maxFrameBytes ?? NATIVE_MAX_PAYLOAD_BYTES,
      timers: options.timers ?? realTimers,
    })
    const timer = setTimeout(() => client.#fail(new IicpError('timeout', 'Native connect timed out', { retryable: true })), timeoutMs)
    const onAbort = (): void => client.#fail(new IicpError('aborted', 'Native connect aborted'))
    options.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      if (options.signal?.aborted) onAbort()
      const ack = await new Promise<NativeMessage>((resolve, reject) => {
        if (client.#failure) {
          reject(client.#failure)
          return
        }
        client.#ack = resolve
        client.#onFailure = reject
        client.#send({ kind: 'init', protocolVersion: NATIVE_FRAMING_VERSION })
      })
      if (ack.kind !== 'ack') throw new IicpError('invalid_response', `Native peer answered INIT with ${ack.kind}`)
      client.#nodeId = ack.nodeId
      client.#armKeepalive()
      return client
    } catch (err) {
      client.destroy()
      throw err instanceof IicpError ? err : new IicpError('connection_failed', 'Native handshake failed', { cause: err })
    } finally {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      client.#onFailure = undefined
      client.#ack = undefined
    }
  }

  #onFailure: ((e: IicpError) => void) | undefined

  /** The node id from ACK key 2 (a relay accept port sends none). */
  get nodeId(): string | undefined {
    return this.#nodeId
  }

  /** Why the connection is unusable, once it is. */
  get failure(): IicpError | undefined {
    return this.#failure
  }

  /** Whether calls may still be sent. */
  get open(): boolean {
    return this.#failure === undefined
  }

  /** Calls waiting for an answer. */
  get pending(): number {
    return this.#pending.size
  }

  /** Resolves when the socket is gone. */
  get closed(): Promise<void> {
    return this.#closedPromise
  }

  /** PING with echo bytes (≤ 64); resolves with the echo the node returned. */
  ping(echo: Uint8Array = randomBytes(8), options: NativeCallOptions = {}): Promise<Uint8Array | undefined> {
    const key = Buffer.from(echo).toString('hex')
    return this.#await<Uint8Array | undefined>(options, (resolve, reject) => {
      this.#pings.set(key, { resolve, reject })
      this.#send({ kind: 'ping', echo })
      return () => this.#pings.delete(key)
    })
  }

  /** DISCOVER an intent (official-sdks.md §6.2); resolves with the node descriptors of key 20. */
  discover(intent: string, options: NativeCallOptions = {}): Promise<unknown[]> {
    const sessionId = options.sessionId ?? randomUUID()
    return this.#await<unknown[]>(options, (resolve, reject) => {
      this.#discovers.set(sessionId, { resolve, reject })
      this.#send({ kind: 'discover', sessionId, intent })
      return () => this.#discovers.delete(sessionId)
    })
  }

  /** One buffered CALL; a call id is assigned when missing. Resolves with the RESPONSE (which may carry an error). */
  call(call: Omit<NativeCall, 'kind'>, options: NativeCallOptions = {}): Promise<NativeResponse> {
    const callId = call.callId ?? randomUUID()
    return this.#await<NativeResponse>(options, (resolve, reject) => {
      this.#pending.set(callId, { kind: 'call', resolve, reject })
      this.#send({ ...call, kind: 'call', sessionId: call.sessionId ?? this.#sessionId, callId })
      return () => this.#pending.delete(callId)
    })
  }

  /**
   * A streaming CALL (key 24 = `taskId`): `onEvent` gets every lifecycle event in order (checked by StreamSequence);
   * resolves with the terminal event, or with a buffered RESPONSE from a node that does not stream.
   */
  stream(call: Omit<NativeCall, 'kind'> & { readonly taskId: string }, onEvent: (e: NativeStreamEvent) => void, options: NativeCallOptions = {}): Promise<NativeStreamEvent | NativeResponse> {
    const callId = call.callId ?? randomUUID()
    const sessionId = call.sessionId ?? this.#sessionId
    const seq = new StreamSequence({ sessionId, callId, taskId: call.taskId })
    return this.#await<NativeStreamEvent | NativeResponse>(options, (resolve, reject) => {
      this.#pending.set(callId, { kind: 'stream', seq, onEvent, resolve, reject })
      this.#send({ ...call, kind: 'call', sessionId, callId })
      return () => this.#pending.delete(callId)
    })
  }

  /** Send CLOSE and end the connection; pending calls fail with `aborted`. Idempotent. */
  async close(): Promise<void> {
    if (this.#failure === undefined) {
      this.#send({ kind: 'close' })
      this.#fail(new IicpError('aborted', 'Native connection closed by the client'))
      this.#socket.end()
    }
    await this.#closedPromise
  }

  /** Drop the connection at once. */
  destroy(): void {
    this.#fail(new IicpError('aborted', 'Native connection closed by the client'))
    this.#socket.destroy()
  }

  #await<T>(options: NativeCallOptions, start: (resolve: (v: T) => void, reject: (e: IicpError) => void) => () => void): Promise<T> {
    const { signal, cancel } = options
    if (this.#failure) return Promise.reject(this.#failure)
    if (cancel?.reason) return Promise.reject(cancel.reason)
    if (signal?.aborted) return Promise.reject(new IicpError('aborted'))
    return new Promise<T>((resolve, reject) => {
      let cleanup = (): void => undefined
      let unsubscribe: (() => void) | undefined
      const stop = (reason: IicpError): void => {
        cleanup()
        unsubscribe?.()
        signal?.removeEventListener('abort', onAbort)
        reject(reason)
      }
      const onAbort = (): void => stop(new IicpError('aborted'))
      const done = (): void => {
        unsubscribe?.()
        signal?.removeEventListener('abort', onAbort)
      }
      cleanup = start((v) => { done(); resolve(v) }, (e) => { done(); reject(e) })
      if (cancel) unsubscribe = cancel.subscribe(stop)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  #send(message: NativeMessage): void {
    if (this.#socket.destroyed) return
    // Calls made in one turn of the event loop (concurrent submits) leave in one syscall.
    if (!this.#corked) {
      this.#corked = true
      this.#socket.cork()
      setImmediate(this.#uncork)
    }
    this.#socket.write(encodeNativeMessage(message))
  }

  #armKeepalive(): void {
    if (this.#keepaliveMs <= 0 || this.#failure) return
    if (this.#keepalive !== undefined) this.#timers.clearTimeout(this.#keepalive)
    this.#keepalive = this.#timers.setTimeout(() => this.#onKeepalive(), this.#keepaliveMs)
  }

  #onKeepalive(): void {
    this.#keepalive = undefined
    if (this.#failure) return
    this.#send({ kind: 'ping', echo: randomBytes(8) })
    this.#pongDeadline ??= this.#timers.setTimeout(() => {
      this.#pongDeadline = undefined
      this.#fail(new IicpError('connection_failed', 'Native peer missed its PONG deadline', { retryable: true }))
      this.#socket.destroy()
    }, this.#pongTimeoutMs)
  }

  #onData(chunk: Buffer): void {
    if (this.#failure) return
    // Any frame proves the path is alive: the PONG deadline is met and the keepalive restarts.
    if (this.#pongDeadline !== undefined) {
      this.#timers.clearTimeout(this.#pongDeadline)
      this.#pongDeadline = undefined
    }
    this.#armKeepalive()
    const { frames, error } = this.#decoder.push(chunk)
    for (const frame of frames) {
      const decoded = decodeNativeMessage(frame)
      if (!decoded.ok) {
        this.#protocolFailure(decoded.error.code, decoded.error.message, closeFor(decoded.error))
        return
      }
      this.#onMessage(decoded.message)
      if (this.#failure) return
    }
    if (error) this.#protocolFailure(error.code, error.message, closeFor(error))
  }

  #protocolFailure(code: string, message: string, close: NativeMessage | undefined): void {
    if (close) this.#send(close)
    // The CLOSE must leave before the socket is torn down.
    this.#uncork()
    this.#fail(new IicpError('invalid_response', `Native peer sent an invalid frame (${code}): ${message}`))
    this.#socket.destroy()
  }

  #onMessage(m: NativeMessage): void {
    switch (m.kind) {
      case 'ack':
        this.#ack?.(m)
        return
      case 'pong': {
        const key = m.echo === undefined ? '' : Buffer.from(m.echo).toString('hex')
        const w = this.#pings.get(key)
        if (w) {
          this.#pings.delete(key)
          w.resolve(m.echo)
        }
        return
      }
      case 'ping':
        this.#send(m.echo !== undefined && m.echo.length > 0 ? { kind: 'pong', echo: m.echo } : { kind: 'pong' })
        return
      case 'discoverResponse': {
        const d = m.sessionId === undefined ? undefined : this.#discovers.get(m.sessionId)
        if (d && m.sessionId !== undefined) {
          this.#discovers.delete(m.sessionId)
          d.resolve(m.nodes)
        }
        return
      }
      case 'response': {
        const p = m.callId === undefined ? undefined : this.#pending.get(m.callId)
        if (!p || m.callId === undefined) return
        this.#pending.delete(m.callId)
        p.resolve(m)
        return
      }
      case 'streamEvent': {
        const p = m.callId === undefined ? undefined : this.#pending.get(m.callId)
        if (!p || p.kind !== 'stream' || m.callId === undefined) return
        const refused = p.seq.accept(m)
        if (refused) {
          this.#pending.delete(m.callId)
          p.reject(new IicpError('invalid_response', `Native stream refused (${refused.code}): ${refused.message}`))
          return
        }
        if (m.isFinal === true) {
          this.#pending.delete(m.callId)
          p.resolve(m)
          return
        }
        p.onEvent(m)
        return
      }
      case 'close':
        this.#fail(new IicpError('connection_failed', `Native peer closed the session${m.reason ? ` (${m.reason})` : ''}`, { retryable: true }))
        this.#socket.end()
        return
      default:
        return
    }
  }

  #fail(err: IicpError): void {
    if (this.#failure) return
    this.#failure = err
    if (this.#keepalive !== undefined) this.#timers.clearTimeout(this.#keepalive)
    if (this.#pongDeadline !== undefined) this.#timers.clearTimeout(this.#pongDeadline)
    this.#keepalive = undefined
    this.#pongDeadline = undefined
    this.#onFailure?.(err)
    const pending = [...this.#pending.values()]
    this.#pending.clear()
    for (const p of pending) p.reject(err)
    const discovers = [...this.#discovers.values()]
    this.#discovers.clear()
    for (const d of discovers) d.reject(err)
    const pings = [...this.#pings.values()]
    this.#pings.clear()
    for (const w of pings) w.reject(err)
  }
}
