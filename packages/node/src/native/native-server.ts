/**
 * The node's native transport (iicp-framing.md; official-sdks.md §6): options, the set of live sessions, the
 * DISCOVER answer, and the `transport_endpoint` advertised at registration (`iicp://` for an http endpoint,
 * `iicpsec://` for https, same authority: official-sdks.md §6.2; wire.md §1.2).
 */
import type { Socket } from 'node:net'
import { IicpError, NATIVE_MAX_PAYLOAD_BYTES } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import type { Reachability } from '../options.js'
import type { Timers } from '../timers.js'
import type { NativeTaskRunner } from './native-call.js'
import { NativeSession } from './native-session.js'

/** Options of the node's native transport (`NodeOptions.native`). */
export interface NativeOptions {
  /** Serve native frames on the node's HTTP port (one listener, sniffed). @default true */
  enabled?: boolean
  /** Advertise `transport_endpoint` at registration, derived from the endpoint. @default true */
  advertise?: boolean
  /** Close a session after this long without a frame and with no call in flight. @default 300000 */
  idleTimeoutMs?: number
  /** How long a connection may stay undecided (fewer than 4 bytes) before it is handed to HTTP. @default 2000 */
  sniffTimeoutMs?: number
  /** Calls in flight on one session; more are answered 429 `capacity_exceeded`. @default 64 */
  maxCallsPerSession?: number
  /** Largest frame payload accepted. @default 16777216 (the protocol cap) */
  maxFrameBytes?: number
}

/** Native options after defaults; frozen. */
export interface ResolvedNativeOptions {
  readonly enabled: boolean
  readonly advertise: boolean
  readonly idleTimeoutMs: number
  readonly sniffTimeoutMs: number
  readonly maxCallsPerSession: number
  readonly maxFrameBytes: number
}

function intOption(o: Record<string, unknown>, key: string, min: number, max: number, dflt: number): number {
  const v = o[key]
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new IicpError('invalid_config', `option native.${key} must be an integer ${min}–${max}`)
  }
  return v
}

function boolOption(o: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = o[key]
  if (v === undefined) return dflt
  if (typeof v !== 'boolean') throw new IicpError('invalid_config', `option native.${key} must be true or false`)
  return v
}

/** Parse `NodeOptions.native` (`false` turns the transport off). Throws IicpError `invalid_config`. */
export function resolveNativeOptions(raw: unknown): ResolvedNativeOptions {
  if (raw === false) return Object.freeze({ enabled: false, advertise: false, idleTimeoutMs: 300_000, sniffTimeoutMs: 2000, maxCallsPerSession: 64, maxFrameBytes: NATIVE_MAX_PAYLOAD_BYTES })
  if (raw !== undefined && (typeof raw !== 'object' || raw === null)) throw new IicpError('invalid_config', 'option native must be an object or false')
  const o = (raw ?? {}) as Record<string, unknown>
  const enabled = boolOption(o, 'enabled', true)
  return Object.freeze({
    enabled,
    advertise: enabled && boolOption(o, 'advertise', true),
    idleTimeoutMs: intOption(o, 'idleTimeoutMs', 10, 3_600_000, 300_000),
    sniffTimeoutMs: intOption(o, 'sniffTimeoutMs', 10, 60_000, 2000),
    maxCallsPerSession: intOption(o, 'maxCallsPerSession', 1, 4096, 64),
    maxFrameBytes: intOption(o, 'maxFrameBytes', 1024, NATIVE_MAX_PAYLOAD_BYTES, NATIVE_MAX_PAYLOAD_BYTES),
  })
}

/**
 * `iicp://host:port` for an `http://` endpoint, `iicpsec://host:port` for `https://` (official-sdks.md §6.2), or
 * `undefined` for an endpoint with a path (a relay's path-scoped endpoint would send native callers to the relay).
 */
export function transportEndpointFor(endpoint: string): string | undefined {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return undefined
  }
  if (url.pathname !== '/' && url.pathname !== '') return undefined
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80'
  return `${url.protocol === 'https:' ? 'iicpsec' : 'iicp'}://${url.hostname}:${port}`
}

/**
 * The reachability to register: the given one plus a derived `transport_endpoint` when the node serves native
 * frames, none was given, and the route is direct (not a relay or a tunnel, which carry HTTP only).
 */
export function withTransportEndpoint(reach: Reachability | undefined, endpoint: string, native: ResolvedNativeOptions): Reachability | undefined {
  if (!native.advertise || reach?.transportEndpoint !== undefined) return reach
  if (reach?.transportMethod === 'turn_relay' || reach?.transportMethod === 'external_tunnel' || reach?.transportMethod === 'webrtc_datachannel') return reach
  const derived = transportEndpointFor(endpoint)
  return derived === undefined ? reach : { ...reach, transportEndpoint: derived }
}

/** What the native server needs from its node. */
export interface NativeServerDeps {
  readonly run: NativeTaskRunner
  readonly nodeId: () => string
  readonly discover: (intent: string | undefined) => unknown[]
  readonly options: ResolvedNativeOptions
  readonly timers: Timers
  readonly logger: Logger
}

/** The live native sessions of one node. */
export class NativeServer {
  readonly #deps: NativeServerDeps
  readonly #sessions = new Set<NativeSession>()
  readonly #log: Logger
  #closing = false

  constructor(deps: NativeServerDeps) {
    this.#deps = deps
    this.#log = deps.logger.child({ component: 'iicp-node.native' })
  }

  /** Sessions open now. */
  get sessions(): number {
    return this.#sessions.size
  }

  /** Serve a connection that opened with the native magic (the single-port listener calls this). */
  accept(socket: Socket, head: Uint8Array): void {
    if (this.#closing) {
      socket.destroy()
      return
    }
    const o = this.#deps.options
    const session = new NativeSession(socket, head, {
      run: this.#deps.run,
      nodeId: this.#deps.nodeId,
      discover: this.#deps.discover,
      idleTimeoutMs: o.idleTimeoutMs,
      maxCallsPerSession: o.maxCallsPerSession,
      maxFrameBytes: o.maxFrameBytes,
      timers: this.#deps.timers,
      log: this.#log,
    })
    this.#sessions.add(session)
    void session.closed.then(() => this.#sessions.delete(session))
  }

  /** Drop every session (after the node drained its tasks). Idempotent. */
  async close(): Promise<void> {
    this.#closing = true
    const all = [...this.#sessions]
    for (const s of all) s.destroy()
    await Promise.all(all.map((s) => s.closed))
  }
}
