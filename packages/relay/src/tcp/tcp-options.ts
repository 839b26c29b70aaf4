/**
 * Options of the native TCP relay transport (official-sdks.md §5.1–§5.2): the relay's accept port and the
 * worker that dials it. Parsed once by the factories; a bad value fails with `invalid_config`.
 */
import { z } from 'zod'
import { IicpError, NATIVE_MAX_PAYLOAD_BYTES, silentLogger } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import type { RelayTaskHandler } from '../options.js'
import type { RelayServer } from '../server/relay-server.js'

/**
 * A streaming task handler: the consumer's body bytes and headers in, chunks out (official-sdks.md §6.4). Values
 * must be CBOR-encodable (plain objects, arrays, strings, numbers, byte arrays).
 */
export type RelayStreamHandler = (
  body: Buffer, headers: Record<string, string>, signal: AbortSignal,
) => AsyncIterable<unknown> | Promise<AsyncIterable<unknown>>

/** The relay accept port every SDK dials by default (official-sdks.md §5.1). */
export const DEFAULT_RELAY_ACCEPT_PORT = 9485
/** The HTTP port a worker assumes when RELAY_ACK has no key 4 (official-sdks.md §5.2 step 3). */
export const DEFAULT_RELAY_HTTP_PORT = 9484

const int = (name: string, def: number, min: number, max: number) => {
  const msg = `${name} must be an integer from ${min} to ${max}`
  return z.int({ error: msg }).min(min, msg).max(max, msg).default(def)
}
const fn = <T>(name: string) => z.custom<T>((v) => typeof v === 'function', `${name} must be a function`)
const LoggerSchema = z.custom<Logger>((v) => typeof v === 'object' && v !== null &&
  ['debug', 'info', 'warn', 'error', 'child'].every((k) => typeof (v as Record<string, unknown>)[k] === 'function'),
'logger must have debug, info, warn, error and child')

/** Options of {@link startTcpRelayAcceptor} (official-sdks.md §5.1–§5.2). */
export const TcpRelayAcceptorOptionsSchema = z.object({
  /** The relay whose session table TCP workers join (the same caps, limits, tickets and no-displacement rule). */
  relay: z.custom<RelayServer>((v) => typeof v === 'object' && v !== null && typeof (v as RelayServer).bindSession === 'function',
    'relay must be a RelayServer from createRelayServer'),
  /** `relay_accept_port`; 0 picks a free port. @default 9485 */
  port: int('port', DEFAULT_RELAY_ACCEPT_PORT, 0, 65535),
  /** Interface to listen on. @default '0.0.0.0' */
  host: z.string().min(1, 'host must not be empty').default('0.0.0.0'),
  /** The relay's HTTP port, sent in RELAY_ACK key 4 so workers register the right endpoint; omitted when unset. */
  relayHttpPort: z.int().min(1).max(65535, 'relayHttpPort must be an integer from 1 to 65535').optional(),
  /** PING a worker after this long without a frame from it. @default 15 000 */
  pingIntervalMs: int('pingIntervalMs', 15_000, 1, 600_000),
  /**
   * Drop a worker that sends nothing this long after that PING. With the defaults a session is dropped after
   * 45 s of silence, which a reference worker (no PONGs, its own PING every 30 s) never reaches. @default 30 000
   */
  pongTimeoutMs: int('pongTimeoutMs', 30_000, 1, 600_000),
  /** A connection must send RELAY_BIND within this. @default 10 000 */
  bindTimeoutMs: int('bindTimeoutMs', 10_000, 1, 600_000),
  /** Largest frame payload from a bound worker. @default 16 MiB */
  maxFrameBytes: int('maxFrameBytes', NATIVE_MAX_PAYLOAD_BYTES, 1024, NATIVE_MAX_PAYLOAD_BYTES),
  /** Most stream events buffered per call for a slow consumer before the call fails (official-sdks.md §6.4). @default 32 */
  maxBufferedStreamEvents: int('maxBufferedStreamEvents', 32, 1, 100_000),
  /** pino-style logger; payloads, tickets and raw source addresses are never logged. @default silent */
  logger: LoggerSchema.optional(),
})
/** Options of {@link startTcpRelayAcceptor}. */
export type TcpRelayAcceptorOptions = z.input<typeof TcpRelayAcceptorOptionsSchema>
/** Parsed acceptor options. */
export type ResolvedTcpRelayAcceptorOptions = Readonly<Omit<z.output<typeof TcpRelayAcceptorOptionsSchema>, 'logger'> & { logger: Logger }>

/** Options of {@link createTcpRelayWorker} (official-sdks.md §5.1–§5.3). */
export const TcpRelayWorkerOptionsSchema = z.object({
  /** The relay's accept address, `host:port` (`[v6]:port`); the port defaults to 9485 (`IICP_RELAY_WORKER_ENDPOINT`). */
  relay: z.string().min(1, 'relay must be host:port'),
  /** This worker's node id. */
  workerId: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'workerId must be 1-128 characters of A-Z a-z 0-9 . _ : @ -'),
  /** The worker's intent, sent in RELAY_BIND key 2. @default '' (as the reference worker sends without one) */
  intent: z.string().max(256, 'intent must be at most 256 characters').default(''),
  /** Models the worker serves, RELAY_BIND key 3. @default [] */
  models: z.array(z.string()).readonly().default([]),
  /** Fetches a fresh single-use bind ticket per bind (IICP-DIR §7.4); undefined binds unsigned. */
  ticketProvider: fn<() => Promise<string | undefined>>('ticketProvider').optional(),
  /** Runs one relayed task: the consumer's body bytes and headers in, the node's HTTP answer out. */
  handleTask: fn<RelayTaskHandler>('handleTask'),
  /**
   * Runs one streamed task (a CALL with key 24, official-sdks.md §6.4): each yielded value is sent as a `partial`
   * lifecycle event, the generator's return value as the final `success` result. Without it streamed CALLs are
   * answered buffered, which the relay turns into a single final event.
   */
  handleStream: fn<RelayStreamHandler>('handleStream').optional(),
  /**
   * Base URL consumers use for this relay, when it is not `http://{relay host}:{RELAY_ACK key 4}` (a relay behind
   * TLS or a different public port). The path-scoped endpoint is this plus `/v1/relay-for/{workerId}`.
   */
  relayHttpUrl: z.string().regex(/^https?:\/\/[^/]+/, 'relayHttpUrl must be an http(s) URL').optional(),
  /** PING after this long without a frame from the relay. @default 15 000 */
  pingIntervalMs: int('pingIntervalMs', 15_000, 1, 600_000),
  /** Drop the session when the relay sends nothing this long after that PING (half-open detection). @default 10 000 */
  pongTimeoutMs: int('pongTimeoutMs', 10_000, 1, 600_000),
  /** TCP connect plus INIT/ACK and RELAY_BIND/RELAY_ACK. @default 10 000 */
  connectTimeoutMs: int('connectTimeoutMs', 10_000, 1, 600_000),
  /** First reconnect delay; doubles each failed attempt (official-sdks.md §5.2 step 6). @default 2 000 */
  reconnectBaseMs: int('reconnectBaseMs', 2_000, 0, 600_000),
  /** Largest reconnect delay. @default 60 000 */
  reconnectMaxMs: int('reconnectMaxMs', 60_000, 0, 3_600_000),
  /** Consecutive failed reconnects before `error` is emitted and the worker closes, so the node fails over. @default 5 */
  maxReconnectAttempts: int('maxReconnectAttempts', 5, 0, Number.MAX_SAFE_INTEGER),
  /** Largest frame payload accepted from the relay. @default 16 MiB */
  maxFrameBytes: int('maxFrameBytes', NATIVE_MAX_PAYLOAD_BYTES, 1024, NATIVE_MAX_PAYLOAD_BYTES),
  /** pino-style logger; payloads and tickets are never logged. @default silent */
  logger: LoggerSchema.optional(),
})
/** Options of {@link createTcpRelayWorker}. */
export type TcpRelayWorkerOptions = z.input<typeof TcpRelayWorkerOptionsSchema>
/** Parsed worker options. */
export type ResolvedTcpRelayWorkerOptions = Readonly<Omit<z.output<typeof TcpRelayWorkerOptionsSchema>, 'logger' | 'ticketProvider'> & {
  ticketProvider: () => Promise<string | undefined>
  logger: Logger
  relayHost: string
  relayPort: number
}>

function configError(err: z.ZodError): IicpError {
  const first = err.issues[0]
  const where = first && first.path.length > 0 ? first.path.join('.') : 'options'
  const message = first?.message.includes(' must ') ? first.message : `${where}: ${first?.message ?? 'invalid'}`
  return new IicpError('invalid_config', message)
}

/** Parse acceptor options (throws `invalid_config`). */
export function resolveAcceptorOptions(o: TcpRelayAcceptorOptions): ResolvedTcpRelayAcceptorOptions {
  const r = TcpRelayAcceptorOptionsSchema.safeParse(o)
  if (!r.success) throw configError(r.error)
  return Object.freeze({ ...r.data, logger: (r.data.logger ?? silentLogger).child({ component: 'relay-tcp-acceptor' }) })
}

/** Parse worker options (throws `invalid_config`). */
export function resolveTcpWorkerOptions(o: TcpRelayWorkerOptions): ResolvedTcpRelayWorkerOptions {
  const r = TcpRelayWorkerOptionsSchema.safeParse(o)
  if (!r.success) throw configError(r.error)
  const address = parseRelayAddress(r.data.relay)
  return Object.freeze({
    ...r.data,
    relayHost: address.host,
    relayPort: address.port,
    ticketProvider: r.data.ticketProvider ?? (() => Promise.resolve(undefined)),
    logger: (r.data.logger ?? silentLogger).child({ component: 'relay-tcp-worker', worker_id: r.data.workerId }),
  })
}

/**
 * Split `host:port`, `[v6]:port`, or a bare host (port 9485) as `IICP_RELAY_WORKER_ENDPOINT` gives it
 * (official-sdks.md §5.1). Throws `invalid_config`.
 */
export function parseRelayAddress(value: string): { host: string; port: number } {
  const v = value.trim().replace(/^iicp:\/\//, '')
  let host: string
  let portText: string | undefined
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(v)
  if (v6) {
    host = v6[1] as string
    portText = v6[2]
  } else {
    const m = /^([A-Za-z0-9.-]+)(?::(\d+))?$/.exec(v)
    if (!m) throw new IicpError('invalid_config', 'relay must be host:port, e.g. relay.example.com:9485')
    host = m[1] as string
    portText = m[2]
  }
  const port = portText === undefined ? DEFAULT_RELAY_ACCEPT_PORT : Number(portText)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new IicpError('invalid_config', 'relay port must be 1-65535')
  return { host, port }
}

/** `host` as it goes in a URL authority (IPv6 in brackets). */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}
