/**
 * Client configuration (wire.md §5.1 SDK-04/SDK-05, §10): parsed once at construction, defaults filled in,
 * frozen. A bad value fails right here with `invalid_config`, naming the option and its allowed range.
 *
 * zod is not a dependency of @iicp/client (only @iicp/protocol and undici are), so the option table below is a
 * small declarative validator instead of a zod schema; it keeps the same contract (one parse, defaults, freeze).
 */
import type { Dispatcher } from 'undici'
import {
  BREAKER_POLICY, DEFAULT_DIRECTORY_URL, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, RETRY_POLICY, IicpError,
  isPrivateOrLocalHost, normalizeDirectoryUrl, silentLogger,
} from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'

/** How candidate routes are found (reference-implementations §3.5): signed tickets, legacy discover, or tickets with fallback. */
export type RouteDiscoveryMode = 'auto' | 'ticketed' | 'legacy'
/** Candidate ordering after eligibility (wire.md §4.2): directory order, or the pre-normative `weighted_v1`. */
export type SelectionStrategy = 'directory_order' | 'weighted_v1'

/** What `new IicpClient(config)` accepts. Every field is optional. */
export interface ClientConfig {
  /** Directory API base; `/api` is appended when missing. @default 'https://iicp.network/api' */
  directoryUrl?: string
  /** One deadline for discovery plus every attempt, 1..120000 ms (SDK-04). @default 30000 */
  timeoutMs?: number
  /** Preferred region sent to discovery (a preference, never an exclusion). */
  region?: string
  /** Bearer token for nodes. Never printed: config, errors and logs redact it (SDK-06 spec). */
  nodeToken?: string
  /** Accept discovered endpoints on loopback/private/link-local addresses (local meshes only). @default false */
  allowPrivateEndpoints?: boolean
  /** Send plaintext payloads to nodes that advertise no `cx_public_key`. @default false */
  allowPlaintext?: boolean
  /** TLS verification cannot be turned off: `false` is rejected with `invalid_config` (SDK-05 spec). @default true */
  tlsVerify?: boolean
  /** Route discovery: `auto` (tickets, falling back to discover), `ticketed` or `legacy`. @default 'auto' */
  routeDiscovery?: RouteDiscoveryMode
  /** Candidate ordering. @default 'directory_order' */
  selection?: SelectionStrategy
  /** Pool size for `weighted_v1`, 1..50. @default 3 */
  selectionTopK?: number
  /** Attempts per logical task across candidate nodes, 1..10. @default 3 */
  maxAttempts?: number
  /** Backoff base (× 2ⁿ ± 20%), 0..10000 ms. @default 200 */
  retryBaseDelayMs?: number
  /** How long a discovered route list is reused, 0..10000 ms (discover answers carry max-age=5). @default 5000 */
  routeCacheMs?: number
  /** Consecutive failures that open a node's breaker, 1..100. @default 5 */
  breakerFailureThreshold?: number
  /** How long an open breaker stays open before one half-open probe, 0..600000 ms. @default 30000 */
  breakerOpenMs?: number
  /** Undici dispatcher for every request. @default a keep-alive `Agent` made once per client */
  dispatcher?: Dispatcher
  /** pino-compatible logger; tokens and payloads are never passed to it. @default silent */
  logger?: Logger
  /** Clock in ms (test seam). @default Date.now */
  clock?: () => number
  /** Uniform random in [0, 1) for jitter and weighted selection (test seam). @default Math.random */
  random?: () => number
  /** Sleep used for backoff (test seam). @default a timer that honours the signal */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

/** The parsed, frozen configuration. */
export interface ClientOptions {
  readonly directoryUrl: string
  readonly timeoutMs: number
  readonly region: string | undefined
  readonly nodeToken: string | undefined
  readonly allowPrivateEndpoints: boolean
  readonly allowPlaintext: boolean
  readonly routeDiscovery: RouteDiscoveryMode
  readonly selection: SelectionStrategy
  readonly selectionTopK: number
  readonly maxAttempts: number
  readonly retryBaseDelayMs: number
  readonly routeCacheMs: number
  readonly breakerFailureThreshold: number
  readonly breakerOpenMs: number
  readonly dispatcher: Dispatcher | undefined
  readonly logger: Logger
  readonly clock: () => number
  readonly random: () => number
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>
}

const KNOWN_KEYS = new Set<string>([
  'directoryUrl', 'timeoutMs', 'region', 'nodeToken', 'allowPrivateEndpoints', 'allowPlaintext', 'tlsVerify',
  'routeDiscovery', 'selection', 'selectionTopK', 'maxAttempts', 'retryBaseDelayMs', 'routeCacheMs',
  'breakerFailureThreshold', 'breakerOpenMs', 'dispatcher', 'logger', 'clock', 'random', 'sleep',
])

function invalid(option: string, expected: string): IicpError {
  return new IicpError('invalid_config', `${option} must be ${expected}`, { fields: { [option]: [expected] } })
}

function int(raw: Record<string, unknown>, key: string, def: number, min: number, max: number): number {
  const v = raw[key]
  if (v === undefined) return def
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(key, `an integer in ${min}..${max}`)
  return v
}

function bool(raw: Record<string, unknown>, key: string, def: boolean): boolean {
  const v = raw[key]
  if (v === undefined) return def
  if (typeof v !== 'boolean') throw invalid(key, 'a boolean')
  return v
}

function oneOf<T extends string>(raw: Record<string, unknown>, key: string, def: T, allowed: readonly T[]): T {
  const v = raw[key]
  if (v === undefined) return def
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw invalid(key, `one of ${allowed.join(', ')}`)
  return v as T
}

function fn<T>(raw: Record<string, unknown>, key: string, def: T): T {
  const v = raw[key]
  if (v === undefined) return def
  if (typeof v !== 'function') throw invalid(key, 'a function')
  return v as T
}

/** Default backoff sleep: a timer that rejects early when the signal aborts. */
export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function parseDirectoryUrl(value: unknown, allowPrivate: boolean): string {
  if (value === undefined) return DEFAULT_DIRECTORY_URL
  if (typeof value !== 'string') throw invalid('directoryUrl', 'an http(s) URL')
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalid('directoryUrl', 'an http(s) URL')
  }
  if (url.username || url.password) throw invalid('directoryUrl', 'a URL without credentials')
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('directoryUrl', 'an http(s) URL')
  // Plaintext to the directory is refused on the public mesh (core §6); a local mesh opts in explicitly.
  if (url.protocol === 'http:' && !(allowPrivate && isPrivateOrLocalHost(url.hostname.replace(/^\[|\]$/g, '')))) {
    throw invalid('directoryUrl', 'an https URL (http only for a private/loopback directory with allowPrivateEndpoints)')
  }
  return normalizeDirectoryUrl(value)
}

/** Parse and freeze a ClientConfig; throws IicpError `invalid_config` naming the option and range. */
export function parseClientOptions(config: ClientConfig = {}): ClientOptions {
  if (typeof config !== 'object' || config === null) throw invalid('config', 'an object')
  const raw = config as Record<string, unknown>
  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key)) throw invalid(key, 'a known ClientConfig option')
  }
  if (raw.tlsVerify !== undefined && raw.tlsVerify !== true) {
    throw invalid('tlsVerify', 'true: TLS verification cannot be disabled in this build')
  }
  if (raw.timeoutMs !== undefined && (typeof raw.timeoutMs !== 'number' || !Number.isInteger(raw.timeoutMs) || raw.timeoutMs <= 0 || raw.timeoutMs > MAX_TIMEOUT_MS)) {
    throw invalid('timeoutMs', `an integer in 1..${MAX_TIMEOUT_MS}`)
  }
  const region = raw.region
  if (region !== undefined && (typeof region !== 'string' || region.length === 0 || region.length > 64)) {
    throw invalid('region', 'a string of 1..64 characters')
  }
  const token = raw.nodeToken
  if (token !== undefined && (typeof token !== 'string' || token.length === 0 || /[\r\n]/.test(token))) {
    throw invalid('nodeToken', 'a non-empty single-line string')
  }
  const logger = raw.logger
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || typeof (logger as Logger).child !== 'function')) {
    throw invalid('logger', 'a pino-compatible logger')
  }
  const dispatcher = raw.dispatcher
  if (dispatcher !== undefined && (typeof dispatcher !== 'object' || dispatcher === null || typeof (dispatcher as Dispatcher).request !== 'function')) {
    throw invalid('dispatcher', 'an undici Dispatcher')
  }
  const allowPrivateEndpoints = bool(raw, 'allowPrivateEndpoints', false)
  return Object.freeze({
    directoryUrl: parseDirectoryUrl(raw.directoryUrl, allowPrivateEndpoints),
    timeoutMs: int(raw, 'timeoutMs', DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS),
    region: region as string | undefined,
    nodeToken: token as string | undefined,
    allowPrivateEndpoints,
    allowPlaintext: bool(raw, 'allowPlaintext', false),
    routeDiscovery: oneOf<RouteDiscoveryMode>(raw, 'routeDiscovery', 'auto', ['auto', 'ticketed', 'legacy']),
    selection: oneOf<SelectionStrategy>(raw, 'selection', 'directory_order', ['directory_order', 'weighted_v1']),
    selectionTopK: int(raw, 'selectionTopK', 3, 1, 50),
    maxAttempts: int(raw, 'maxAttempts', RETRY_POLICY.maxAttempts, 1, 10),
    retryBaseDelayMs: int(raw, 'retryBaseDelayMs', RETRY_POLICY.baseDelayMs, 0, 10_000),
    routeCacheMs: int(raw, 'routeCacheMs', 5_000, 0, 10_000),
    breakerFailureThreshold: int(raw, 'breakerFailureThreshold', BREAKER_POLICY.failureThreshold, 1, 100),
    breakerOpenMs: int(raw, 'breakerOpenMs', BREAKER_POLICY.openMs, 0, 600_000),
    dispatcher: dispatcher as Dispatcher | undefined,
    logger: (logger as Logger | undefined) ?? silentLogger,
    clock: fn(raw, 'clock', Date.now),
    random: fn(raw, 'random', Math.random),
    sleep: fn(raw, 'sleep', defaultSleep),
  })
}
