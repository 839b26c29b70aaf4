/**
 * Options of the relay server and worker, as zod schemas holding the defaults (IICP-DIR §7; official-sdks.md §5).
 * The factories parse once and freeze; a bad value fails there with `invalid_config` naming the option and range.
 */
import { z } from 'zod'
import { DEFAULT_MAX_BODY_BYTES, IicpError, silentLogger } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import type { RateLimit } from './server/bind-gate.js'

const int = (name: string, def: number, min: number, max: number) => {
  const msg = `${name} must be an integer from ${min} to ${max}`
  return z.int({ error: msg }).min(min, msg).max(max, msg).default(def)
}

const httpUrl = (name: string) => z.string({ error: `${name} must be an http(s) URL` }).refine((v) => {
  try {
    const u = new URL(v)
    return u.protocol === 'http:' || u.protocol === 'https:'
  } catch {
    return false
  }
}, `${name} must be an http(s) URL`).transform((v) => v.replace(/\/+$/, ''))

const fn = <T>(name: string) => z.custom<T>((v) => typeof v === 'function', `${name} must be a function`)

const LoggerSchema = z.custom<Logger>((v) => typeof v === 'object' && v !== null &&
  ['debug', 'info', 'warn', 'error', 'child'].every((k) => typeof (v as Record<string, unknown>)[k] === 'function'),
'logger must have debug, info, warn, error and child')

/** Options of {@link createRelayServer} (IICP-DIR §7.1–§7.4). */
export const RelayServerOptionsSchema = z.object({
  /** This relay's node id: the audience its bind tickets must name (or `*`). */
  nodeId: z.string().min(1, 'nodeId must not be empty').optional(),
  /** Accept binds without a ticket (IICP-DIR §7.4 soft mode). @default false */
  allowUnsignedBinds: z.boolean().default(false),
  /** Directory base URL; its `GET /v1/directory-key` verifies bind tickets. */
  directoryUrl: httpUrl('directoryUrl').optional(),
  /** The directory's Ed25519 key (64 hex) instead of fetching it. */
  directoryKeyHex: z.string().regex(/^[0-9a-fA-F]{64}$/, 'directoryKeyHex must be 64 hex characters').optional(),
  /** Expected ticket `iss`. @default the directory origin when `directoryUrl` is set, else unchecked */
  ticketIssuer: z.string().min(1, 'ticketIssuer must not be empty').optional(),
  /** Most concurrent sessions (IICP-DIR §7.3). @default 256 */
  maxSessions: int('maxSessions', 256, 1, 100_000),
  /** New binds per source per window; a rebind of a known worker is exempt (IICP-DIR §7.3). @default 30 per 60 000 ms */
  bindRateLimit: z.object({
    max: int('bindRateLimit.max', 30, 1, 1_000_000),
    windowMs: int('bindRateLimit.windowMs', 60_000, 1, 86_400_000),
  }).prefault({}),
  /** Longest a pull is held open (IICP-DIR §7.1: ≤ 25 s). @default 25 000 */
  pollTimeoutMs: int('pollTimeoutMs', 25_000, 1, 25_000),
  /** A long-poll session is alive while it pulled within this window (IICP-DIR §7.2). @default 90 000 */
  sessionLivenessMs: int('sessionLivenessMs', 90_000, 1, 3_600_000),
  /** Longest a consumer waits for the worker's answer before a 504. @default 120 000 */
  taskTimeoutMs: int('taskTimeoutMs', 120_000, 1, 600_000),
  /** WebSocket ping interval. @default 15 000 */
  pingIntervalMs: int('pingIntervalMs', 15_000, 1, 600_000),
  /** A WebSocket worker that misses a pong by this long is dropped. @default 10 000 */
  pongTimeoutMs: int('pongTimeoutMs', 10_000, 1, 600_000),
  /** A WebSocket must send its bind message within this time. @default 10 000 */
  bindTimeoutMs: int('bindTimeoutMs', 10_000, 1, 600_000),
  /** Largest consumer task body. @default 1 MiB */
  maxBodyBytes: int('maxBodyBytes', DEFAULT_MAX_BODY_BYTES, 1, 1024 * 1024 * 1024),
  /** Worker transports offered. @default ['ws', 'http'] */
  transports: z.array(z.enum(['ws', 'http'], "transports must list 'ws' and/or 'http'"))
    .min(1, "transports must list 'ws' and/or 'http'").default(['ws', 'http'])
    .transform((t): ReadonlySet<'ws' | 'http'> => new Set(t)),
  /** Path of the WebSocket endpoint. @default '/v1/relay/ws' */
  wsPath: z.string().regex(/^\/[A-Za-z0-9/_.-]*$/, 'wsPath must be an absolute URL path').default('/v1/relay/ws'),
  /** pino-style logger; payloads, tokens and raw source addresses are never logged. @default silent */
  logger: LoggerSchema.optional(),
  /** Clock (ms since epoch), injected by tests. @default Date.now */
  now: fn<() => number>('now').optional(),
})
/** Options of {@link createRelayServer}. */
export type RelayServerOptions = z.input<typeof RelayServerOptionsSchema>

/** Parsed, frozen server options. */
export type ResolvedRelayServerOptions = Readonly<Omit<z.output<typeof RelayServerOptionsSchema>, 'logger' | 'now' | 'bindRateLimit'> & {
  bindRateLimit: RateLimit
  logger: Logger
  now: () => number
}>

function configError(err: z.ZodError): IicpError {
  const first = err.issues[0]
  const where = first && first.path.length > 0 ? first.path.join('.') : 'options'
  const message = first?.message.includes(' must ') ? first.message : `${where}: ${first?.message ?? 'invalid'}`
  return new IicpError('invalid_config', message)
}

/** Parse server options (throws `invalid_config`). */
export function resolveServerOptions(o: RelayServerOptions): ResolvedRelayServerOptions {
  const r = RelayServerOptionsSchema.safeParse(o)
  if (!r.success) throw configError(r.error)
  return Object.freeze({
    ...r.data,
    bindRateLimit: Object.freeze(r.data.bindRateLimit),
    logger: (r.data.logger ?? silentLogger).child({ component: 'relay-server' }),
    now: r.data.now ?? Date.now,
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
 * `signal` aborts when the worker closes and, over WebSocket, when the consumer leaves or the relay gives up. It is
 * the call's only while the handler runs: native TCP and long-poll calls share their session's signal, and a WebSocket
 * worker hands a settled call's signal to a later call (a fresh AbortSignal per task costs more than a fast handler),
 * so stop on it, but do not keep using it after returning.
 */
export type RelayTaskHandler = (body: Buffer, headers: Record<string, string>, signal: AbortSignal) => Promise<RelayTaskResponse>

/** Options of {@link createRelayWorker} (IICP-DIR §7; official-sdks.md §5). */
export const RelayWorkerOptionsSchema = z.object({
  /** The relay node's base URL, e.g. `https://relay.example:9484`. */
  relayUrl: httpUrl('relayUrl'),
  /** This worker's node id. */
  workerId: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'workerId must be 1-128 characters of A-Z a-z 0-9 . _ : @ -'),
  /** The worker's intent, reported to the relay. */
  intent: z.string().max(256, 'intent must be at most 256 characters').optional(),
  /** Models the worker serves, reported to the relay. @default [] */
  models: z.array(z.string()).readonly().default([]),
  /** Fetches a fresh single-use bind ticket for each bind (IICP-DIR §7.4); undefined binds unsigned. */
  ticketProvider: fn<() => Promise<string | undefined>>('ticketProvider').optional(),
  /** 'ws', 'http' (long-poll) or 'auto' (WebSocket first, long-poll when the relay has none). @default 'auto' */
  transport: z.enum(['ws', 'http', 'auto'], "transport must be 'ws', 'http' or 'auto'").default('auto'),
  /** Runs one relayed task. */
  handleTask: fn<RelayTaskHandler>('handleTask'),
  /** WebSocket ping interval. @default 15 000 */
  pingIntervalMs: int('pingIntervalMs', 15_000, 1, 600_000),
  /** Drop the WebSocket when a pong is this late. @default 10 000 */
  pongTimeoutMs: int('pongTimeoutMs', 10_000, 1, 600_000),
  /** Connect and bind timeout. @default 10 000 */
  connectTimeoutMs: int('connectTimeoutMs', 10_000, 1, 600_000),
  /** First reconnect delay; doubles with full jitter. @default 1 000 */
  reconnectBaseMs: int('reconnectBaseMs', 1_000, 0, 600_000),
  /** Largest reconnect delay. @default 30 000 */
  reconnectMaxMs: int('reconnectMaxMs', 30_000, 0, 3_600_000),
  /** Consecutive failed reconnects before the worker gives up and emits `error` (so the node can fail over). @default 5 */
  maxReconnectAttempts: int('maxReconnectAttempts', 5, 0, Number.MAX_SAFE_INTEGER),
  /** pino-style logger. @default silent */
  logger: LoggerSchema.optional(),
  /** Randomness for jitter, injected by tests. @default Math.random */
  random: fn<() => number>('random').optional(),
  /** Clock (ms since epoch), injected by tests. @default Date.now */
  now: fn<() => number>('now').optional(),
})
/** Options of {@link createRelayWorker}. */
export type RelayWorkerOptions = z.input<typeof RelayWorkerOptionsSchema>

/** Parsed, frozen worker options. */
export type ResolvedRelayWorkerOptions = Readonly<Omit<z.output<typeof RelayWorkerOptionsSchema>, 'logger' | 'random' | 'now' | 'ticketProvider'> & {
  ticketProvider: () => Promise<string | undefined>
  logger: Logger
  random: () => number
  now: () => number
}>

/** Parse worker options (throws `invalid_config`). */
export function resolveWorkerOptions(o: RelayWorkerOptions): ResolvedRelayWorkerOptions {
  const r = RelayWorkerOptionsSchema.safeParse(o)
  if (!r.success) throw configError(r.error)
  return Object.freeze({
    ...r.data,
    ticketProvider: r.data.ticketProvider ?? (() => Promise.resolve(undefined)),
    logger: (r.data.logger ?? silentLogger).child({ component: 'relay-worker', worker_id: r.data.workerId }),
    random: r.data.random ?? Math.random,
    now: r.data.now ?? Date.now,
  })
}
