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
import type { ConsumerAuthMode } from './consumer-token.js'
import { parseRoutingPolicy } from './routing/policy.js'
import type { RoutingPolicy, RoutingPolicyName } from './routing/policy.js'
import type { CandidateRanker } from './routing/ranker.js'
import { DEFAULT_STRATEGY_PARAMS, seededRandom } from './routing/strategies.js'
import type { RoutingStrategy } from './routing/strategies.js'

/** How candidate routes are found (reference-implementations §3.5): signed tickets, legacy discover, or tickets with fallback. */
export type RouteDiscoveryMode = 'auto' | 'ticketed' | 'legacy'
/** Candidate ordering after eligibility (wire.md §4.2; official-sdks §2.4); `directory_order` = `deterministic`. */
export type SelectionStrategy = RoutingStrategy | 'directory_order'

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
  /** Candidate ordering: deterministic, epsilon, softmax_top_k or weighted_v1 (`IICP_ROUTING_STRATEGY`). @default 'epsilon' */
  selection?: SelectionStrategy
  /** Pool size for `softmax_top_k` and `weighted_v1`, 1..50 (`IICP_ROUTING_TOP_K`). @default 3 */
  selectionTopK?: number
  /** Exploration probability of `epsilon`, 0..1 (`IICP_ROUTING_EPSILON`). @default 0.05 */
  selectionEpsilon?: number
  /** Temperature of `softmax_top_k`, 0.001..10 (`IICP_ROUTING_SOFTMAX_TAU`). @default 0.04 */
  selectionSoftmaxTau?: number
  /** Seed for the selection random source, 0..4294967295: equal seeds give equal pick sequences. @default the `random` option */
  selectionSeed?: number
  /** Routing policy profile applied after discovery, before any payload leaves (dir §3.4.1). @default 'standard' */
  routingPolicy?: RoutingPolicyName | RoutingPolicy
  /** External candidate ranker: sees redacted evidence, may pick one candidate or decline. @default none */
  ranker?: CandidateRanker
  /** Consumer tokens (dir §3.12): `optional` uses one when `nodeToken` can get it, `required` refuses without. @default 'optional' */
  consumerAuthMode?: ConsumerAuthMode
  /** Verify replica-signed discovery answers against the seed's trusted-replicas registry (fed §6.5). @default true */
  verifyReplicaSignatures?: boolean
  /** Attempts per logical task across candidate nodes, 1..10. @default 3 */
  maxAttempts?: number
  /** Backoff base (× 2ⁿ ± 20%), 0..10000 ms. @default 200 */
  retryBaseDelayMs?: number
  /** How long a discovered route list is reused, 0..10000 ms (discover answers carry max-age=5). @default 5000 */
  routeCacheMs?: number
  /**
   * Transport to nodes (official-sdks.md §6.3): `http` always; `auto` uses a node's advertised native
   * `transport_endpoint` and falls back to HTTP when it cannot connect; `native` uses it without fallback. Nodes
   * without one, relay routes and consumer-token calls always use HTTP. @default 'http'
   */
  transport?: 'auto' | 'http' | 'native'
  /** Native connections: PING after this long without inbound frames, 0 = off, 0..600000 ms. @default 30000 */
  nativeKeepaliveIntervalMs?: number
  /** Native connections: drop one whose PONG (or any frame) is this late, 1..120000 ms. @default 10000 */
  nativePongTimeoutMs?: number
  /** Consecutive failures that open a node's breaker, 1..100. @default 5 */
  breakerFailureThreshold?: number
  /** How long an open breaker stays open before one half-open probe, 0..600000 ms. @default 30000 */
  breakerOpenMs?: number
  /**
   * Undici dispatcher for every request. It owns its connection policy (its resolver, its TLS settings); without
   * `allowPrivateEndpoints` each host is still resolved and checked before requests go out, and `guardedLookup` as
   * its connector's `lookup` checks the address it dials. @default a keep-alive `Agent` made once per client
   */
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
  readonly selectionEpsilon: number
  readonly selectionSoftmaxTau: number
  readonly selectionSeed: number | undefined
  /** Random source of selection: seeded when `selectionSeed` is set, else `random`. */
  readonly selectionRandom: () => number
  readonly routingPolicy: RoutingPolicy
  readonly ranker: CandidateRanker | undefined
  readonly consumerAuthMode: ConsumerAuthMode
  readonly verifyReplicaSignatures: boolean
  readonly maxAttempts: number
  readonly retryBaseDelayMs: number
  readonly routeCacheMs: number
  readonly transport: 'auto' | 'http' | 'native'
  readonly nativeKeepaliveIntervalMs: number
  readonly nativePongTimeoutMs: number
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
  selection: 'one of deterministic, epsilon, softmax_top_k, weighted_v1, directory_order',
  selectionTopK: 'an integer in 1..50',
  selectionEpsilon: 'a number in 0..1',
  selectionSoftmaxTau: 'a number in 0.001..10',
  selectionSeed: 'an integer in 0..4294967295',
  routingPolicy: 'a routing policy profile name or object',
  ranker: 'a function',
  consumerAuthMode: 'one of optional, required, disabled',
  verifyReplicaSignatures: 'a boolean',
  maxAttempts: 'an integer in 1..10',
  retryBaseDelayMs: 'an integer in 0..10000',
  routeCacheMs: 'an integer in 0..10000',
  transport: 'one of auto, http, native',
  nativeKeepaliveIntervalMs: 'an integer in 0..600000',
  nativePongTimeoutMs: 'an integer in 1..120000',
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
  selection: z.enum(['deterministic', 'epsilon', 'softmax_top_k', 'weighted_v1', 'directory_order']).default('epsilon'),
  selectionTopK: intIn(1, 50, DEFAULT_STRATEGY_PARAMS.topK),
  selectionEpsilon: z.number().min(0).max(1).default(DEFAULT_STRATEGY_PARAMS.epsilon),
  selectionSoftmaxTau: z.number().min(0.001).max(10).default(DEFAULT_STRATEGY_PARAMS.softmaxTau),
  selectionSeed: z.number().int().min(0).max(4_294_967_295).optional(),
  routingPolicy: z.unknown().optional(),
  ranker: fnOf<CandidateRanker>().optional(),
  consumerAuthMode: z.enum(['optional', 'required', 'disabled']).default('optional'),
  verifyReplicaSignatures: z.boolean().default(true),
  maxAttempts: intIn(1, 10, RETRY_POLICY.maxAttempts),
  retryBaseDelayMs: intIn(0, 10_000, RETRY_POLICY.baseDelayMs),
  routeCacheMs: intIn(0, 10_000, 5_000),
  transport: z.enum(['auto', 'http', 'native']).default('http'),
  nativeKeepaliveIntervalMs: intIn(0, 600_000, 30_000),
  nativePongTimeoutMs: intIn(1, 120_000, 10_000),
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
  const routingPolicy = parseRoutingPolicy(o.routingPolicy ?? 'standard')
  if (o.consumerAuthMode === 'required' && o.nodeToken === undefined) {
    // Error text passes through redactSecrets, which reads `token: word` and `token word` as credentials:
    // after "token" comes punctuation or the end, never a colon or a word.
    throw invalid('consumerAuthMode', "'optional' or 'disabled' without a nodeToken; 'required' needs the caller's node token")
  }
  const random = o.random ?? Math.random
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
    selectionEpsilon: o.selectionEpsilon,
    selectionSoftmaxTau: o.selectionSoftmaxTau,
    selectionSeed: o.selectionSeed,
    selectionRandom: o.selectionSeed === undefined ? random : seededRandom(o.selectionSeed),
    routingPolicy,
    ranker: o.ranker,
    consumerAuthMode: o.consumerAuthMode,
    verifyReplicaSignatures: o.verifyReplicaSignatures,
    maxAttempts: o.maxAttempts,
    retryBaseDelayMs: o.retryBaseDelayMs,
    routeCacheMs: o.routeCacheMs,
    transport: o.transport,
    nativeKeepaliveIntervalMs: o.nativeKeepaliveIntervalMs,
    nativePongTimeoutMs: o.nativePongTimeoutMs,
    breakerFailureThreshold: o.breakerFailureThreshold,
    breakerOpenMs: o.breakerOpenMs,
    dispatcher: o.dispatcher,
    logger: o.logger ?? silentLogger,
    clock: o.clock ?? Date.now,
    random,
    sleep: o.sleep ?? defaultSleep,
  })
}
