/**
 * Options of the relay server and worker with their defaults (IICP-DIR §7; official-sdks.md §5). Parsed once by
 * the factories; a bad value fails there with `invalid_config` naming the option and its range.
 */
import { DEFAULT_MAX_BODY_BYTES, IicpError, silentLogger } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import type { RateLimit } from './server/bind-gate.js'

/** Options of {@link createRelayServer} (IICP-DIR §7.1–§7.4). */
export interface RelayServerOptions {
  /** This relay's node id: the audience its bind tickets must name (or `*`). */
  nodeId?: string
  /** Accept binds without a ticket (IICP-DIR §7.4 soft mode). @default false */
  allowUnsignedBinds?: boolean
  /** Directory base URL; its `GET /v1/directory-key` verifies bind tickets. */
  directoryUrl?: string
  /** The directory's Ed25519 key (64 hex) instead of fetching it. */
  directoryKeyHex?: string
  /** Expected ticket `iss`. @default the directory origin when `directoryUrl` is set, else unchecked */
  ticketIssuer?: string
  /** Most concurrent sessions (IICP-DIR §7.3). @default 256 */
  maxSessions?: number
  /** New binds per source per window; a rebind of a known worker is exempt (IICP-DIR §7.3). @default 30 per 60 000 ms */
  bindRateLimit?: RateLimit
  /** Longest a pull is held open (IICP-DIR §7.1: ≤ 25 s). @default 25 000 */
  pollTimeoutMs?: number
  /** A long-poll session is alive while it pulled within this window (IICP-DIR §7.2). @default 90 000 */
  sessionLivenessMs?: number
  /** Longest a consumer waits for the worker's answer before a 504. @default 120 000 */
  taskTimeoutMs?: number
  /** WebSocket ping interval. @default 15 000 */
  pingIntervalMs?: number
  /** A WebSocket worker that misses a pong by this long is dropped. @default 10 000 */
  pongTimeoutMs?: number
  /** A WebSocket must send its bind message within this time. @default 10 000 */
  bindTimeoutMs?: number
  /** Largest consumer task body. @default 1 MiB */
  maxBodyBytes?: number
  /** Worker transports offered. @default ['ws', 'http'] */
  transports?: ReadonlyArray<'ws' | 'http'>
  /** Path of the WebSocket endpoint. @default '/v1/relay/ws' */
  wsPath?: string
  /** pino-style logger; payloads, tokens and raw source addresses are never logged. @default silent */
  logger?: Logger
  /** Clock (ms since epoch), injected by tests. @default Date.now */
  now?: () => number
}

/** Parsed, frozen server options. */
export interface ResolvedRelayServerOptions {
  readonly nodeId: string | undefined
  readonly allowUnsignedBinds: boolean
  readonly directoryUrl: string | undefined
  readonly directoryKeyHex: string | undefined
  readonly ticketIssuer: string | undefined
  readonly maxSessions: number
  readonly bindRateLimit: RateLimit
  readonly pollTimeoutMs: number
  readonly sessionLivenessMs: number
  readonly taskTimeoutMs: number
  readonly pingIntervalMs: number
  readonly pongTimeoutMs: number
  readonly bindTimeoutMs: number
  readonly maxBodyBytes: number
  readonly transports: ReadonlySet<'ws' | 'http'>
  readonly wsPath: string
  readonly logger: Logger
  readonly now: () => number
}

function int(name: string, value: number | undefined, def: number, min: number, max: number): number {
  if (value === undefined) return def
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new IicpError('invalid_config', `${name} must be an integer from ${min} to ${max}`)
  }
  return value
}

function str(name: string, value: string | undefined, re?: RegExp): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0 || (re && !re.test(value))) {
    throw new IicpError('invalid_config', `${name} is not valid`)
  }
  return value
}

function httpUrl(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new IicpError('invalid_config', `${name} must be an http(s) URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new IicpError('invalid_config', `${name} must be an http(s) URL`)
  return value.replace(/\/+$/, '')
}

/** Parse server options (throws `invalid_config`). */
export function resolveServerOptions(o: RelayServerOptions): ResolvedRelayServerOptions {
  const transports = new Set<'ws' | 'http'>(o.transports ?? ['ws', 'http'])
  if (transports.size === 0 || [...transports].some((t) => t !== 'ws' && t !== 'http')) {
    throw new IicpError('invalid_config', "transports must list 'ws' and/or 'http'")
  }
  const wsPath = str('wsPath', o.wsPath, /^\/[A-Za-z0-9/_.-]*$/) ?? '/v1/relay/ws'
  return Object.freeze({
    nodeId: str('nodeId', o.nodeId),
    allowUnsignedBinds: o.allowUnsignedBinds === true,
    directoryUrl: httpUrl('directoryUrl', o.directoryUrl),
    directoryKeyHex: str('directoryKeyHex', o.directoryKeyHex, /^[0-9a-fA-F]{64}$/),
    ticketIssuer: str('ticketIssuer', o.ticketIssuer),
    maxSessions: int('maxSessions', o.maxSessions, 256, 1, 100_000),
    bindRateLimit: Object.freeze({
      max: int('bindRateLimit.max', o.bindRateLimit?.max, 30, 1, 1_000_000),
      windowMs: int('bindRateLimit.windowMs', o.bindRateLimit?.windowMs, 60_000, 1, 86_400_000),
    }),
    pollTimeoutMs: int('pollTimeoutMs', o.pollTimeoutMs, 25_000, 1, 25_000),
    sessionLivenessMs: int('sessionLivenessMs', o.sessionLivenessMs, 90_000, 1, 3_600_000),
    taskTimeoutMs: int('taskTimeoutMs', o.taskTimeoutMs, 120_000, 1, 600_000),
    pingIntervalMs: int('pingIntervalMs', o.pingIntervalMs, 15_000, 1, 600_000),
    pongTimeoutMs: int('pongTimeoutMs', o.pongTimeoutMs, 10_000, 1, 600_000),
    bindTimeoutMs: int('bindTimeoutMs', o.bindTimeoutMs, 10_000, 1, 600_000),
    maxBodyBytes: int('maxBodyBytes', o.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 1, 1024 * 1024 * 1024),
    transports,
    wsPath,
    logger: (o.logger ?? silentLogger).child({ component: 'relay-server' }),
    now: o.now ?? Date.now,
  })
}

/** A worker's answer to one relayed task: what its node would have sent over HTTP. */
export interface RelayTaskResponse {
  status: number
  /** Raw bytes or text are sent as is; anything else is JSON-encoded. */
  body: Uint8Array | string | object
  headers?: Record<string, string>
}

/**
 * The worker's task handler: the consumer's body bytes and headers in, the node's HTTP answer out.
 * `signal` aborts when the consumer leaves, the relay gives up, or the worker closes.
 */
export type RelayTaskHandler = (body: Buffer, headers: Record<string, string>, signal: AbortSignal) => Promise<RelayTaskResponse>

/** Options of {@link createRelayWorker} (IICP-DIR §7; official-sdks.md §5). */
export interface RelayWorkerOptions {
  /** The relay node's base URL, e.g. `https://relay.example:9484`. */
  relayUrl: string
  /** This worker's node id. */
  workerId: string
  /** The worker's intent, reported to the relay. */
  intent?: string
  /** Models the worker serves, reported to the relay. */
  models?: readonly string[]
  /** Fetches a fresh single-use bind ticket for each bind (IICP-DIR §7.4); undefined binds unsigned. */
  ticketProvider?: () => Promise<string | undefined>
  /** 'ws', 'http' (long-poll) or 'auto' (WebSocket first, long-poll when the relay has no WebSocket). @default 'auto' */
  transport?: 'ws' | 'http' | 'auto'
  /** Runs one relayed task. */
  handleTask: RelayTaskHandler
  /** WebSocket ping interval. @default 15 000 */
  pingIntervalMs?: number
  /** Drop the WebSocket when a pong is this late. @default 10 000 */
  pongTimeoutMs?: number
  /** Connect and bind timeout. @default 10 000 */
  connectTimeoutMs?: number
  /** First reconnect delay; doubles with full jitter. @default 1 000 */
  reconnectBaseMs?: number
  /** Largest reconnect delay. @default 30 000 */
  reconnectMaxMs?: number
  /** Consecutive failed reconnects before the worker gives up and emits `error` (so the node can fail over). @default 5 */
  maxReconnectAttempts?: number
  /** pino-style logger. @default silent */
  logger?: Logger
  /** Randomness for jitter, injected by tests. @default Math.random */
  random?: () => number
}

/** Parsed, frozen worker options. */
export interface ResolvedRelayWorkerOptions {
  readonly relayUrl: string
  readonly workerId: string
  readonly intent: string | undefined
  readonly models: readonly string[]
  readonly ticketProvider: () => Promise<string | undefined>
  readonly transport: 'ws' | 'http' | 'auto'
  readonly handleTask: RelayTaskHandler
  readonly pingIntervalMs: number
  readonly pongTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly reconnectBaseMs: number
  readonly reconnectMaxMs: number
  readonly maxReconnectAttempts: number
  readonly logger: Logger
  readonly random: () => number
}

/** Parse worker options (throws `invalid_config`). */
export function resolveWorkerOptions(o: RelayWorkerOptions): ResolvedRelayWorkerOptions {
  const relayUrl = httpUrl('relayUrl', o.relayUrl)
  if (relayUrl === undefined) throw new IicpError('invalid_config', 'relayUrl is required')
  if (typeof o.workerId !== 'string' || !/^[A-Za-z0-9._:@-]{1,128}$/.test(o.workerId)) {
    throw new IicpError('invalid_config', 'workerId must be 1-128 characters of A-Z a-z 0-9 . _ : @ -')
  }
  if (typeof o.handleTask !== 'function') throw new IicpError('invalid_config', 'handleTask must be a function')
  const transport = o.transport ?? 'auto'
  if (transport !== 'ws' && transport !== 'http' && transport !== 'auto') {
    throw new IicpError('invalid_config', "transport must be 'ws', 'http' or 'auto'")
  }
  return Object.freeze({
    relayUrl,
    workerId: o.workerId,
    intent: o.intent,
    models: Object.freeze([...(o.models ?? [])]),
    ticketProvider: o.ticketProvider ?? (() => Promise.resolve(undefined)),
    transport,
    handleTask: o.handleTask,
    pingIntervalMs: int('pingIntervalMs', o.pingIntervalMs, 15_000, 1, 600_000),
    pongTimeoutMs: int('pongTimeoutMs', o.pongTimeoutMs, 10_000, 1, 600_000),
    connectTimeoutMs: int('connectTimeoutMs', o.connectTimeoutMs, 10_000, 1, 600_000),
    reconnectBaseMs: int('reconnectBaseMs', o.reconnectBaseMs, 1_000, 0, 600_000),
    reconnectMaxMs: int('reconnectMaxMs', o.reconnectMaxMs, 30_000, 0, 3_600_000),
    maxReconnectAttempts: int('maxReconnectAttempts', o.maxReconnectAttempts, 5, 0, Number.MAX_SAFE_INTEGER),
    logger: (o.logger ?? silentLogger).child({ component: 'relay-worker', worker_id: o.workerId }),
    random: o.random ?? Math.random,
  })
}
