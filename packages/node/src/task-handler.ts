/**
 * The task path (IICP-core §3; wire.md §2.2–2.4): bytes in, one HTTP answer out. Parse once, validate
 * (a hand-rolled check of the hot fields, the protocol schema whenever that check is unsure), authorise,
 * admit, run the handler under its deadline, and wrap the handler's inner result exactly once.
 * The HTTP server and a relay worker feed the same {@link TaskPipeline.handle}.
 */
import { timingSafeEqual } from 'node:crypto'
import {
  IicpError, IntentUrnSchema, TaskRequestSchema, decryptRequest, encryptResponse, isIicpError, parseTraceparent, safeParseWire,
} from '@iicp/protocol'
import type { CxResponseContext, Logger, Qos, TaskRequest } from '@iicp/protocol'
import type { Backend } from './backends/backend.js'
import { verifyConsumerToken } from './consumer-token.js'
import { JSON_HEADERS, renderError, tracedJsonHeaders } from './http/render-error.js'
import type { HttpReply } from './http/render-error.js'
import type { NodeMetrics, TaskOutcome } from './metrics.js'
import type { NodeIdentity } from './node-identity.js'
import { collectStream, isAsyncIterable } from './native/task-stream.js'
import type { TaskStreamSink } from './native/task-stream.js'
import type { ResolvedNodeOptions } from './options.js'
import { taskFingerprint } from './guards/idempotency.js'
import { taskGuards } from './guards/task-guards.js'
import type { TaskGuards } from './guards/task-guards.js'

/**
 * An object a handler may return: anything without a `result` key. A value shaped like
 * `{ result: … }` is an envelope, and envelopes are the node's job (official-sdks §8.1), so the type
 * refuses it; the runtime also unwraps one defensively.
 */
export type InnerObject =
  | (object & { readonly result?: never; readonly then?: never })
  | { readonly [key: string]: unknown; readonly result?: never; readonly then?: never }

/** What a task handler returns: the inner result (e.g. an OpenAI chat.completion), never an envelope. */
export type InnerResult = string | number | boolean | null | readonly unknown[] | InnerObject

/** The task as a handler sees it (SDK-NODE-02): decrypted payload, validated fields. */
export interface TaskInput {
  readonly taskId: string
  readonly intent: string
  /** Intent-specific input; already decrypted for IICP-CX requests. Never log it. */
  readonly payload: unknown
  /** The validated request envelope (without `iicp_conf` secrets being meaningful to the handler). */
  readonly request: TaskRequest
}

/** Per-task context (SDK-NODE-02). */
export interface TaskContext {
  /** Aborts on `constraints.timeout_ms` or shutdown; pass it to backend calls. */
  readonly signal: AbortSignal
  /** The model this task runs on: `payload.model` when served, else the capability's first model. */
  readonly model: string | undefined
  /** Milliseconds budget from receipt (constraints.timeout_ms or the node default). */
  readonly timeoutMs: number
  /** Epoch ms after which the node answers `task_timeout`. */
  readonly deadline: number
  readonly qos: Qos
  /** Incoming W3C traceparent, if any. */
  readonly traceparent: string | undefined
  /** Trace id to propagate to backends as `X-IICP-Trace-Id` (sem §10.1). */
  readonly traceId: string | undefined
  /** Whether the request came IICP-CX encrypted. */
  readonly encrypted: boolean
  readonly nodeId: string
  readonly logger: Logger
  /** Whether the caller receives chunks as they come (a native streaming CALL); a handler may stream either way. */
  readonly streaming?: boolean
}

/**
 * A streaming result (official-sdks.md §6.4): an async iterable of chunks, each an inner value (a text piece,
 * `{delta}`, or an OpenAI `chat.completion.chunk`), never an envelope. Native callers that asked for streaming
 * get each chunk as a lifecycle event; everyone else gets the chunks assembled into one result (or the
 * generator's return value, when it has one).
 */
export type StreamingResult = AsyncIterable<InnerResult>

/** A task handler: gets the request and its context, returns the inner result or a stream of chunks (SDK-NODE-02). */
export type TaskHandler = (task: TaskInput, ctx: TaskContext) => InnerResult | StreamingResult | Promise<InnerResult | StreamingResult>

/** Request headers with lower-case names (node:http's IncomingHttpHeaders fits). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>

/** Keys of a task response envelope; an object made only of these (with `result`) is unwrapped once. */
const ENVELOPE_KEYS = new Set(['result', 'task_id', 'status', 'metrics', 'model_used', 'error', 'generated_by_ai', 'node_id', 'trace'])
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$/
const HEX32_RE = /^[0-9a-f]{32}$/
const QOS_VALUES = new Set(['realtime', 'interactive', 'batch', 'best-effort'])
/** Top-level keys the fast check understands; anything else goes through the schema. */
const FAST_KEYS = new Set(['task_id', 'intent', 'payload', 'constraints', 'trace', 'auth', 'nonce'])
const TIMEOUT = Symbol('timeout')
const CANCELLED = Symbol('cancelled')

/**
 * Unwrap a value that is itself a task envelope (`{result, …}` with only envelope keys) so a handler
 * that returns one never produces a double-nested response. Anything else passes through.
 */
export function normalizeResult(value: unknown): unknown {
  if (value === undefined) return null
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, 'result')) return value
  for (const key of Object.keys(value)) if (!ENVELOPE_KEYS.has(key)) return value
  const inner = (value as { result: unknown }).result
  return inner === undefined ? null : inner
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * True when a parsed body is certainly a valid plaintext task request for an intent in `served`
 * (whose URNs the node checked with the protocol schema at construction); false means "ask the
 * schema". It never accepts what TaskRequestSchema rejects (pinned by a property test).
 */
export function fastValidTask(b: unknown, served: ReadonlySet<string>): b is TaskRequest {
  if (!isPlainObject(b)) return false
  for (const k in b) if (!FAST_KEYS.has(k)) return false
  const { task_id: id, intent, payload, constraints: c, trace: t, auth: a, nonce } = b
  if (typeof id !== 'string' || !UUID_RE.test(id)) return false
  if (typeof intent !== 'string' || !served.has(intent)) return false
  if (!isPlainObject(payload)) return false
  if (nonce !== undefined && (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > 128)) return false
  if (c !== undefined) {
    if (!isPlainObject(c)) return false
    const ms = c.timeout_ms
    if (ms !== undefined && (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 100 || ms > 300_000)) return false
    if (c.qos !== undefined && !QOS_VALUES.has(c.qos as string)) return false
    if (c.qos_class !== undefined && !QOS_VALUES.has(c.qos_class as string)) return false
    for (const k in c) if (k !== 'timeout_ms' && k !== 'qos' && k !== 'qos_class') return false
  }
  if (t !== undefined) {
    if (!isPlainObject(t)) return false
    for (const k in t) {
      const v = t[k]
      if ((k !== 'trace_id' && k !== 'span_id') || typeof v !== 'string' || v.length === 0 || v.length > 64) return false
    }
  }
  if (a !== undefined) {
    if (!isPlainObject(a) || typeof a.node_token !== 'string' || a.node_token.length === 0) return false
    for (const k in a) if (k !== 'node_token') return false
  }
  return true
}

function header(headers: RequestHeaders, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8')
  const b = Buffer.from(expected, 'utf8')
  // Compare against itself on a length mismatch so the time taken does not depend on where they differ.
  if (a.length !== b.length) return timingSafeEqual(b, b) && false
  return timingSafeEqual(a, b)
}

/**
 * Bounded memory of recent task ids (TASK-2): a ring of the last `capacity` ids plus a Set for lookup.
 * The ring evicts in O(1); evicting through a Set's iterator would rescan its deleted slots every time.
 */
class RecentTaskIds {
  private readonly ids = new Set<string>()
  private readonly ring: Array<string | undefined>
  private next = 0

  constructor(private readonly capacity: number) {
    this.ring = new Array<string | undefined>(capacity)
  }

  has(id: string): boolean {
    return this.ids.has(id)
  }

  delete(id: string): void {
    // The ring slot stays. If the id is sent again it takes a second slot, and the older slot's eviction
    // forgets it early: a duplicate inside the window can then slip through, never a fresh id be refused.
    this.ids.delete(id)
  }

  add(id: string): void {
    if (this.capacity === 0) return
    const evicted = this.ring[this.next]
    if (evicted !== undefined) this.ids.delete(evicted)
    this.ring[this.next] = id
    this.next = (this.next + 1) % this.capacity
    this.ids.add(id)
  }
}

interface Route {
  readonly models: ReadonlySet<string>
  readonly defaultModel: string | undefined
  readonly handlers: ReadonlyMap<string, TaskHandler>
  readonly fallback: TaskHandler | undefined
}

/**
 * One running task, and the context its handler sees. The AbortController behind `signal` is only built
 * when the handler reads it (it costs more than the rest of the task path together for a fast handler);
 * timeout and shutdown still end the task through `settle` either way.
 */
class TaskRun implements TaskContext {
  private controller: AbortController | undefined
  /** Why the task ended early, once it did. */
  reason: typeof TIMEOUT | typeof CANCELLED | undefined
  /** Resolves the race against the handler's promise; set only while one is pending. */
  settle: ((why: typeof TIMEOUT | typeof CANCELLED) => void) | undefined
  task: TaskRequest | undefined
  started = 0
  cxContext: CxResponseContext | undefined
  outer: AbortSignal | undefined
  onOuterAbort: (() => void) | undefined
  sink: TaskStreamSink | undefined
  streaming = false

  constructor(
    readonly model: string | undefined,
    readonly timeoutMs: number,
    readonly deadline: number,
    readonly qos: Qos,
    readonly traceparent: string | undefined,
    readonly traceId: string | undefined,
    readonly encrypted: boolean,
    readonly nodeId: string,
    readonly logger: Logger,
  ) {}

  get signal(): AbortSignal {
    this.controller ??= new AbortController()
    if (this.reason !== undefined && !this.controller.signal.aborted) this.controller.abort(this.reason)
    return this.controller.signal
  }

  /** End the task early: abort the handler's signal (if it took one) and stop waiting for it. */
  end(why: typeof TIMEOUT | typeof CANCELLED): void {
    if (this.reason !== undefined) return
    this.reason = why
    this.controller?.abort(why)
    this.settle?.(why)
  }
}

/** The shared task pipeline of one node. */
export class TaskPipeline {
  private readonly routes = new Map<string, Route>()
  private readonly served = new Set<string>()
  private readonly recent: RecentTaskIds
  private readonly running = new Set<TaskRun>()
  private idleWaiters: Array<() => void> = []
  private activeJobs = 0
  private draining = false
  private readonly log: Logger
  private readonly guards: TaskGuards
  /** The constant end of every success envelope, built for the node id it names. */
  private tail = ''
  private tailFor: string | undefined

  constructor(
    private readonly opts: ResolvedNodeOptions,
    private readonly identity: NodeIdentity,
    private readonly metrics: NodeMetrics,
  ) {
    this.recent = new RecentTaskIds(opts.recentTaskIds)
    this.log = opts.logger.child({ component: 'iicp-node.task' })
    // A failed task forgets its id everywhere, so an idempotent retry may run it again.
    this.guards = taskGuards(opts, (id) => this.recent.delete(id))
    for (const cap of opts.capabilities) {
      const handlers = new Map<string, TaskHandler>()
      let fallback: TaskHandler | undefined = opts.handler
      for (const b of opts.backends as Backend[]) {
        if (!b.intents.includes(cap.intent)) continue
        fallback ??= b.handle
        for (const m of b.models) if (!handlers.has(m)) handlers.set(m, b.handle)
      }
      if (!IntentUrnSchema.safeParse(cap.intent).success) throw new IicpError('invalid_config', `capability intent ${JSON.stringify(cap.intent)} is not a valid intent URN`)
      this.routes.set(cap.intent, { models: new Set(cap.models), defaultModel: cap.models[0], handlers, fallback })
      this.served.add(cap.intent)
    }
  }

  /** Tasks running now. */
  get active(): number {
    return this.activeJobs
  }

  /**
   * Serve a changed model list for one intent (model drift, upkeep/model-drift.ts): tasks naming a new
   * model route to the backend that reported it; a withdrawn model answers IICP-E029.
   */
  updateModels(intent: string, models: readonly string[], handlers: ReadonlyMap<string, TaskHandler>): void {
    const r = this.routes.get(intent)
    if (r === undefined) return
    const merged = new Map(r.handlers)
    for (const [m, h] of handlers) merged.set(m, h)
    const defaultModel = r.defaultModel !== undefined && models.includes(r.defaultModel) ? r.defaultModel : models[0]
    this.routes.set(intent, { models: new Set(models), defaultModel, handlers: merged, fallback: r.fallback })
  }

  /** Stop admitting tasks (they get 503) and resolve once in-flight ones finish or `timeoutMs` passes. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true
    if (this.activeJobs === 0) return true
    let timer: ReturnType<typeof setTimeout> | undefined
    const idle = new Promise<boolean>((resolve) => {
      this.idleWaiters.push(() => resolve(true))
      timer = setTimeout(() => resolve(false), timeoutMs)
    })
    const done = await idle
    clearTimeout(timer)
    return done
  }

  /** Cancel every running task (after a drain timed out). */
  cancelAll(): void {
    for (const r of this.running) r.end(CANCELLED)
  }

  /** Admit new tasks again (a node that is served after being closed). */
  resume(): void {
    this.draining = false
  }

  /**
   * Handle one `POST /v1/task`: raw body bytes (or an already parsed value), lower-case headers, an
   * optional signal (e.g. the relay session closing), and an optional sink that receives a streaming
   * handler's chunks as they come (official-sdks.md §6.4). Always resolves with an HTTP answer.
   */
  handle(raw: string | Uint8Array | object, headers: RequestHeaders, signal?: AbortSignal, sink?: TaskStreamSink): Promise<HttpReply> {
    const reply = this.process(raw, headers, signal, sink)
    return isThenable(reply) ? reply : Promise.resolve(reply)
  }

  /**
   * {@link handle}, answering synchronously when nothing on the way is asynchronous (a plaintext task
   * whose handler returns a value): the HTTP server's fast path, free of promise hops.
   */
  process(raw: string | Uint8Array | object, headers: RequestHeaders, signal?: AbortSignal, sink?: TaskStreamSink): HttpReply | Promise<HttpReply> {
    const started = performance.now()
    const limiter = this.guards.originLimit
    if (limiter !== undefined) {
      const origin = header(headers, 'origin')
      const limited = origin === undefined ? undefined : limiter.admit(origin, this.opts.timers.now())
      if (limited !== undefined) return renderError(limited)
    }
    let body: unknown
    if (typeof raw === 'string' || raw instanceof Uint8Array) {
      try {
        // toString() without arguments is Buffer's direct UTF-8 path; naming the encoding adds a lookup per request.
        body = JSON.parse(typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString() : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString())
      } catch {
        return renderError(new IicpError('invalid_json'))
      }
    } else {
      body = raw
    }
    let task: TaskRequest
    if (fastValidTask(body, this.served)) {
      task = body
    } else {
      const parsed = safeParseWire(TaskRequestSchema, body)
      if (!parsed.ok) return renderError(parsed.error)
      task = parsed.value
    }
    const hasConf = task.iicp_conf !== undefined
    if (!hasConf && task.payload === undefined) {
      return renderError(new IicpError('validation_error', 'Input validation failed', { fields: { payload: ['payload is required unless iicp_conf is present'] } }))
    }
    const c = task.constraints
    const qos: Qos = c?.qos_class ?? c?.qos ?? 'best-effort'
    const route = this.routes.get(task.intent)
    if (route === undefined) return this.reject(task.intent, qos, new IicpError('unknown_intent', 'Intent not served by this node'))

    if (this.opts.auth === 'token') {
      const denied = this.authorize(task, headers)
      if (denied) return this.reject(task.intent, qos, denied)
    }
    if (this.draining) return this.reject(task.intent, qos, new IicpError('service_unavailable', 'Node is shutting down', { retryAfterMs: 1000 }))
    const { nonces, idempotency } = this.guards
    const nonce = nonces === undefined ? undefined : task.nonce
    if (nonce !== undefined) {
      const replay = (nonces as NonNullable<typeof nonces>).check(nonce, this.opts.timers.now())
      if (replay !== undefined) return this.reject(task.intent, qos, replay)
    }
    let fingerprint: string | undefined
    if (idempotency !== undefined) {
      fingerprint = taskFingerprint(task)
      const found = idempotency.lookup(task.task_id, fingerprint, this.opts.timers.now())
      if (found.kind === 'hit') return found.reply
      if (found.kind === 'conflict') return this.reject(task.intent, qos, found.error)
    }
    if (this.recent.has(task.task_id)) return this.reject(task.intent, qos, new IicpError('conflict', 'Duplicate task_id'))
    if (this.activeJobs >= this.opts.maxConcurrent) {
      return this.reject(task.intent, qos, new IicpError('capacity_exceeded', 'Node at capacity', { retryAfterMs: this.opts.retryAfterMs, extra: { qos_class: qos } }))
    }
    if (task.cx_response_encryption === 'required' && !hasConf) {
      return this.reject(task.intent, qos, new IicpError('IICP-CX-03', 'Encrypted response requested without an encrypted request'))
    }
    if (nonce !== undefined) nonces?.record(nonce, this.opts.timers.now())
    this.recent.add(task.task_id)
    this.activeJobs++
    const reply = hasConf
      ? this.executeEncrypted(task, route, qos, headers, signal, started, sink)
      : this.execute(task, route, qos, headers, signal, started, task.payload, undefined, sink)
    let out: HttpReply | Promise<HttpReply>
    if (!isThenable(reply)) {
      out = this.settled(task.task_id, reply)
    } else {
      out = reply.then(
        (r) => this.settled(task.task_id, r),
        (err: unknown) => this.settled(task.task_id, renderError(err)),
      )
    }
    if (fingerprint !== undefined) idempotency?.begin(task.task_id, fingerprint, out, this.opts.timers.now())
    return out
  }

  /** Account for a task's reply once it exists. */
  private settled(taskId: string, reply: HttpReply): HttpReply {
    this.release()
    // A task that failed on this node's side (5xx) produced no result, so its id is free again: the consumer's
    // retry with the same task_id must run, not meet 409 Duplicate task_id (task-time semantics: one result per id).
    if (reply.status >= 500) this.recent.delete(taskId)
    return reply
  }

  private release(): void {
    this.activeJobs--
    if (this.activeJobs === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiters) w()
    }
  }

  private reject(intent: string, qos: string, err: IicpError): HttpReply {
    // Only intents this node serves become label values, so the metric's cardinality stays bounded.
    if (this.routes.has(intent)) this.metrics.task(intent, qos, 'rejected', 0, undefined)
    return renderError(err)
  }

  /** A task refused before its handler ran did not happen: its id may be sent again. */
  private refuseBeforeHandler(task: TaskRequest, qos: string, err: IicpError): HttpReply {
    this.recent.delete(task.task_id)
    return this.reject(task.intent, qos, err)
  }

  private authorize(task: TaskRequest, headers: RequestHeaders): IicpError | undefined {
    const consumerToken = header(headers, 'x-iicp-consumer-token')
    const key = this.identity.directoryKey
    if (consumerToken !== undefined && key !== undefined) {
      const r = verifyConsumerToken(consumerToken, { key, nodeId: this.identity.nodeId, intent: task.intent, nowSeconds: Math.floor(this.opts.timers.now() / 1000) })
      if (r.ok) return undefined
      this.log.debug({ reason: r.reason }, 'consumer token refused')
    }
    const own = this.identity.nodeToken
    const authz = header(headers, 'authorization')
    const bearer = authz !== undefined && /^bearer /i.test(authz) ? authz.slice(7).trim() : undefined
    const given = task.auth?.node_token ?? bearer
    if (own !== undefined && given !== undefined && given.length > 0 && sameSecret(given, own)) return undefined
    return new IicpError('unauthorized', 'Missing or invalid credentials')
  }

  private async executeEncrypted(task: TaskRequest, route: Route, qos: Qos, headers: RequestHeaders, signal: AbortSignal | undefined, started: number, sink: TaskStreamSink | undefined): Promise<HttpReply> {
    const pair = this.identity.cxKeyPair
    if (pair === undefined || task.iicp_conf === undefined) return this.refuseBeforeHandler(task, qos, new IicpError('IICP-CX-01', 'This node does not accept IICP-CX requests', { status: 400 }))
    let dec: { payload: unknown; responseContext: CxResponseContext }
    try {
      dec = await decryptRequest({ iicpConf: task.iicp_conf, taskId: task.task_id, intent: task.intent, keyPair: pair })
    } catch (err) {
      // The cause can describe key material; the consumer only learns that decryption failed.
      return this.refuseBeforeHandler(task, qos, isIicpError(err) && err.code.startsWith('IICP-') ? err : new IicpError('IICP-CX-02', 'iicp_conf decrypt failed'))
    }
    return this.execute(task, route, qos, headers, signal, started, dec.payload, dec.responseContext, sink)
  }

  private execute(
    task: TaskRequest, route: Route, qos: Qos, headers: RequestHeaders, signal: AbortSignal | undefined, started: number,
    payload: unknown, cxContext: CxResponseContext | undefined, sink?: TaskStreamSink,
  ): HttpReply | Promise<HttpReply> {
    const requested = isPlainObject(payload) && typeof payload.model === 'string' ? payload.model : undefined
    if (requested !== undefined && !route.models.has(requested)) {
      return this.refuseBeforeHandler(task, qos, new IicpError('IICP-E029', 'Model not served by this node', { status: 404 }))
    }
    const model = requested ?? route.defaultModel
    const handler = (model !== undefined ? route.handlers.get(model) : undefined) ?? route.fallback
    if (handler === undefined) return this.refuseBeforeHandler(task, qos, new IicpError('unknown_intent', 'Intent not served by this node'))

    const timeoutMs = task.constraints?.timeout_ms ?? this.opts.defaultTimeoutMs
    const traceparent = header(headers, 'traceparent')
    const bodyTraceId = task.trace?.trace_id
    const traceId = bodyTraceId !== undefined && HEX32_RE.test(bodyTraceId) ? bodyTraceId : traceparent === undefined ? undefined : parseTraceparent(traceparent)?.traceId
    const run = new TaskRun(model, timeoutMs, Date.now() + timeoutMs, qos, traceparent, traceId, cxContext !== undefined, this.identity.nodeId, this.log)
    run.task = task
    run.started = started
    run.cxContext = cxContext
    // An IICP-CX task's chunks would leave in plaintext: it gets only its sealed final answer.
    run.sink = cxContext === undefined ? sink : undefined
    run.streaming = run.sink !== undefined
    if (signal !== undefined) {
      if (signal.aborted) {
        run.end(CANCELLED)
      } else {
        run.outer = signal
        run.onOuterAbort = (): void => run.end(CANCELLED)
        signal.addEventListener('abort', run.onOuterAbort, { once: true })
      }
    }
    let value: unknown
    try {
      value = run.reason ?? handler({ taskId: task.task_id, intent: task.intent, payload, request: task }, run)
    } catch (err) {
      return this.finish(run, undefined, err)
    }
    // Only an asynchronous handler can outlive its budget, so only it pays for a timer and a race.
    if (isAsyncIterable(value) && !isThenable(value)) return this.awaitHandler(run, streamOf(run, value))
    return isThenable(value) ? this.awaitHandler(run, value) : this.finish(run, value, undefined)
  }

  private async awaitHandler(run: TaskRun, pending: PromiseLike<unknown>): Promise<HttpReply> {
    // Only a task still pending can be cancelled by cancelAll(); a synchronous one never enters the set.
    this.running.add(run)
    const timer = setTimeout(endWithTimeout, run.timeoutMs, run)
    const ended = new Promise<typeof TIMEOUT | typeof CANCELLED>((resolve) => { run.settle = resolve })
    let value: unknown
    try {
      value = await Promise.race([pending, ended])
      // An async handler that resolved to a stream: drain it under the same budget.
      if (isAsyncIterable(value) && !isThenable(value)) value = await Promise.race([streamOf(run, value), ended])
    } catch (err) {
      return await this.finish(run, undefined, err)
    } finally {
      clearTimeout(timer)
      run.settle = undefined
    }
    return await this.finish(run, value, undefined)
  }

  /** Turn the handler's outcome into the reply, and account for the task exactly once. */
  private finish(run: TaskRun, value: unknown, err: unknown): HttpReply | Promise<HttpReply> {
    const task = run.task as TaskRequest
    let outcome: TaskOutcome = 'error'
    let tokensUsed: number | undefined
    let elapsed: number | undefined
    try {
      if (run.reason === TIMEOUT || value === TIMEOUT) {
        outcome = 'timeout'
        return renderError(new IicpError('task_timeout', `Task exceeded its ${run.timeoutMs} ms budget`))
      }
      if (run.reason === CANCELLED || value === CANCELLED) return renderError(new IicpError('service_unavailable', 'Task cancelled'))
      if (err !== undefined) return renderError(asBackendError(err))
      const result = normalizeResult(value)
      if (isPlainObject(result) && typeof result.error_code === 'string' && Object.keys(result).every((k) => k === 'error_code' || k === 'error_message')) {
        // The legacy backend-failure shape; a consumer must not mistake it for a success (official-sdks §8.3).
        return renderError(new IicpError('backend_error', 'Backend failed'))
      }
      tokensUsed = tokensOf(result)
      const modelUsed = isPlainObject(result) && typeof result.model === 'string' ? result.model : run.model
      elapsed = performance.now() - run.started
      const latency = Math.round(elapsed * 1000) / 1000
      outcome = 'success'
      const replyHeaders = run.traceId === undefined ? JSON_HEADERS : tracedJsonHeaders(run.traceId)
      if (run.cxContext !== undefined && task.cx_response_encryption === 'required') {
        const envelope: Record<string, unknown> = {
          task_id: task.task_id,
          status: 'success',
          result,
          metrics: tokensUsed === undefined ? { latency_ms: latency } : { latency_ms: latency, tokens_used: tokensUsed },
          model_used: modelUsed ?? null,
          error: null,
          node_id: this.identity.nodeId,
        }
        if (this.opts.generatedByAi) envelope.generated_by_ai = true
        return seal(task.task_id, envelope, run.cxContext, replyHeaders)
      }
      let body: string
      try {
        body = this.envelopeJson(task.task_id, result, latency, tokensUsed, modelUsed)
      } catch (err) {
        // A result JSON cannot carry (a BigInt, a cycle) is the handler's fault; the task still ends, as a 502.
        outcome = 'error'
        return renderError(new IicpError('backend_error', 'Handler returned a result that is not JSON-serialisable', { cause: err }))
      }
      return { status: 200, body, headers: replyHeaders }
    } finally {
      if (run.outer !== undefined && run.onOuterAbort !== undefined) run.outer.removeEventListener('abort', run.onOuterAbort)
      this.running.delete(run)
      this.metrics.task(task.intent, run.qos, outcome, elapsed ?? performance.now() - run.started, tokensUsed)
    }
  }

  /**
   * The success envelope (wire.md §2.3) as JSON, byte for byte what JSON.stringify gives for the envelope
   * object (same keys, same order), written directly: only the handler's result goes through the
   * serializer, so the per-task cost is that of the result alone.
   */
  private envelopeJson(taskId: string, result: unknown, latencyMs: number, tokensUsed: number | undefined, modelUsed: string | undefined): string {
    const nodeId = this.identity.nodeId
    if (nodeId !== this.tailFor) {
      this.tailFor = nodeId
      this.tail = `,"error":null,"node_id":${JSON.stringify(nodeId)}${this.opts.generatedByAi ? ',"generated_by_ai":true' : ''}}`
    }
    // JSON.stringify drops a key whose value does not serialize (a function, a symbol); so does this.
    const resultJson = JSON.stringify(result) as string | undefined
    // Both numbers are finite (a clock difference; a token count checked by tokensOf), where String() and JSON agree.
    const metrics = tokensUsed === undefined ? `{"latency_ms":${latencyMs}}` : `{"latency_ms":${latencyMs},"tokens_used":${tokensUsed}}`
    return `{"task_id":${JSON.stringify(taskId)},"status":"success"${resultJson === undefined ? '' : `,"result":${resultJson}`},"metrics":${metrics},"model_used":${modelUsed === undefined ? 'null' : JSON.stringify(modelUsed)}${this.tail}`
  }
}

async function seal(taskId: string, envelope: Record<string, unknown>, ctx: CxResponseContext, headers: Readonly<Record<string, string>>): Promise<HttpReply> {
  const sealed = await encryptResponse(envelope, ctx)
  return { status: 200, body: JSON.stringify({ task_id: taskId, status: 'encrypted', iicp_conf_resp: sealed }), headers }
}

function streamOf(run: TaskRun, stream: AsyncIterable<unknown>): Promise<unknown> {
  const task = run.task as TaskRequest
  return collectStream(stream, { taskId: task.task_id, intent: task.intent, model: run.model, ended: () => run.reason !== undefined }, run.sink)
}

function endWithTimeout(run: TaskRun): void {
  run.end(TIMEOUT)
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function'
}

function tokensOf(result: unknown): number | undefined {
  if (!isPlainObject(result) || !isPlainObject(result.usage)) return undefined
  const total = result.usage.total_tokens
  return typeof total === 'number' && Number.isFinite(total) && total >= 0 ? total : undefined
}

/**
 * A handler failure as the consumer sees it: a deliberate IicpError keeps its code (the backend chose
 * it); anything else is a bare `backend_error`, never the original message, stack or paths.
 */
const PASS_THROUGH_5XX = new Set(['backend_error', 'task_timeout', 'service_unavailable'])

function asBackendError(err: unknown): IicpError {
  if (isIicpError(err) && ((err.status ?? 500) < 500 || PASS_THROUGH_5XX.has(err.code))) return err
  return new IicpError('backend_error', 'Backend failed', { cause: err })
}
