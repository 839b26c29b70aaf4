/**
 * Directory options: one parse with the defaults inside, frozen afterwards. A bad value fails here with
 * `invalid_config` naming the option and the allowed range.
 *
 * Hand-written rather than zod: `zod` is not a dependency of @iicp/directory (only of @iicp/protocol),
 * and the wire schemas this package validates with come from @iicp/protocol already built.
 */
import { IicpError, HEARTBEAT_INTERVAL_MS, NODE_EXPIRY_MS, REGISTER_RATE_LIMIT, silentLogger } from '@iicp/protocol'
import type { Logger, SigningKeyPair } from '@iicp/protocol'
import type { DirectoryStore } from './store/types.js'

/** A rolling-window rate limit: at most `max` requests in any `windowMs` per client address. */
export interface RateLimit {
  readonly max: number
  readonly windowMs: number
}

/** Per-endpoint rate limits (wire.md §1.12); `false` switches one off. */
export interface RateLimitOptions {
  /** POST /v1/register per source IP. @default { max: 60, windowMs: 60000 } (dir §3.1, §6) */
  register?: RateLimit | false
  /** GET /v1/probe per source IP. @default { max: 10, windowMs: 60000 } (reference directory) */
  probe?: RateLimit | false
  /** GET /v1/directory-key per source IP. @default { max: 30, windowMs: 60000 } (dir §3.12; wire.md §1.8) */
  directoryKey?: RateLimit | false
}

/** What `startDirectory` / `createDirectory` accept. */
export interface DirectoryOptions {
  /** TCP port; 0 picks a free one. @default 9480 */
  port?: number
  /** Interface to bind. @default '127.0.0.1' */
  host?: string
  /**
   * `local` allows loopback/private endpoints and probes only loopback ones; `public` enforces the
   * routable-endpoint rules (IICP-E035) and the spec's qos probation. @default 'local'
   */
  mode?: 'local' | 'public'
  /** Origin put in tickets' `iss` and ACK `directory`; default: the origin each request reached (Host header). */
  publicOrigin?: string
  /** JSON file that keeps nodes and the signing key across restarts; omitted = memory only. */
  dataFile?: string
  /** A custom store (wins over `dataFile`). */
  store?: DirectoryStore
  /** Milliseconds since the epoch; injectable so expiry is tested without sleeping. @default Date.now */
  clock?: () => number
  /** Skip the `GET {endpoint}/iicp/health` probe at registration (IICP_SKIP_LIVENESS_CHECK). @default false */
  skipLivenessCheck?: boolean
  /** Liveness probe timeout. @default 3000 */
  livenessTimeoutMs?: number
  /**
   * Which endpoint hosts the liveness probe may contact: `loopback`, `private` (loopback + RFC 1918,
   * link-local, ULA, CGNAT) or `any` (public addresses only after DNS resolution).
   * @default 'loopback' in local mode, 'any' in public mode
   */
  probeHosts?: 'loopback' | 'private' | 'any'
  /** Apply the qos probation filter of dir §3.4. @default false in local mode, true in public mode */
  probation?: boolean
  /** Ed25519 key for tickets; default: loaded from the store, else generated (and persisted). */
  signingKey?: SigningKeyPair
  /** pino-style logger. @default silentLogger */
  logger?: Logger
  /** Rate limits; see RateLimitOptions. */
  rateLimits?: RateLimitOptions
  /** Largest accepted request body. @default 65536 */
  maxBodyBytes?: number
  /** Window after the last heartbeat in which a node is discoverable. @default 90000 (core §4.2) */
  expiryMs?: number
  /** `next_heartbeat_ms` told to nodes. @default 30000 */
  heartbeatIntervalMs?: number
  /** How long a dormant node is kept for revival before it is deleted. @default 86400000 */
  dormantRetentionMs?: number
  /** Period of the background prune; 0 disables the timer (call `prune()` yourself). @default 30000 */
  pruneIntervalMs?: number
  /** Debounce of file-store writes. @default 1000 */
  persistDebounceMs?: number
  /** Lifetime of dispatch and relay tickets. @default 120 */
  ticketTtlSeconds?: number
  /** Read the client IP from CF-Connecting-IP / X-Forwarded-For (only behind a trusted reverse proxy). @default false */
  trustProxy?: boolean
}

/** Options after defaults; frozen. */
export interface ResolvedDirectoryOptions {
  readonly port: number
  readonly host: string
  readonly mode: 'local' | 'public'
  readonly publicOrigin: string | undefined
  readonly dataFile: string | undefined
  readonly store: DirectoryStore | undefined
  readonly clock: () => number
  readonly skipLivenessCheck: boolean
  readonly livenessTimeoutMs: number
  readonly probeHosts: 'loopback' | 'private' | 'any'
  readonly probation: boolean
  readonly signingKey: SigningKeyPair | undefined
  readonly logger: Logger
  readonly rateLimits: { readonly register: RateLimit | false; readonly probe: RateLimit | false; readonly directoryKey: RateLimit | false }
  readonly maxBodyBytes: number
  readonly expiryMs: number
  readonly heartbeatIntervalMs: number
  readonly dormantRetentionMs: number
  readonly pruneIntervalMs: number
  readonly persistDebounceMs: number
  readonly ticketTtlSeconds: number
  readonly trustProxy: boolean
}

/** Default directory port (frm §11.1 band for local services). */
export const DEFAULT_DIRECTORY_PORT = 9480

const KNOWN_KEYS = new Set<string>([
  'port', 'host', 'mode', 'publicOrigin', 'dataFile', 'store', 'clock', 'skipLivenessCheck', 'livenessTimeoutMs',
  'probeHosts', 'probation', 'signingKey', 'logger', 'rateLimits', 'maxBodyBytes', 'expiryMs', 'heartbeatIntervalMs',
  'dormantRetentionMs', 'pruneIntervalMs', 'persistDebounceMs', 'ticketTtlSeconds', 'trustProxy',
])

function fail(option: string, expected: string): never {
  throw new IicpError('invalid_config', `Invalid directory option ${option}: expected ${expected}`)
}

function int(value: unknown, option: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(option, `an integer from ${min} to ${max}`)
  }
  return value
}

function bool(value: unknown, option: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') fail(option, 'true or false')
  return value
}

function oneOf<T extends string>(value: unknown, option: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) fail(option, allowed.join(' | '))
  return value as T
}

function rateLimit(value: unknown, option: string, fallback: RateLimit): RateLimit | false {
  if (value === undefined) return fallback
  if (value === false) return false
  if (typeof value !== 'object' || value === null) fail(option, '{ max, windowMs } or false')
  const v = value as Record<string, unknown>
  return Object.freeze({
    max: int(v.max, `${option}.max`, 1, 1_000_000_000, fallback.max),
    windowMs: int(v.windowMs, `${option}.windowMs`, 1, 86_400_000, fallback.windowMs),
  })
}

function origin(value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string') fail('publicOrigin', 'an http(s) origin such as https://dir.example.org')
  let url: URL
  try {
    url = new URL(value)
  } catch {
    fail('publicOrigin', 'an http(s) origin such as https://dir.example.org')
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash || url.username) {
    fail('publicOrigin', 'an http(s) origin without path, query or credentials')
  }
  // Clients compare `iss` with their directory URL minus `/api` exactly, so keep the origin form.
  return url.origin
}

/** Parse and default directory options; throws IicpError `invalid_config`. */
export function parseDirectoryOptions(input: DirectoryOptions = {}): ResolvedDirectoryOptions {
  if (typeof input !== 'object' || input === null) fail('options', 'an object')
  for (const key of Object.keys(input)) if (!KNOWN_KEYS.has(key)) fail(key, 'no such option')
  const mode = oneOf(input.mode, 'mode', ['local', 'public'] as const, 'local')
  if (input.host !== undefined && (typeof input.host !== 'string' || input.host.length === 0)) fail('host', 'a non-empty host name or address')
  if (input.dataFile !== undefined && (typeof input.dataFile !== 'string' || input.dataFile.length === 0)) fail('dataFile', 'a file path')
  if (input.clock !== undefined && typeof input.clock !== 'function') fail('clock', 'a function returning milliseconds')
  if (input.logger !== undefined && (typeof input.logger !== 'object' || input.logger === null || typeof input.logger.child !== 'function')) {
    fail('logger', 'a pino-style logger')
  }
  if (input.signingKey !== undefined) {
    const k = input.signingKey as unknown as Record<string, unknown>
    if (typeof k !== 'object' || k === null || typeof k.publicKeyHex !== 'string' || !/^[0-9a-f]{64}$/.test(k.publicKeyHex)
      || typeof k.privateKeyPkcs8 !== 'string' || k.privateKeyPkcs8.length === 0) {
      fail('signingKey', '{ publicKeyHex: 64 hex, privateKeyPkcs8: base64 }')
    }
  }
  if (input.store !== undefined) {
    const s = input.store as unknown as Record<string, unknown>
    if (typeof s !== 'object' || s === null || typeof s.loadNodes !== 'function' || typeof s.saveNode !== 'function') {
      fail('store', 'a DirectoryStore')
    }
  }
  const rl = input.rateLimits ?? {}
  if (typeof rl !== 'object' || rl === null) fail('rateLimits', 'an object')
  return Object.freeze({
    port: int(input.port, 'port', 0, 65535, DEFAULT_DIRECTORY_PORT),
    host: input.host ?? '127.0.0.1',
    mode,
    publicOrigin: origin(input.publicOrigin),
    dataFile: input.dataFile,
    store: input.store,
    clock: input.clock ?? Date.now,
    skipLivenessCheck: bool(input.skipLivenessCheck, 'skipLivenessCheck', false),
    livenessTimeoutMs: int(input.livenessTimeoutMs, 'livenessTimeoutMs', 100, 30_000, 3_000),
    probeHosts: oneOf(input.probeHosts, 'probeHosts', ['loopback', 'private', 'any'] as const, mode === 'local' ? 'loopback' : 'any'),
    probation: bool(input.probation, 'probation', mode === 'public'),
    signingKey: input.signingKey,
    logger: input.logger ?? silentLogger,
    rateLimits: Object.freeze({
      register: rateLimit(rl.register, 'rateLimits.register', REGISTER_RATE_LIMIT),
      probe: rateLimit(rl.probe, 'rateLimits.probe', { max: 10, windowMs: 60_000 }),
      directoryKey: rateLimit(rl.directoryKey, 'rateLimits.directoryKey', { max: 30, windowMs: 60_000 }),
    }),
    maxBodyBytes: int(input.maxBodyBytes, 'maxBodyBytes', 1024, 16 * 1024 * 1024, 64 * 1024),
    expiryMs: int(input.expiryMs, 'expiryMs', 1_000, 86_400_000, NODE_EXPIRY_MS),
    heartbeatIntervalMs: int(input.heartbeatIntervalMs, 'heartbeatIntervalMs', 1_000, 3_600_000, HEARTBEAT_INTERVAL_MS),
    dormantRetentionMs: int(input.dormantRetentionMs, 'dormantRetentionMs', 0, 30 * 86_400_000, 86_400_000),
    pruneIntervalMs: int(input.pruneIntervalMs, 'pruneIntervalMs', 0, 3_600_000, 30_000),
    persistDebounceMs: int(input.persistDebounceMs, 'persistDebounceMs', 0, 60_000, 1_000),
    ticketTtlSeconds: int(input.ticketTtlSeconds, 'ticketTtlSeconds', 10, 3_600, 120),
    trustProxy: bool(input.trustProxy, 'trustProxy', false),
  })
}
