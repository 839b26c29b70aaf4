/**
 * The relay worker half (IICP-DIR §7; official-sdks.md §5.1–§5.3): holds an outbound session to one relay,
 * WebSocket first and HTTP long-poll as fallback, runs pulled tasks through the node's handler, and reconnects
 * with backoff. When reconnects run out it emits `error` and stops, so the node can elect the next relay.
 */
import { EventEmitter } from 'node:events'
import { Agent } from 'undici'
import { IicpError, isIicpError } from '@iicp/protocol'
import { relayEndpointFor } from '../election.js'
import { resolveWorkerOptions } from '../options.js'
import type { RelayWorkerOptions, ResolvedRelayWorkerOptions } from '../options.js'
import { isRelayRefusal, isTransportUnavailable } from './connection.js'
import type { WorkerConnection } from './connection.js'
import { connectLongPoll } from './long-poll-connection.js'
import { reconnectDelayMs } from './reconnect.js'
import { connectWs } from './ws-connection.js'

/** How long a worker keeps retrying a bind that the relay refuses as still alive (IICP-DIR §7.2 liveness window). */
const ALIVE_CONFLICT_WAIT_MS = 90_000

/** Lifecycle of a relay worker. */
export type RelayWorkerState = 'idle' | 'connecting' | 'bound' | 'reconnecting' | 'closed'

/** Events of a relay worker. */
export interface RelayWorkerEvents {
  /** A session is up; register `relayEndpoint` with the directory now. */
  bound: [{ transport: 'ws' | 'http'; relayEndpoint: string }]
  /** The session ended (`pong_timeout`, `socket_closed_<code>`, `session_expired`, `connection_lost`, …); a reconnect follows. */
  unbound: [{ reason: string }]
  /** Reconnects ran out (the worker is closed now) or a reconnect was refused; only emitted when someone listens. */
  error: [IicpError]
}

/** A worker bound to one relay (IICP-DIR §7.1). */
export interface RelayWorker {
  /** The path-scoped endpoint to register: `${relayUrl}/v1/relay-for/${workerId}` (official-sdks.md §5.3). */
  readonly relayEndpoint: string
  /** The relay base URL (register it as `relay_endpoint`). */
  readonly relayUrl: string
  readonly state: RelayWorkerState
  /** The transport of the live session, if any. */
  readonly transport: 'ws' | 'http' | undefined
  /** Bind; resolves once bound, rejects with IicpError (and closes) when the first bind fails. Idempotent. */
  start(): Promise<void>
  /** Unbind and release every socket and timer. Idempotent. */
  close(): Promise<void>
  on<E extends keyof RelayWorkerEvents>(event: E, listener: (...args: RelayWorkerEvents[E]) => void): this
  off<E extends keyof RelayWorkerEvents>(event: E, listener: (...args: RelayWorkerEvents[E]) => void): this
  once<E extends keyof RelayWorkerEvents>(event: E, listener: (...args: RelayWorkerEvents[E]) => void): this
  [Symbol.asyncDispose](): Promise<void>
}

/** Create a relay worker (IICP-DIR §7). Throws `invalid_config` on bad options. */
export function createRelayWorker(options: RelayWorkerOptions): RelayWorker {
  return new RelayWorkerImpl(resolveWorkerOptions(options))
}

class RelayWorkerImpl extends EventEmitter implements RelayWorker {
  readonly relayEndpoint: string
  readonly relayUrl: string
  readonly #o: ResolvedRelayWorkerOptions
  readonly #shutdown = new AbortController()
  #state: RelayWorkerState = 'idle'
  #conn: WorkerConnection | undefined
  #agent: Agent | undefined
  #wsUnsupported = false
  #retryTimer: NodeJS.Timeout | undefined
  #lostAtMs = 0
  #starting: Promise<void> | undefined
  #closing: Promise<void> | undefined

  constructor(o: ResolvedRelayWorkerOptions) {
    super()
    this.#o = o
    this.relayUrl = o.relayUrl
    this.relayEndpoint = relayEndpointFor(o.relayUrl, o.workerId)
  }

  get state(): RelayWorkerState {
    return this.#state
  }

  get transport(): 'ws' | 'http' | undefined {
    return this.#conn?.transport
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
      this.#shutdown.abort()
      clearTimeout(this.#retryTimer)
      const conn = this.#conn
      this.#conn = undefined
      if (conn) await conn.close()
      if (this.#agent) await this.#agent.destroy()
    })()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #connectOnce(): Promise<void> {
    const signal = this.#shutdown.signal
    let ticket: string | undefined
    try {
      ticket = await this.#o.ticketProvider()
    } catch (cause) {
      throw isIicpError(cause) ? cause : new IicpError('connection_failed', 'could not obtain a relay bind ticket', { cause })
    }
    if (signal.aborted) throw new IicpError('aborted', 'relay worker is closed')
    const order: Array<'ws' | 'http'> = this.#o.transport === 'auto'
      ? (this.#wsUnsupported ? ['http'] : ['ws', 'http'])
      : [this.#o.transport]
    let conn: WorkerConnection | undefined
    let lastError: unknown
    for (const transport of order) {
      try {
        conn = transport === 'ws' ? await connectWs(this.#o, ticket, signal) : await connectLongPoll(this.#o, ticket, this.#dispatcher(), signal)
        break
      } catch (err) {
        lastError = err
        // The relay itself said no: another transport would hear the same answer (and a ticket is single-use).
        if (isRelayRefusal(err) || signal.aborted) break
        if (isTransportUnavailable(err)) this.#wsUnsupported = true
        this.#o.logger.debug({ transport, code: isIicpError(err) ? err.code : 'unknown' }, 'relay transport failed')
      }
    }
    if (!conn) throw isIicpError(lastError) ? lastError : new IicpError('connection_failed', 'could not bind to the relay', { cause: lastError })
    if (signal.aborted) {
      await conn.close()
      throw new IicpError('aborted', 'relay worker is closed')
    }
    this.#conn = conn
    this.#state = 'bound'
    this.#o.logger.info({ transport: conn.transport }, 'relay session bound')
    this.emit('bound', { transport: conn.transport, relayEndpoint: this.relayEndpoint })
    void conn.ended.then((reason) => this.#onEnded(conn, reason))
  }

  #dispatcher(): Agent {
    this.#agent ??= new Agent({ keepAliveTimeout: 30_000, connections: 64 })
    return this.#agent
  }

  #onEnded(conn: WorkerConnection, reason: string): void {
    if (this.#conn !== conn || this.#closing) return
    this.#conn = undefined
    this.#state = 'reconnecting'
    this.#lostAtMs = this.#o.now()
    this.#o.logger.warn({ reason }, 'relay session ended')
    this.emit('unbound', { reason })
    void conn.close()
    this.#scheduleReconnect(0, 0)
  }

  #scheduleReconnect(attempt: number, floorMs: number): void {
    if (this.#closing) return
    if (attempt >= this.#o.maxReconnectAttempts) {
      const err = new IicpError('connection_failed', `relay session lost and ${attempt} reconnects failed`)
      void this.close()
      this.#emitError(err)
      return
    }
    const delay = Math.max(floorMs, reconnectDelayMs(attempt, this.#o.reconnectBaseMs, this.#o.reconnectMaxMs, this.#o.random))
    this.#retryTimer = setTimeout(() => {
      this.#connectOnce().catch((err: unknown) => {
        if (this.#closing) return
        const code = isIicpError(err) ? err.code : 'unknown'
        this.#o.logger.warn({ attempt, code }, 'relay reconnect failed')
        // The relay still holds our old session (it has not seen it die yet): wait for its liveness check
        // (IICP-DIR §7.2) instead of spending attempts, paced so the relay is not hammered.
        if (code === 'IICP-E038' && this.#o.now() - this.#lostAtMs < ALIVE_CONFLICT_WAIT_MS) {
          this.#scheduleReconnect(attempt, Math.min(1_000, this.#o.pingIntervalMs))
          return
        }
        this.#scheduleReconnect(attempt + 1, 0)
      })
    }, delay)
  }

  #emitError(err: IicpError): void {
    // An 'error' event with no listener would throw; the state already says 'closed'.
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }
}
