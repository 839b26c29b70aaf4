/**
 * IicpNode options: the one place defaults live, parsed once at construction into a frozen object.
 * A bad value fails right there with `invalid_config`, naming the option and the allowed range.
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import {
  DEFAULT_DIRECTORY_URL, DEFAULT_MAX_BODY_BYTES, DEFAULT_NODE_PORT, HEARTBEAT_INTERVAL_MS, IicpError,
  NODE_PORT_BAND_SIZE, RELAY_ACCEPT_PORT, silentLogger,
} from '@iicp/protocol'
import type { Logger, NatType, TransportMethod } from '@iicp/protocol'
import type { Backend } from './backends/backend.js'
import type { TaskHandler } from './task-handler.js'
import { realTimers } from './timers.js'
import type { Timers } from './timers.js'
import { checkRelayOption } from './relay/relay-option.js'
import type { RelayHostOptions } from './relay/relay-host.js'
import type { RelayUplinkTuning } from './relay/relay-uplink.js'
import type { NatOptions } from './reachability/auto-reachability.js'
import type { TunnelRungOptions } from './tunnel/tunnel-rung.js'
import { resolveNativeOptions } from './native/native-server.js'
import type { NativeOptions, ResolvedNativeOptions } from './native/native-server.js'

/**
 * The relay worker side (IICP-DIR §7): `'auto'` elects a relay from discover; `{ endpoint }` pins one
 * (IICP_RELAY_WORKER_ENDPOINT); the rest tunes @iicp/relay's worker.
 */
export type RelayOption = 'auto' | (RelayUplinkTuning & { endpoint?: string })

/** Chat intent, the default capability (wire.md §3.3). */
export const CHAT_INTENT = 'urn:iicp:intent:llm:chat:v1'

/** One advertised capability (wire.md §1.2 `capabilities[]`). */
export interface CapabilityOption {
  /** Intent URN. */
  intent: string
  /** Models served for this intent. */
  models: string[]
  /** @default 8192 */
  maxTokens?: number
  /** @default ['text'] */
  inputModalities?: Array<'text' | 'image' | 'audio' | 'video'>
}

/**
 * How the node is reached from outside (wire.md §1.2 transport fields). Produced by NAT detection or a
 * relay worker; the node only advertises it. When both `natType` (not `unknown`) and `transportMethod`
 * are declared the reference directory skips its reachability probe.
 */
export interface Reachability {
  /** URL advertised as `endpoint`. */
  publicEndpoint?: string
  transportEndpoint?: string
  transportMethod?: TransportMethod
  natType?: NatType
  exposureMode?: string
  /** Only with `transportMethod: 'turn_relay'`. */
  relayEndpoint?: string
  /** A relay-capable node's native TCP accept port (official-sdks.md §5.1 `relay_accept_port`). */
  relayAcceptPort?: number
}

/** Runs after the node listens and before it registers; returns what to advertise (or nothing). */
export type ReachabilityResolver = (local: { host: string; port: number; url: string; signal: AbortSignal }) => Promise<Reachability | undefined>

/** What `new IicpNode(options)` accepts. Units are in the names; every field has a default. */
export interface NodeOptions {
  /** Directory base (`…/api`); `null` serves without registering. @default 'https://iicp.network/api' */
  directoryUrl?: string | null
  /** Runs tasks; give this or `backend`. Returns the inner result (SDK-NODE-02). */
  handler?: TaskHandler
  /** One backend or several (tasks route by `payload.model`). */
  backend?: Backend | Backend[]
  /** Advertised capabilities. @default derived from the backends, else chat with model `default` */
  capabilities?: CapabilityOption[]
  /** Bind address. @default '0.0.0.0' */
  host?: string
  /** Explicit port, used as given (0 = any free port). @default unset: 9484, then 9486, 9487, … (9485 is the relay accept port) */
  port?: number
  /** First port of the auto-increment search. @default 9484 */
  basePort?: number
  /**
   * How many ports the search covers: the default port plus the instance band (frm §11.1), passing over 9485 and
   * this node's relay accept port. @default 7 (9484, 9486–9490)
   */
  portSearchSize?: number
  /** Advertised endpoint; when set the port is not auto-incremented. @default http://<host>:<bound port> */
  publicEndpoint?: string
  /**
   * Static reachability, a resolver run after listen and before register, or `'auto'`: @iicp/nat's ladder
   * (public address, UPnP/NAT-PMP, IPv6 pinhole, relay, local only), skipped for a loopback/private directory.
   */
  reachability?: Reachability | ReachabilityResolver | 'auto'
  /** Options for `reachability: 'auto'` (gateway seams, `verifyReachable`, `env` for the container check). */
  nat?: NatOptions
  /**
   * The tunnel rung of `reachability: 'auto'` (sem §6.4 step 3; dir §3.1 guardrails): when the NAT ladder finds no
   * verified route, try an operator tunnel URL, a running ngrok or Tailscale Funnel, then a Quick Tunnel through
   * `cloudflared` on `path` (paced host-wide under `home`), before a relay or local-only. Only a tunnel the
   * dial-back reached is advertised (`transport_method: external_tunnel`). Needs `reachability: 'auto'`.
   * `tunnelOptionsFromEnv(process.env)` fills it from the official variables. @default unset (no tunnel rung)
   */
  tunnel?: TunnelRungOptions | false
  /** Listen on a port. `false` serves only through a relay (needs `relay`). @default true */
  listen?: boolean
  /** Act as a relay for nodes behind CGNAT: mount the relay routes and register `relay_capable`. @default false */
  relayCapable?: boolean
  /** Tuning of the relay server when `relayCapable` (session cap, bind rate limit, unsigned binds, …). */
  relayServer?: RelayHostOptions
  /**
   * A relay-capable node's native TCP accept port for the official SDKs' workers (official-sdks.md §5.1–§5.2: they
   * dial 9485 unless discover names `relay_accept_port`), registered as `relay_accept_port`. 0 = any free port;
   * `false` = none (WebSocket and long-poll workers only). A number needs `relayCapable`.
   * @default 9485 on a relay-capable node (see `relayAcceptPortFallback`), none otherwise
   */
  relayAcceptPort?: number | false
  /**
   * When the accept port is taken, listen on a free port instead, warn, and register that one (workers that read
   * `relay_accept_port` from discover still find it); otherwise `serve()` fails with `invalid_config` before
   * registering. @default true for the default 9485, false for a port given in `relayAcceptPort`
   */
  relayAcceptPortFallback?: boolean
  /** Native IICP frames on the node's port, and the advertised `transport_endpoint`; `false` turns both off. @default {} (on) */
  native?: NativeOptions | false
  /** Serve through a relay: `'auto'` elects one, `{ endpoint }` pins one. @default none (tier 3 of `'auto'` reachability elects) */
  relay?: RelayOption
  /** @default 'unknown' */
  region?: string
  /** Fixed node id; otherwise the persisted one, else a fresh UUID v4. */
  nodeId?: string
  /** State directory (IICP_HOME). @default '~/.iicp' */
  home?: string
  /** Name of this node's state file under `<home>/nodes/`. @default 'default' */
  name?: string
  /** Persist node id, token and CX key. @default true */
  persistState?: boolean
  /** @default 4 (1–256) */
  maxConcurrent?: number
  /** @default 10000 */
  tokensPerMin?: number
  /** Request body limit. @default 1048576 */
  maxBodyBytes?: number
  /** Task budget when `constraints.timeout_ms` is absent. @default 30000 */
  defaultTimeoutMs?: number
  /** `Retry-After` hint on `capacity_exceeded`. @default 1000 */
  retryAfterMs?: number
  /** How long `close()` waits for in-flight tasks. @default 10000 */
  drainTimeoutMs?: number
  /** `open` accepts any caller (the live mesh); `token` needs the node token or a consumer token. @default 'open' */
  auth?: 'open' | 'token'
  /** Advertise an X25519 key and accept IICP-CX requests. @default true */
  cx?: boolean
  /** Bring-your-own X25519 private key (base64url); otherwise the persisted one, else a new one. Never logged. */
  cxPrivateKey?: string
  /** Heartbeat interval until the directory names one. @default 30000 */
  heartbeatIntervalMs?: number
  /** First retry delay when the directory is unreachable; doubles up to the heartbeat interval. @default 1000 */
  backoffBaseMs?: number
  /** Per-request timeout for directory calls. @default 5000 */
  directoryTimeoutMs?: number
  /** Deregister on close. @default true */
  deregisterOnClose?: boolean
  /** How many recent task ids are remembered for the 409 duplicate check; 0 turns the check off (benchmarks with a fixed body). @default 10000 */
  recentTaskIds?: number
  /** Mark results `generated_by_ai`. @default true */
  generatedByAi?: boolean
  /** Tasks per `taskRateWindowMs` from one browser `Origin` (429 `IICP-E023` beyond); 0 = off. @default 120 */
  taskRateLimit?: number
  /** Window of the per-Origin task rate limit. @default 60000 */
  taskRateWindowMs?: number
  /** Refuse a task whose `nonce` was seen within `replayWindowMs` (409 `IICP-E011`). @default true */
  nonceReplayCache?: boolean
  /** Same `task_id` + same content → the cached answer; other content → 409 `conflict`. @default false */
  enableIdempotency?: boolean
  /** How long nonces and idempotent answers are remembered. @default 300000 */
  replayWindowMs?: number
  /** Probe backends' model lists on each heartbeat and re-register when they change. @default true */
  modelDrift?: boolean
  /** A pino-style logger; the default prints nothing. */
  logger?: Logger
  /** Clock and timers for the heartbeat loop. */
  timers?: Timers
}

/** Options after defaults; frozen. */
export interface ResolvedNodeOptions {
  readonly directoryUrl: string | null
  readonly handler: TaskHandler | undefined
  readonly backends: readonly Backend[]
  readonly capabilities: readonly Required<CapabilityOption>[]
  readonly host: string
  readonly port: number | undefined
  readonly basePort: number
  readonly portSearchSize: number
  readonly publicEndpoint: string | undefined
  readonly reachability: Reachability | ReachabilityResolver | 'auto' | undefined
  readonly nat: NatOptions
  /** The tunnel rung's options (the node's `home` filled in), or undefined for no tunnel rung. */
  readonly tunnel: Readonly<TunnelRungOptions> | undefined
  readonly listen: boolean
  readonly relayCapable: boolean
  /** The native TCP relay accept port to open (0 = any free one), or undefined for none. */
  readonly relayAcceptPort: number | undefined
  /** Fall back to a free accept port when `relayAcceptPort` is taken. */
  readonly relayAcceptPortFallback: boolean
  readonly relayServer: RelayHostOptions
  readonly native: ResolvedNativeOptions
  readonly relay: RelayOption | undefined
  readonly region: string
  readonly nodeId: string | undefined
  readonly stateFile: string | undefined
  readonly maxConcurrent: number
  readonly tokensPerMin: number
  readonly maxBodyBytes: number
  readonly defaultTimeoutMs: number
  readonly retryAfterMs: number
  readonly drainTimeoutMs: number
  readonly auth: 'open' | 'token'
  readonly cx: boolean
  readonly cxPrivateKey: string | undefined
  readonly heartbeatIntervalMs: number
  readonly backoffBaseMs: number
  readonly directoryTimeoutMs: number
  readonly deregisterOnClose: boolean
  readonly recentTaskIds: number
  readonly generatedByAi: boolean
  readonly taskRateLimit: number
  readonly taskRateWindowMs: number
  readonly nonceReplayCache: boolean
  readonly enableIdempotency: boolean
  readonly replayWindowMs: number
  readonly modelDrift: boolean
  readonly logger: Logger
  readonly timers: Timers
}

function invalid(option: string, rule: string, got: unknown): IicpError {
  const shown = typeof got === 'string' ? JSON.stringify(got.slice(0, 80)) : typeof got === 'number' || typeof got === 'boolean' ? String(got) : typeof got
  return new IicpError('invalid_config', `option ${option} must be ${rule} (got ${shown})`)
}

function int(o: Record<string, unknown>, key: string, min: number, max: number, dflt: number): number
function int(o: Record<string, unknown>, key: string, min: number, max: number, dflt: undefined): number | undefined
function int(o: Record<string, unknown>, key: string, min: number, max: number, dflt: number | undefined): number | undefined {
  const v = o[key]
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(key, `an integer ${min}–${max}`, v)
  return v
}

function bool(o: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = o[key]
  if (v === undefined) return dflt
  if (typeof v !== 'boolean') throw invalid(key, 'true or false', v)
  return v
}

function str(o: Record<string, unknown>, key: string, re: RegExp, rule: string): string | undefined {
  const v = o[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string' || !re.test(v)) throw invalid(key, rule, v)
  return v
}

function httpUrl(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key]
  if (v === undefined) return undefined
  if (typeof v !== 'string' || !URL.canParse(v) || !/^https?:$/.test(new URL(v).protocol)) throw invalid(key, 'an http(s) URL', v)
  return v.replace(/\/+$/, '')
}

const REGION_RE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/
const NODE_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9._:-]{0,35}$/
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const MODALITIES = new Set(['text', 'image', 'audio', 'video'])

function capabilitiesOf(raw: unknown, backends: readonly Backend[]): Required<CapabilityOption>[] {
  if (raw === undefined) {
    if (backends.length === 0) return [{ intent: CHAT_INTENT, models: ['default'], maxTokens: 8192, inputModalities: ['text'] }]
    const byIntent = new Map<string, Set<string>>()
    for (const b of backends) {
      for (const intent of b.intents) {
        const models = byIntent.get(intent) ?? new Set<string>()
        for (const m of b.models) models.add(m)
        byIntent.set(intent, models)
      }
    }
    return [...byIntent].map(([intent, models]) => ({ intent, models: [...models], maxTokens: 8192, inputModalities: ['text'] }))
  }
  if (!Array.isArray(raw) || raw.length === 0) throw invalid('capabilities', 'a non-empty array', raw)
  return raw.map((c: unknown, i) => {
    if (typeof c !== 'object' || c === null) throw invalid(`capabilities[${i}]`, 'an object', c)
    const cap = c as Record<string, unknown>
    if (typeof cap.intent !== 'string' || !cap.intent.startsWith('urn:iicp:intent:')) throw invalid(`capabilities[${i}].intent`, 'an intent URN', cap.intent)
    const models = cap.models
    if (!Array.isArray(models) || models.length === 0 || !models.every((m) => typeof m === 'string' && m.length > 0)) {
      throw invalid(`capabilities[${i}].models`, 'a non-empty array of model names', models)
    }
    const maxTokens = int(cap, 'maxTokens', 1, 10_000_000, 8192)
    const mods = cap.inputModalities ?? ['text']
    if (!Array.isArray(mods) || !mods.every((m) => MODALITIES.has(m as string))) throw invalid(`capabilities[${i}].inputModalities`, 'text/image/audio/video', mods)
    return { intent: cap.intent, models: [...(models as string[])], maxTokens, inputModalities: [...(mods as Array<'text'>)] }
  })
}

/** Parse options once: defaults applied, ranges checked, result frozen. Throws IicpError `invalid_config`. */
export function resolveNodeOptions(input: NodeOptions = {}): ResolvedNodeOptions {
  if (typeof input !== 'object' || input === null) throw invalid('options', 'an object', input)
  const o = input as Record<string, unknown>
  let directoryUrl: string | null
  if (o.directoryUrl === null) directoryUrl = null
  else directoryUrl = httpUrl(o, 'directoryUrl') ?? DEFAULT_DIRECTORY_URL

  const handler = o.handler
  if (handler !== undefined && typeof handler !== 'function') throw invalid('handler', 'a function', handler)
  const rawBackends = o.backend === undefined ? [] : Array.isArray(o.backend) ? (o.backend as unknown[]) : [o.backend]
  const backends = rawBackends.map((b, i) => {
    const bb = b as Partial<Backend> | null
    if (typeof bb !== 'object' || bb === null || typeof bb.handle !== 'function' || !Array.isArray(bb.models) || !Array.isArray(bb.intents)) {
      throw invalid(`backend[${i}]`, 'a Backend (echo(), openaiCompatible(…))', b)
    }
    return bb as Backend
  })
  if (handler === undefined && backends.length === 0) throw new IicpError('invalid_config', 'option handler or backend is required')
  if (handler !== undefined && backends.length > 0) throw new IicpError('invalid_config', 'give option handler or backend, not both')

  const host = str(o, 'host', /^[0-9A-Za-z.:[\]_-]{1,255}$/, 'an IP address or host name') ?? '0.0.0.0'
  const reach = o.reachability
  if (reach !== undefined && reach !== 'auto' && typeof reach !== 'function' && (typeof reach !== 'object' || reach === null)) throw invalid('reachability', "an object, a function or 'auto'", reach)
  const listen = bool(o, 'listen', true)
  const relayCapable = bool(o, 'relayCapable', false)
  const relay = checkRelayOption(o.relay)
  const acceptGiven = o.relayAcceptPort === false ? undefined : int(o, 'relayAcceptPort', 0, 65535, undefined)
  if (acceptGiven !== undefined && !relayCapable) throw new IicpError('invalid_config', 'option relayAcceptPort needs relayCapable: true')
  // Official-SDK workers dial 9485 on a relay's host (official-sdks.md §5.6), so a relay opens it unless told not to.
  const relayAcceptPort = o.relayAcceptPort === false || !relayCapable ? undefined : acceptGiven ?? RELAY_ACCEPT_PORT
  const relayAcceptPortFallback = bool(o, 'relayAcceptPortFallback', acceptGiven === undefined)
  if (!listen && relay === undefined && o.directoryUrl !== null) throw new IicpError('invalid_config', 'option listen: false needs option relay (a node without a port is reached only through a relay)')
  if (!listen && (relayCapable || reach === 'auto')) throw new IicpError('invalid_config', `option listen: false cannot be combined with ${relayCapable ? 'relayCapable' : "reachability: 'auto'"} (both need a listening port)`)
  const nat = o.nat ?? {}
  if (typeof nat !== 'object' || nat === null) throw invalid('nat', 'an object', nat)
  const tunnelOpt = o.tunnel
  if (tunnelOpt !== undefined && tunnelOpt !== false && (typeof tunnelOpt !== 'object' || tunnelOpt === null || Array.isArray(tunnelOpt))) {
    throw invalid('tunnel', 'an object of tunnel rung options, or false', tunnelOpt)
  }
  if (tunnelOpt !== undefined && tunnelOpt !== false && reach !== 'auto') {
    throw new IicpError('invalid_config', "option tunnel needs reachability: 'auto' (to always use a tunnel, pass tunnelRung(…).resolve as reachability)")
  }
  const relayServer = o.relayServer ?? {}
  if (typeof relayServer !== 'object' || relayServer === null) throw invalid('relayServer', 'an object', relayServer)
  const persistState = bool(o, 'persistState', true)
  const home = str(o, 'home', /^.+$/, 'a directory path') ?? join(homedir(), '.iicp')
  const name = str(o, 'name', NAME_RE, 'a short name ([A-Za-z0-9._-])') ?? 'default'
  const logger = o.logger ?? silentLogger
  if (typeof (logger as Logger).child !== 'function') throw invalid('logger', 'a pino-style logger', logger)
  const timers = (o.timers ?? realTimers) as Timers
  if (typeof timers.setTimeout !== 'function' || typeof timers.now !== 'function') throw invalid('timers', 'a Timers object', timers)
  const auth = o.auth ?? 'open'
  if (auth !== 'open' && auth !== 'token') throw invalid('auth', "'open' or 'token'", auth)

  return Object.freeze({
    directoryUrl,
    handler: handler as TaskHandler | undefined,
    backends: Object.freeze(backends),
    capabilities: Object.freeze(capabilitiesOf(o.capabilities, backends)),
    host,
    port: int(o, 'port', 0, 65535, undefined),
    basePort: int(o, 'basePort', 1, 65535, DEFAULT_NODE_PORT),
    portSearchSize: int(o, 'portSearchSize', 1, 1024, NODE_PORT_BAND_SIZE + 1),
    publicEndpoint: httpUrl(o, 'publicEndpoint'),
    reachability: reach as Reachability | ReachabilityResolver | 'auto' | undefined,
    nat: nat as NatOptions,
    tunnel: tunnelOpt === undefined || tunnelOpt === false ? undefined : Object.freeze({ home, ...(tunnelOpt as TunnelRungOptions) }),
    listen,
    relayCapable,
    relayAcceptPort,
    relayAcceptPortFallback,
    relayServer: relayServer as RelayHostOptions,
    native: resolveNativeOptions(o.native),
    relay: relay as RelayOption | undefined,
    region: str(o, 'region', REGION_RE, 'a region tag like eu-central (letters, digits, - and _, ≤ 64)') ?? 'unknown',
    nodeId: str(o, 'nodeId', NODE_ID_RE, 'a node id of ≤ 36 characters [a-zA-Z0-9._:-]'),
    stateFile: persistState ? join(home, 'nodes', `${name}.json`) : undefined,
    maxConcurrent: int(o, 'maxConcurrent', 1, 256, 4),
    tokensPerMin: int(o, 'tokensPerMin', 1, 100_000_000, 10_000),
    maxBodyBytes: int(o, 'maxBodyBytes', 1024, 64 * 1024 * 1024, DEFAULT_MAX_BODY_BYTES),
    defaultTimeoutMs: int(o, 'defaultTimeoutMs', 100, 300_000, 30_000),
    retryAfterMs: int(o, 'retryAfterMs', 1, 300_000, 1000),
    drainTimeoutMs: int(o, 'drainTimeoutMs', 0, 600_000, 10_000),
    auth,
    cx: bool(o, 'cx', true),
    cxPrivateKey: str(o, 'cxPrivateKey', /^[A-Za-z0-9_-]{43}$/, 'a 32-byte X25519 private key in base64url'),
    heartbeatIntervalMs: int(o, 'heartbeatIntervalMs', 1000, 300_000, HEARTBEAT_INTERVAL_MS),
    backoffBaseMs: int(o, 'backoffBaseMs', 1, 300_000, 1000),
    directoryTimeoutMs: int(o, 'directoryTimeoutMs', 100, 120_000, 5000),
    deregisterOnClose: bool(o, 'deregisterOnClose', true),
    recentTaskIds: int(o, 'recentTaskIds', 0, 10_000_000, 10_000),
    generatedByAi: bool(o, 'generatedByAi', true),
    taskRateLimit: int(o, 'taskRateLimit', 0, 1_000_000, 120),
    taskRateWindowMs: int(o, 'taskRateWindowMs', 1000, 3_600_000, 60_000),
    nonceReplayCache: bool(o, 'nonceReplayCache', true),
    enableIdempotency: bool(o, 'enableIdempotency', false),
    replayWindowMs: int(o, 'replayWindowMs', 1000, 3_600_000, 300_000),
    modelDrift: bool(o, 'modelDrift', true),
    logger: logger as Logger,
    timers,
  })
}
