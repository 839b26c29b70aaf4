/**
 * Client configuration (wire.md §5.1 SDK-04/SDK-05, §10): one zod schema with the defaults in it, parsed once
 * at construction and frozen. A bad value fails right here with `invalid_config`, naming the option and its
 * allowed range.
 */
import type { Dispatcher } from 'undici'
import { z } from 'zod'
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

const fnOf = <T>() => z.custom<T>((v) => typeof v === 'function')

/** What each option must be, in the words of the `invalid_config` message. */
const EXPECTED: Record<string, string> = {
  config: 'an object',
  directoryUrl: 'an http(s) URL',
  timeoutMs: `an integer in 1..${MAX_TIMEOUT_MS}`,
  region: 'a string of 1..64 characters',
  nodeToken: 'a non-empty single-line string',
  allowPrivateEndpoints: 'a boolean',
  allowPlaintext: 'a boolean',
  tlsVerify: 'true: TLS verification cannot be disabled in this build',
  routeDiscovery: 'one of auto, ticketed, legacy',
  selection: 'one of directory_order, weighted_v1',
  selectionTopK: 'an integer in 1..50',
  maxAttempts: 'an integer in 1..10',
  retryBaseDelayMs: 'an integer in 0..10000',
  routeCacheMs: 'an integer in 0..10000',
  breakerFailureThreshold: 'an integer in 1..100',
  breakerOpenMs: 'an integer in 0..600000',
  dispatcher: 'an undici Dispatcher',
  logger: 'a pino-compatible logger',
  clock: 'a function',
  random: 'a function',
  sleep: 'a function',
}

const intIn = (min: number, max: number, def: number) => z.number().int().min(min).max(max).default(def)

/** The ClientConfig schema, with the defaults in it; built once at module load. */
const ClientConfigSchema = z.strictObject({
  directoryUrl: z.string().optional(),
  timeoutMs: intIn(1, MAX_TIMEOUT_MS, DEFAULT_TIMEOUT_MS),
  region: z.string().min(1).max(64).optional(),
  nodeToken: z.string().min(1).regex(/^[^\r\n]+$/).optional(),
  allowPrivateEndpoints: z.boolean().default(false),
  allowPlaintext: z.boolean().default(false),
  tlsVerify: z.literal(true).optional(),
  routeDiscovery: z.enum(['auto', 'ticketed', 'legacy']).default('auto'),
  selection: z.enum(['directory_order', 'weighted_v1']).default('directory_order'),
  selectionTopK: intIn(1, 50, 3),
  maxAttempts: intIn(1, 10, RETRY_POLICY.maxAttempts),
  retryBaseDelayMs: intIn(0, 10_000, RETRY_POLICY.baseDelayMs),
  routeCacheMs: intIn(0, 10_000, 5_000),
  breakerFailureThreshold: intIn(1, 100, BREAKER_POLICY.failureThreshold),
  breakerOpenMs: intIn(0, 600_000, BREAKER_POLICY.openMs),
  dispatcher: z.custom<Dispatcher>((v) => typeof v === 'object' && v !== null && typeof (v as Dispatcher).dispatch === 'function').optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null && typeof (v as Logger).child === 'function' && typeof (v as Logger).debug === 'function').optional(),
  clock: fnOf<() => number>().optional(),
  random: fnOf<() => number>().optional(),
  sleep: fnOf<(ms: number, signal?: AbortSignal) => Promise<void>>().optional(),
})

function invalid(option: string, expected: string): IicpError {
  return new IicpError('invalid_config', `${option} must be ${expected}`, { fields: { [option]: [expected] } })
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

function parseDirectoryUrl(value: string | undefined, allowPrivate: boolean): string {
  if (value === undefined) return DEFAULT_DIRECTORY_URL
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
  const r = ClientConfigSchema.safeParse(config)
  if (!r.success) {
    const issue = r.error.issues[0]
    const keys = issue && issue.code === 'unrecognized_keys' ? issue.keys : undefined
    const option = keys?.[0] ?? (issue?.path[0] === undefined ? 'config' : String(issue.path[0]))
    throw invalid(option, EXPECTED[option] ?? 'a known ClientConfig option')
  }
  const o = r.data
  return Object.freeze({
    directoryUrl: parseDirectoryUrl(o.directoryUrl, o.allowPrivateEndpoints),
    timeoutMs: o.timeoutMs,
    region: o.region,
    nodeToken: o.nodeToken,
    allowPrivateEndpoints: o.allowPrivateEndpoints,
    allowPlaintext: o.allowPlaintext,
    routeDiscovery: o.routeDiscovery,
    selection: o.selection,
    selectionTopK: o.selectionTopK,
    maxAttempts: o.maxAttempts,
    retryBaseDelayMs: o.retryBaseDelayMs,
    routeCacheMs: o.routeCacheMs,
    breakerFailureThreshold: o.breakerFailureThreshold,
    breakerOpenMs: o.breakerOpenMs,
    dispatcher: o.dispatcher,
    logger: o.logger ?? silentLogger,
    clock: o.clock ?? Date.now,
    random: o.random ?? Math.random,
    sleep: o.sleep ?? defaultSleep,
  })
}
