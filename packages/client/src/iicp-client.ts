/**
 * IicpClient: discover → select → submit (wire.md §10 consumer flow; README SDK-01..06; spec SDK-01..06,
 * SDK-DISC-01/02, SDK-ERR-01/02). Composes the one HTTP path, route discovery, selection, the failover loop,
 * IICP-CX and W3C trace context. Every method takes an AbortSignal and one deadline covers discovery and every
 * attempt. The node token is held privately and redacted from config views, errors and logs.
 */
import { randomUUID } from 'node:crypto'
import { inspect } from 'node:util'
import { DISCOVER_DEFAULT_LIMIT, DISCOVER_MAX_LIMIT, IicpError, MAX_TIMEOUT_MS, SDK_VERSION, isIicpError, validateIntent } from '@iicp/protocol'
import type { Logger, NodeSummary, Qos } from '@iicp/protocol'
import { CircuitBreakers } from './breaker.js'
import { ConsumerTokens } from './consumer-token.js'
import { FederatedDirectory } from './federation.js'
import { applyRoutingPolicy, policyRoutingError } from './routing/policy.js'
import { EvidenceRefs, consultRanker } from './routing/ranker.js'
import { routingReceipt } from './routing/receipt.js'
import type { RoutingReceipt } from './routing/receipt.js'
import { CHAT_INTENT, assertMessages, buildChatPayload, runtimeIdentityMessage, toChatCompletion } from './chat.js'
import type { ChatCompletion, ChatMessage } from './chat.js'
import { Deadline, SignalCancellation } from './deadline.js'
import { isBrowserUsable } from './endpoint-security.js'
import { runFailover } from './failover.js'
import type { AttemptError } from './failover.js'
import { HttpTransport } from './http.js'
import { parseClientOptions } from './options.js'
import type { ClientConfig, ClientOptions } from './options.js'
import { projectRequest } from './projection.js'
import type { RouteOptions, TaskLevelOptions } from './projection.js'
import { RouteDiscovery } from './route-discovery.js'
import type { RouteQuery, RouteSource } from './route-discovery.js'
import { selectNodes } from './select-node.js'
import type { Candidate, RefusalReason } from './select-node.js'
import { callNode, serializePayload } from './task-call.js'
import type { TaskCall } from './task-call.js'
import { NativePool } from './native/native-pool.js'
import { callNodeNative, nativeEndpointOf } from './native/native-task-call.js'
import { callRelayStream } from './native/relay-stream.js'
import type { NativeStreamObserver, TransportChoice } from './native/native-task-call.js'
import { ChunkBuilder, ChunkQueue, finalText, interrupted, streamChunkText } from './native/chat-stream.js'
import type { ChatCompletionChunk } from './native/chat-stream.js'
import { startTrace } from './trace.js'

/** Options of `discover()` (wire.md §1.5 query parameters). */
export interface DiscoverOptions {
  region?: string
  qos?: Qos
  /** 1..50. @default 10 */
  limit?: number
  model?: string
  minReputation?: number
  modality?: 'text' | 'image' | 'audio' | 'video'
  relayCapable?: boolean
  /** Deadline for this call, 1..120000 ms. @default the client's timeoutMs */
  timeoutMs?: number
  signal?: AbortSignal
  /** Continue the caller's W3C trace. */
  traceparent?: string
}

/** Options of `submit()`: task-level constraints plus routing, identity, tracing and cancellation. */
export interface SubmitOptions extends TaskLevelOptions {
  signal?: AbortSignal
  /** Caller-supplied UUID v4 task id (validated); a fresh one otherwise. */
  taskId?: string
  /** Continue the caller's W3C trace. */
  traceparent?: string
  tracestate?: string
  /** Explicit route options; they win over the task-level ones for routing (never sent to the node). */
  route?: RouteOptions
  /** Candidates to ask the directory for, 1..50. @default 10 */
  limit?: number
  /** Skip discovery and send to this node (e.g. one returned by `discover()`); selection rules still apply. */
  node?: NodeSummary
  /** Cap on a single attempt, so a hanging node leaves time for the next one. @default the remaining deadline */
  attemptTimeoutMs?: number
  /** Send plaintext to keyless nodes for this call. @default the client's allowPlaintext */
  allowPlaintext?: boolean
  /** Transport for this call (see ClientConfig.transport). @default the client's transport */
  transport?: TransportChoice
}

/** Options of `chat()`. */
export interface ChatOptions extends SubmitOptions {
  temperature?: number
  /** Chat intent to use. @default 'urn:iicp:intent:llm:chat:v1' */
  intent?: string
  /** Prepend an IICP runtime-identity system message (to a copy of the messages). @default false */
  runtimeIdentity?: boolean
}

/** What `discover()` returns: nodes in directory order, scores in [0, 1], at most `limit`. */
export interface NodeListResultPublic {
  readonly nodes: NodeSummary[]
  readonly count: number
  readonly relayAvailable: boolean | undefined
}

/** A completed task and how it was served. */
export interface TaskResult<R = unknown> {
  readonly taskId: string
  readonly status: 'success'
  readonly result: R
  readonly nodeId: string
  readonly endpoint: string
  readonly route: 'direct' | 'relay'
  readonly routeSource: RouteSource | 'pinned'
  readonly attempts: number
  readonly errors: readonly AttemptError[]
  readonly modelUsed: string | undefined
  readonly metrics: { readonly latency_ms?: number | undefined; readonly tokens_used?: number | undefined } | undefined
  readonly traceId: string
  readonly encrypted: boolean
  /** The redacted routing receipt: strategy, policy, eligible count, selected node prefix. */
  readonly receipt: RoutingReceipt
  /** How the task travelled: HTTP, or the node's native `transport_endpoint`. */
  readonly transport: 'http' | 'native'
}

/** Options of `chatStream()`: those of `chat()`; `transport` defaults to `auto`, since only native nodes stream. */
export type ChatStreamOptions = ChatOptions

/** A streamed call's state inside the failover loop: once a chunk reached the caller, no other node may be tried. */
interface StreamState {
  readonly observer: NativeStreamObserver
  delivered: boolean
  failure: IicpError | undefined
}

const QOS = new Set(['realtime', 'interactive', 'batch', 'best-effort'])
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

function bad(field: string, expected: string): IicpError {
  return new IicpError('validation_error', `${field} must be ${expected}`, { fields: { [field]: [expected] } })
}

function checkInt(v: unknown, field: string, min: number, max: number): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)) throw bad(field, `an integer in ${min}..${max}`)
}

function checkCommon(o: DiscoverOptions | SubmitOptions): void {
  checkInt(o.timeoutMs, 'timeoutMs', 1, MAX_TIMEOUT_MS)
  checkInt(o.limit, 'limit', 1, DISCOVER_MAX_LIMIT)
  if (o.qos !== undefined && !QOS.has(o.qos)) throw bad('qos', 'one of realtime, interactive, batch, best-effort')
  if (o.minReputation !== undefined && (typeof o.minReputation !== 'number' || !(o.minReputation >= 0 && o.minReputation <= 1))) {
    throw bad('minReputation', 'a number in 0..1')
  }
  if (o.region !== undefined && (typeof o.region !== 'string' || o.region.length === 0 || o.region.length > 64)) throw bad('region', 'a string of 1..64 characters')
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw bad('signal', 'an AbortSignal')
}

function noCandidateError(refused: readonly { reason: RefusalReason }[]): IicpError {
  const reasons = new Set(refused.map((r) => r.reason))
  if (reasons.size === 1 && reasons.has('cx_required')) {
    return new IicpError('IICP-CX-REQUIRED', 'Every candidate lacks an IICP-CX key; plaintext needs allowPlaintext')
  }
  if (reasons.has('endpoint_refused') && [...reasons].every((r) => r === 'endpoint_refused' || r === 'cx_required')) {
    return new IicpError('IICP-POLICY-ROUTING', 'Every candidate endpoint was refused by the endpoint-security policy')
  }
  if (reasons.has('breaker_open')) return new IicpError('no_available_node', 'Every eligible node has an open circuit breaker')
  return new IicpError('IICP-E033', 'No eligible node serves this intent')
}

/** Race a shared promise against one caller's deadline. */
function untilDeadline<T>(promise: Promise<T>, deadline: Deadline): Promise<T> {
  if (deadline.reason) return Promise.reject(deadline.reason)
  return new Promise<T>((resolve, reject) => {
    const unsubscribe = deadline.subscribe(reject)
    promise.then(
      (v) => {
        unsubscribe()
        resolve(v)
      },
      (e: unknown) => {
        unsubscribe()
        reject(e)
      },
    )
  })
}

/** The IICP consumer SDK (wire.md §10). */
export class IicpClient {
  readonly #o: ClientOptions
  readonly #http: HttpTransport
  readonly #routes: RouteDiscovery
  readonly #consumerTokens: ConsumerTokens | undefined
  readonly #evidenceRefs: EvidenceRefs | undefined
  readonly #breakers: CircuitBreakers
  readonly #log: Logger
  readonly #shutdown = new AbortController()
  readonly #intents = new Set<string>()
  readonly #breakerAllows = (id: string): boolean => this.#breakers.allows(id)
  readonly #redactFn = (t: string): string => this.#redact(t)
  readonly #native: NativePool
  #closed: Promise<void> | undefined

  /** Parse the config (throws `invalid_config`), build the one keep-alive Agent and the directory client. */
  constructor(config: ClientConfig = {}) {
    this.#o = parseClientOptions(config)
    this.#log = this.#o.logger.child({ component: 'iicp-client' })
    this.#http = new HttpTransport(this.#o.dispatcher, this.#o.allowPrivateEndpoints)
    this.#breakers = new CircuitBreakers(this.#o.breakerFailureThreshold, this.#o.breakerOpenMs, this.#o.clock)
    this.#native = new NativePool({
      allowPrivateEndpoints: this.#o.allowPrivateEndpoints,
      connectTimeoutMs: Math.min(10_000, this.#o.timeoutMs),
      keepaliveIntervalMs: this.#o.nativeKeepaliveIntervalMs,
      pongTimeoutMs: this.#o.nativePongTimeoutMs,
    })
    const directory = new FederatedDirectory(this.#http, {
      directoryUrl: this.#o.directoryUrl,
      clock: this.#o.clock,
      logger: this.#log,
      allowPrivate: this.#o.allowPrivateEndpoints,
      verifyReplicaSignatures: this.#o.verifyReplicaSignatures,
    })
    this.#routes = new RouteDiscovery(directory, {
      mode: this.#o.routeDiscovery,
      cacheMs: this.#o.routeCacheMs,
      clock: this.#o.clock,
      logger: this.#log,
    })
    const mode = this.#o.consumerAuthMode
    this.#consumerTokens = mode !== 'disabled' && this.#o.nodeToken !== undefined
      ? new ConsumerTokens(directory, {
        nodeToken: this.#o.nodeToken, mode, clock: this.#o.clock, logger: this.#log,
        fetchCancel: () => new SignalCancellation(AbortSignal.any([this.#shutdown.signal, AbortSignal.timeout(this.#o.timeoutMs)])),
      })
      : undefined
    this.#evidenceRefs = this.#o.ranker ? new EvidenceRefs() : undefined
    if (this.#o.routingPolicy.profile === 'debug_override') {
      this.#log.warn({ routing_policy: 'debug_override' }, 'routing policy debug_override: keyless nodes may receive plaintext payloads')
    }
  }

  /** The effective configuration with the node token redacted. */
  get config(): Readonly<Record<string, unknown>> {
    const o = this.#o
    return Object.freeze({
      directoryUrl: o.directoryUrl, timeoutMs: o.timeoutMs, region: o.region,
      nodeToken: o.nodeToken === undefined ? undefined : '[redacted]',
      allowPrivateEndpoints: o.allowPrivateEndpoints, allowPlaintext: o.allowPlaintext, routeDiscovery: o.routeDiscovery,
      selection: o.selection, selectionTopK: o.selectionTopK, selectionEpsilon: o.selectionEpsilon, selectionSoftmaxTau: o.selectionSoftmaxTau,
      selectionSeed: o.selectionSeed, routingPolicy: o.routingPolicy.profile, ranker: o.ranker !== undefined, consumerAuthMode: o.consumerAuthMode,
      verifyReplicaSignatures: o.verifyReplicaSignatures, maxAttempts: o.maxAttempts, retryBaseDelayMs: o.retryBaseDelayMs,
      routeCacheMs: o.routeCacheMs, breakerFailureThreshold: o.breakerFailureThreshold, breakerOpenMs: o.breakerOpenMs,
      transport: o.transport, nativeKeepaliveIntervalMs: o.nativeKeepaliveIntervalMs, nativePongTimeoutMs: o.nativePongTimeoutMs,
    })
  }

  /** `GET /v1/discover` (wire.md §1.5; SDK-DISC-01/02): nodes in directory order, at most `limit`. */
  async discover(intent: string, options: DiscoverOptions = {}): Promise<NodeListResultPublic> {
    this.#assertOpen()
    this.#checkIntent(intent)
    checkCommon(options)
    const deadline = new Deadline(options.timeoutMs ?? this.#o.timeoutMs, this.#o.clock, options.signal)
    try {
      const trace = startTrace(options.traceparent)
      return await this.#routes.discover({
        intent,
        region: options.region ?? this.#o.region,
        qos: options.qos,
        model: options.model,
        minReputation: options.minReputation,
        limit: options.limit ?? DISCOVER_DEFAULT_LIMIT,
        modality: options.modality,
        relayCapable: options.relayCapable,
      }, trace, deadline)
    } catch (err) {
      throw this.#surface(err, deadline)
    } finally {
      deadline.dispose()
    }
  }

  /** Run one task on the mesh (wire.md §10): route, select, send with failover; resolves with the serving node's result. */
  async submit<R = unknown>(intent: string, payload: unknown, options: SubmitOptions = {}): Promise<TaskResult<R>> {
    return this.#run<R>(intent, payload, options, undefined)
  }

  async #run<R>(intent: string, payload: unknown, options: SubmitOptions, stream: StreamState | undefined): Promise<TaskResult<R>> {
    this.#assertOpen()
    this.#checkIntent(intent)
    checkCommon(options)
    if (options.taskId !== undefined && (typeof options.taskId !== 'string' || !UUID_V4.test(options.taskId))) throw bad('taskId', 'a UUID v4')
    checkInt(options.attemptTimeoutMs, 'attemptTimeoutMs', 1, MAX_TIMEOUT_MS)
    checkInt(options.maxTokens, 'maxTokens', 1, 10_000_000)
    if (options.transport !== undefined && options.transport !== 'auto' && options.transport !== 'http' && options.transport !== 'native') throw bad('transport', 'one of auto, http, native')
    const transport = options.transport ?? this.#o.transport
    // Once, before discovery: every transport and IICP-CX send this text, and a payload JSON cannot carry is the caller's error.
    const payloadJson = serializePayload(payload)
    const taskId = options.taskId ?? randomUUID()
    const route = options.limit === undefined ? options.route : { limit: options.limit, ...options.route }
    const projected = projectRequest({ region: this.#o.region, timeoutMs: this.#o.timeoutMs }, options, route)
    const deadline = new Deadline(projected.execution.timeoutMs, this.#o.clock, options.signal)
    try {
      const trace = startTrace(options.traceparent, options.tracestate)
      let nodes: readonly NodeSummary[]
      let source: RouteSource | 'pinned'
      if (options.node) {
        nodes = [options.node]
        source = 'pinned'
      } else {
        const query: RouteQuery = {
          intent, region: projected.route.region, qos: projected.route.qos, model: projected.route.model,
          minReputation: projected.route.minReputation, limit: projected.route.limit, profileRequest: projected.route.profileRequest,
        }
        const found = await untilDeadline(this.#routes.routes(query, trace, () => new SignalCancellation(AbortSignal.any([this.#shutdown.signal, AbortSignal.timeout(this.#o.timeoutMs)]))), deadline)
        nodes = found.nodes
        source = found.source
      }
      if (projected.route.browserUsableOnly) {
        nodes = nodes.filter(isBrowserUsable)
      }
      if (nodes.length === 0) throw new IicpError('IICP-E033', 'No nodes available for this intent')
      // dir §3.4.1: the routing policy runs on directory metadata only, before anything is sent to a node.
      const policy = this.#o.routingPolicy
      const verdict = applyRoutingPolicy(nodes, policy)
      if (verdict.allowed.length === 0) throw policyRoutingError(policy, verdict.refused)
      const selection = selectNodes(verdict.allowed, {
        intent,
        allowPrivateEndpoints: this.#o.allowPrivateEndpoints,
        allowPlaintext: verdict.allowPlaintext || (options.allowPlaintext ?? this.#o.allowPlaintext),
        strategy: this.#o.selection,
        topK: this.#o.selectionTopK,
        epsilon: this.#o.selectionEpsilon,
        softmaxTau: this.#o.selectionSoftmaxTau,
        random: this.#o.selectionRandom,
        breakerAllows: this.#breakerAllows,
        model: projected.route.model,
      })
      if (selection.candidates.length === 0) throw noCandidateError(selection.refused)
      let candidates = selection.candidates
      let selectionProfile: string = this.#o.selection
      const ranker = this.#o.ranker
      if (ranker && this.#evidenceRefs) {
        const ranked = await untilDeadline(consultRanker(ranker, candidates, this.#evidenceRefs, { intent, strategy: selectionProfile, signal: deadline.signal }), deadline)
        candidates = ranked.candidates
        selectionProfile = `external_ranker/${selectionProfile}/${ranked.mode}`
      }
      const consumerTokens = this.#consumerTokens
      let usedConsumerToken: Set<string> | undefined
      const outcome = await runFailover(candidates, {
        maxAttempts: this.#o.maxAttempts,
        baseDelayMs: this.#o.retryBaseDelayMs,
        attemptTimeoutMs: options.attemptTimeoutMs,
        deadline,
        breakers: this.#breakers,
        random: this.#o.random,
        clock: this.#o.clock,
        sleep: this.#o.sleep,
        logger: this.#log,
        redact: this.#redactFn,
      }, async (candidate: Candidate, cancel) => {
        const consumerToken = consumerTokens ? await consumerTokens.tokenFor(candidate.nodeId, intent, trace, cancel) : undefined
        if (consumerToken !== undefined) (usedConsumerToken ??= new Set()).add(candidate.nodeId)
        try {
          const taskCall: TaskCall = {
            http: this.#http,
            candidate,
            taskId,
            intent,
            payloadJson,
            constraints: projected.execution,
            // Read now, after any consumer-token fetch, so timeout_ms is what is really left of the deadline.
            timeoutMs: deadline.remaining(),
            trace,
            nodeToken: this.#o.nodeToken,
            consumerToken,
            allowPrivateEndpoints: this.#o.allowPrivateEndpoints,
            cancel,
          }
          // The native wire has no consumer-token field, so such calls stay on HTTP.
          const endpoint = transport === 'http' || consumerToken !== undefined ? undefined : nativeEndpointOf(candidate)
          if (endpoint === undefined) {
            // A relay route can stream as server-sent events (its TCP workers answer with lifecycle frames).
            if (stream !== undefined && candidate.route === 'relay') return await callRelayStream(taskCall, this.#http.dispatcher, stream.observer)
            const sent = await callNode(taskCall)
            // Field by field: on Node 20 an object spread followed by one more key costs microseconds per call.
            return { response: sent.response, result: sent.result, encrypted: sent.encrypted, transport: 'http' as const }
          }
          return await callNodeNative(taskCall, { pool: this.#native, endpoint, transport: transport === 'native' ? 'native' : 'auto', observer: stream?.observer })
        } catch (err) {
          // A refused token is dropped so the next attempt fetches a fresh one.
          if (consumerToken !== undefined && isIicpError(err) && err.status === 401) consumerTokens?.forget(candidate.nodeId, intent)
          if (stream?.delivered === true && isIicpError(err)) {
            stream.failure = interrupted(err)
            throw new IicpError('aborted', 'Stream interrupted after delivery')
          }
          throw err
        }
      })
      const { value, candidate } = outcome
      const receipt = routingReceipt({
        selection_profile: selectionProfile,
        routing_policy: policy.profile,
        route_source: source,
        eligible_candidate_count: candidates.length,
        refused_candidate_count: verdict.refused.length + selection.refused.length,
        nodeId: candidate.nodeId,
        selected_region: candidate.node.region ?? null,
        consumer_auth: usedConsumerToken?.has(candidate.nodeId) === true ? 'consumer_token' : this.#o.nodeToken !== undefined ? 'node_token' : 'none',
      })
      return {
        taskId,
        status: 'success',
        result: value.result as R,
        nodeId: candidate.nodeId,
        endpoint: candidate.node.endpoint ?? candidate.origin,
        route: candidate.route,
        routeSource: source,
        attempts: outcome.attempts,
        errors: outcome.errors,
        modelUsed: value.response.model_used ?? undefined,
        metrics: value.response.metrics ?? undefined,
        traceId: trace.context.traceId,
        encrypted: value.encrypted,
        receipt,
        transport: value.transport,
      }
    } catch (err) {
      const surfaced = this.#surface(stream?.failure ?? err, deadline)
      if (surfaced.code === 'no_available_node' || surfaced.code === 'IICP-E033') this.#routes.invalidate()
      throw surfaced
    } finally {
      deadline.dispose()
    }
  }

  /** Chat Completions over `urn:iicp:intent:llm:chat:v1` (spec SDK-02); the caller's messages are left untouched. */
  async chat(messages: readonly ChatMessage[], options: ChatOptions = {}): Promise<ChatCompletion> {
    this.#assertOpen()
    const intent = options.intent ?? CHAT_INTENT
    this.#checkIntent(intent)
    assertMessages(messages)
    if (options.temperature !== undefined && (typeof options.temperature !== 'number' || !(options.temperature >= 0 && options.temperature <= 2))) {
      throw bad('temperature', 'a number in 0..2')
    }
    const payload = buildChatPayload(messages, {
      model: options.model,
      maxTokens: options.maxTokens,
      temperature: options.temperature,
      prepend: options.runtimeIdentity === true ? runtimeIdentityMessage(intent, SDK_VERSION) : undefined,
    })
    const { intent: _intent, runtimeIdentity: _ri, temperature: _t, ...submitOptions } = options
    const r = await this.submit(intent, payload, submitOptions)
    try {
      return toChatCompletion(r.result, { taskId: r.taskId, nodeId: r.nodeId, attempts: r.attempts, route: r.route, modelUsed: r.modelUsed, now: this.#o.clock() })
    } catch (err) {
      throw this.#surface(err, undefined)
    }
  }

  /**
   * Chat Completions as a stream of OpenAI `chat.completion.chunk` objects (official-sdks.md §6.4): chunk by chunk
   * from a node that streams over its native transport, or one chunk with the whole answer from any other node.
   * Routing, retries, deadline, IICP-CX and errors are those of `submit()`; once a chunk was yielded no other node
   * is tried. Breaking out of the loop, or aborting `signal`, also stops the task on the node: a native stream runs on a
   * session of its own, which that closes (the wire has no per-call cancel frame; a node aborts a closed session's tasks).
   */
  async *chatStream(messages: readonly ChatMessage[], options: ChatStreamOptions = {}): AsyncGenerator<ChatCompletionChunk, void, void> {
    this.#assertOpen()
    const intent = options.intent ?? CHAT_INTENT
    this.#checkIntent(intent)
    assertMessages(messages)
    if (options.temperature !== undefined && (typeof options.temperature !== 'number' || !(options.temperature >= 0 && options.temperature <= 2))) {
      throw bad('temperature', 'a number in 0..2')
    }
    const payload = buildChatPayload(messages, {
      model: options.model,
      maxTokens: options.maxTokens,
      temperature: options.temperature,
      prepend: options.runtimeIdentity === true ? runtimeIdentityMessage(intent, SDK_VERSION) : undefined,
    })
    const { intent: _intent, runtimeIdentity: _ri, temperature: _t, signal: callerSignal, ...submitOptions } = options
    const taskId = options.taskId ?? randomUUID()
    const chunks = new ChunkBuilder(`chatcmpl-${taskId}`, Math.floor(this.#o.clock() / 1000), options.model)
    const queue = new ChunkQueue<ChatCompletionChunk>()
    let streamedText = false
    const state: StreamState = {
      delivered: false,
      failure: undefined,
      observer: {
        onChunk: (chunk) => {
          const text = streamChunkText(chunk)
          if (text === undefined || text === '') return
          streamedText = true
          state.delivered = true
          queue.push(chunks.delta(text))
        },
      },
    }
    const stop = new AbortController()
    const signal = callerSignal === undefined ? stop.signal : AbortSignal.any([callerSignal, stop.signal])
    const run = this.#run(intent, payload, { ...submitOptions, taskId, signal, transport: options.transport ?? 'auto' }, state)
    run.then((r) => {
      const final = finalText(r.result)
      if (final.model !== undefined) chunks.model = final.model
      else if (r.modelUsed !== undefined) chunks.model = r.modelUsed
      if (!streamedText && final.text !== undefined && final.text !== '') queue.push(chunks.delta(final.text))
      queue.push(chunks.end(final.finishReason, final.usage, { node_id: r.nodeId, task_id: r.taskId, attempts: r.attempts, route: r.route, transport: r.transport }))
      queue.end()
    }, (err: unknown) => queue.end(isIicpError(err) ? err : new IicpError('invalid_response', 'Unexpected client failure', { cause: err })))
    try {
      yield* queue.drain()
    } finally {
      stop.abort(new IicpError('aborted', 'Stream reader stopped'))
      await run.catch(() => undefined)
    }
  }

  /** Close the keep-alive pool and native connections, and refuse new calls. Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#shutdown.abort(new IicpError('aborted', 'Client is closed'))
      this.#closed = Promise.all([this.#http.close(), this.#native.close()]).then(() => undefined)
    }
    return this.#closed
  }

  /** `await using client = new IicpClient(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** A redacted summary: never the token. */
  toJSON(): Record<string, unknown> {
    return { client: '@iicp/client', ...this.config }
  }

  /** util.inspect shows the redacted config only. */
  [inspect.custom](): string {
    return `IicpClient ${inspect(this.config)}`
  }

  #assertOpen(): void {
    if (this.#closed) throw new IicpError('aborted', 'Client is closed')
  }

  #checkIntent(intent: string): void {
    if (this.#intents.has(intent)) return
    const err = validateIntent(intent)
    if (err) throw err
    if (this.#intents.size < 1024) this.#intents.add(intent)
  }

  #redact(text: string): string {
    const token = this.#o.nodeToken
    return token !== undefined && text.includes(token) ? text.split(token).join('[redacted]') : text
  }

  /** Every failure leaves as an IicpError with the token scrubbed (SDK-ERR-01, spec SDK-06). */
  #surface(err: unknown, deadline: Deadline | undefined): IicpError {
    let e: IicpError
    if (isIicpError(err)) e = err
    else if (deadline?.abortKind) e = deadline.error()
    else e = new IicpError('invalid_response', 'Unexpected client failure', { cause: err })
    const token = this.#o.nodeToken
    if (token === undefined || !e.message.includes(token)) return e
    return new IicpError(e.code, this.#redact(e.message), {
      ...(e.status === undefined ? {} : { status: e.status }), retryable: e.retryable,
      ...(e.extra ? { extra: e.extra } : {}), ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }),
    })
  }
}
