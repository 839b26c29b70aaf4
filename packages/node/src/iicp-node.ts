/**
 * IicpNode, the provider side of IICP (IICP-core §2–§4; wire.md §10 "Provider node.start()"): listen
 * first, then register (the directory probes `/iicp/health`), heartbeat on the directory's schedule,
 * re-register on 401/404/410, keep serving while the directory is away, and on close drain in-flight
 * tasks, deregister and leave no timer or socket behind. No process exit, no self-update.
 */
import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { RequestListener, Server } from 'node:http'
import {
  FIRST_HEARTBEAT_DEADLINE_MS, IicpError, SDK_LANGUAGE, SDK_VERSION, generateCxKeyPair, heartbeatChallengeResponse,
  importCxPrivateKey, isIicpError,
} from '@iicp/protocol'
import type { HeartbeatRequest, Logger } from '@iicp/protocol'
import { importDirectoryKey } from './consumer-token.js'
import { HeartbeatLoop } from './heartbeat.js'
import { createNodeServer, createRequestListener } from './http/server.js'
import { nodeRoutes } from './http/routes.js'
import type { HttpReply } from './http/render-error.js'
import { NodeMetrics } from './metrics.js'
import type { HeartbeatDelta } from './metrics.js'
import type { NodeIdentity } from './node-identity.js'
import { CHAT_INTENT, resolveNodeOptions } from './options.js'
import type { NodeOptions, Reachability, ResolvedNodeOptions } from './options.js'
import { bindPort, nodePortPlan } from './port-binding.js'
import { DirectoryClient, buildRegisterRequest } from './registration.js'
import { loadState, lockState, saveState } from './state-file.js'
import { TaskPipeline } from './task-handler.js'
import { NodeReachability } from './reachability/node-reachability.js'
import type { ReachabilityReport } from './reachability/auto-reachability.js'
import type { RelayBoundEvent, RelayLostEvent } from './relay/relay-uplink.js'
import { ModelDrift } from './upkeep/model-drift.js'
import type { ModelChange } from './upkeep/model-drift.js'
import type { RequestHeaders } from './task-handler.js'
import { NativeServer, withTransportEndpoint } from './native/native-server.js'
import { SinglePortListener } from './native/single-port.js'
import { runNativeCall, streamTask } from './native/native-call.js'
import type { NativeCallOptions } from './native/native-call.js'
import type { NativeCall, NativeResponse, NativeStreamEvent } from '@iicp/protocol'

/** Why the node reports itself degraded. */
export type DegradedReason = 'relay_unavailable' | 'register_failed' | 'heartbeat_failed' | 'deregister_failed' | 'reachability_failed' | 'state_unreadable' | 'state_write_failed' | 'cx_unavailable'

/** Structured lifecycle events (official-sdks §10.10). Payloads never carry tokens or task payloads. */
export interface NodeEvents {
  listening: [{ url: string; host: string; port: number }]
  registered: [{ nodeId: string; endpoint: string; observedSourceIp: string | undefined }]
  heartbeat: [{ nextHeartbeatMs: number; reputationScore: number | undefined; metricsBatchAccepted: boolean }]
  reregistered: [{ nodeId: string; status: number | undefined }]
  /** The backends' model list changed (model drift); a re-registration follows. */
  modelsChanged: [ModelChange]
  degraded: [{ reason: DegradedReason; code: string; status: number | undefined; retryInMs: number | undefined }]
  /** `reachability: 'auto'` decided a tier (what was tried and the operator advice ride along). */
  reachability: [ReachabilityReport]
  /** A relay session is up and the directory lists its path-scoped endpoint (IICP-DIR §7). */
  relay_bound: [RelayBoundEvent]
  /** The relay session ended; the worker reconnects or fails over to the next relay. */
  relay_lost: [RelayLostEvent]
  closed: []
}

/** Node lifecycle state. */
export type NodeLifecycle = 'idle' | 'starting' | 'serving' | 'closing' | 'closed'

const RE_REGISTER_STATUSES = new Set([401, 404, 410])

function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1'
  if (host === '::') return '[::1]'
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
}

function errCode(err: unknown): { code: string; status: number | undefined } {
  return isIicpError(err) ? { code: err.code, status: err.status } : { code: 'server_error', status: undefined }
}

/** A provider node. Construct with options, then `await node.serve()`; `await node.close()` to stop. */
export class IicpNode extends EventEmitter<NodeEvents> {
  /** The frozen, validated options. */
  readonly options: ResolvedNodeOptions
  /** Node metrics (its own prom-client registry). */
  readonly metrics: NodeMetrics
  private readonly identity: NodeIdentity
  private readonly pipeline: TaskPipeline
  private readonly listener: RequestListener
  private readonly log: Logger
  private server: Server | undefined
  private directory: DirectoryClient | undefined
  private loop: HeartbeatLoop | undefined
  private lifecycle: NodeLifecycle = 'idle'
  private startPromise: Promise<this> | undefined
  private closePromise: Promise<void> | undefined
  private readonly shutdown = new AbortController()
  private boundPort: number | undefined
  private localUrl: string | undefined
  private reach: Reachability | undefined
  private registered = false
  private registrations = 0
  private heartbeats = 0
  /** The availability the directory was last told (REGISTER or HEARTBEAT); undefined before the first. */
  private toldAvailable: boolean | undefined
  private startedAt = 0
  private challenge: string | undefined
  private pendingBatch: { id: string; metrics: HeartbeatDelta } | undefined
  private nextIntervalMs: number
  private releaseLock: (() => Promise<void>) | undefined
  private readonly reachability: NodeReachability
  private registering: Promise<void> = Promise.resolve()
  private readonly drift: ModelDrift | undefined
  private modelsDrifted = false
  private readonly native: NativeServer | undefined
  private readonly front: SinglePortListener | undefined

  constructor(options: NodeOptions) {
    super()
    this.options = resolveNodeOptions(options)
    this.log = this.options.logger.child({ component: 'iicp-node' })
    this.identity = {
      nodeId: this.options.nodeId ?? randomUUID(), nodeToken: undefined, hmacKey: undefined, directoryKey: undefined,
      cxKeyPair: undefined, observedSourceIp: undefined, endpoint: undefined,
    }
    this.metrics = new NodeMetrics(() => this.pipeline.active)
    this.pipeline = new TaskPipeline(this.options, this.identity, this.metrics)
    const drift = this.options.modelDrift
      ? new ModelDrift(this.options.capabilities, this.options.backends, (intent, models, handlers) => this.pipeline.updateModels(intent, models, handlers), this.log)
      : undefined
    this.drift = drift?.active === true ? drift : undefined
    const routes = nodeRoutes({ pipeline: this.pipeline, health: () => this.health(), metrics: this.metrics })
    this.reachability = this.newReachability()
    const nodeListener = createRequestListener(routes, this.options.maxBodyBytes)
    // Relay paths go first on a relay-capable node; a plain node keeps the direct listener.
    this.listener = this.options.relayCapable ? this.reachability.front(nodeListener) : nodeListener
    this.server = createNodeServer(routes, this.options.maxBodyBytes, this.listener)
    if (this.options.native.enabled) {
      const native = new NativeServer({
        run: (body, headers, signal, sink) => this.pipeline.handle(body, headers, signal, sink),
        nodeId: () => this.identity.nodeId,
        discover: (intent) => this.nativeDescriptor(intent),
        options: this.options.native,
        timers: this.options.timers,
        logger: this.log,
      })
      this.native = native
      this.front = new SinglePortListener(this.server, (socket, head) => native.accept(socket, head), { sniffTimeoutMs: this.options.native.sniffTimeoutMs, timers: this.options.timers })
    }
    this.nextIntervalMs = this.options.heartbeatIntervalMs
  }

  /** The node id (persisted, given, or assigned by the directory). */
  get nodeId(): string {
    return this.identity.nodeId
  }
  /** The port actually bound, once listening. */
  get port(): number | undefined {
    return this.boundPort
  }
  /** The native TCP relay accept port of a relay-capable node (registered as `relay_accept_port`), once listening. */
  get relayAcceptPort(): number | undefined {
    return this.reachability.acceptPort
  }
  /** Local base URL (`http://127.0.0.1:<port>` for a wildcard bind), once listening. */
  get url(): string | undefined {
    return this.localUrl
  }
  /** The endpoint advertised to the directory. */
  get endpoint(): string | undefined {
    return this.identity.endpoint
  }
  /** Whether the directory currently holds a registration for this node. */
  get isRegistered(): boolean {
    return this.registered
  }
  /** The capabilities advertised now (the configured ones, as model drift last updated them). */
  get capabilities(): ResolvedNodeOptions['capabilities'] {
    return this.drift?.capabilities ?? this.options.capabilities
  }
  /** Lifecycle state. */
  get state(): NodeLifecycle {
    return this.lifecycle
  }
  /** Tasks running now. */
  get activeJobs(): number {
    return this.pipeline.active
  }
  /**
   * The node:http request listener serving this node's routes, for mounting in another server or a
   * benchmark. It shares the node's pipeline, limits and metrics.
   */
  get requestListener(): RequestListener {
    return this.listener
  }

  /**
   * Run one `POST /v1/task` through the same pipeline as the HTTP server: raw body (or a parsed value),
   * lower-case headers, optional cancel signal. A relay worker feeds pulled tasks here.
   */
  handleTask(body: string | Uint8Array | object, headers: RequestHeaders = {}, signal?: AbortSignal): Promise<HttpReply> {
    return this.pipeline.handle(body, headers, signal)
  }

  /**
   * {@link handleTask} for a caller that forwards chunks (a relay worker's `handleStream`, official-sdks.md §6.4):
   * yields a streaming handler's chunks as they come, returns the inner result, throws the task's IicpError.
   */
  streamTask(body: string | Uint8Array | object, headers: RequestHeaders = {}, signal?: AbortSignal): AsyncGenerator<unknown, unknown, void> {
    return streamTask((b, h, s, sink) => this.pipeline.handle(b, h, s, sink), body, headers, signal)
  }

  /**
   * Run one native CALL (official-sdks.md §6.2, §6.4) through the task pipeline and yield the frames to send back:
   * one RESPONSE, or lifecycle events for a CALL with a task id (key 24). Direct and relay-shaped CALLs both work.
   */
  nativeCall(call: NativeCall, options: NativeCallOptions = {}): AsyncGenerator<NativeResponse | NativeStreamEvent, void, void> {
    return runNativeCall((b, h, s, sink) => this.pipeline.handle(b, h, s, sink), call, options)
  }

  /** The `transport_endpoint` advertised (iicp:// or iicpsec://), once registered with a direct route. */
  get transportEndpoint(): string | undefined {
    return this.identity.endpoint === undefined ? undefined : withTransportEndpoint(this.reach, this.identity.endpoint, this.options.native)?.transportEndpoint
  }

  /** Native sessions open now. */
  get nativeSessions(): number {
    return this.native?.sessions ?? 0
  }

  /** What a native DISCOVER learns about this node: itself, when it serves the intent. */
  private nativeDescriptor(intent: string | undefined): unknown[] {
    const caps = this.capabilities.filter((c) => intent === undefined || c.intent === intent)
    if (caps.length === 0) return []
    const d: Record<string, unknown> = {
      node_id: this.identity.nodeId,
      intents: caps.map((c) => c.intent),
      models: [...new Set(caps.flatMap((c) => c.models))],
      available: this.pipeline.active < this.options.maxConcurrent,
      load: Math.min(1, this.pipeline.active / this.options.maxConcurrent),
      region: this.options.region,
    }
    if (this.identity.endpoint !== undefined) d.endpoint = this.identity.endpoint
    const transport = this.transportEndpoint
    if (transport !== undefined) d.transport_endpoint = transport
    return [d]
  }

  /** `/iicp/health` body (wire.md §2.5; IICP-core §11.2 observed IP). */
  health(): Record<string, unknown> {
    const active = this.pipeline.active
    const max = this.options.maxConcurrent
    const closing = this.lifecycle === 'closing' || this.lifecycle === 'closed'
    return {
      status: closing ? 'draining' : this.registered || this.options.directoryUrl === null ? 'ok' : 'degraded',
      node_id: this.identity.nodeId,
      region: this.options.region,
      load: Math.min(1, active / max),
      active_jobs: active,
      max_concurrent: max,
      available: !closing && active < max,
      models: [...new Set(this.capabilities.flatMap((c) => c.models))],
      intents: this.capabilities.map((c) => c.intent),
      observed_source_ip: this.identity.observedSourceIp ?? null,
      registered: this.registered,
      sdk_language: SDK_LANGUAGE,
      sdk_version: SDK_VERSION,
    }
  }

  /** Start serving (idempotent): listen, resolve reachability, register, start heartbeats. */
  serve(): Promise<this> {
    if (this.closePromise !== undefined) {
      return Promise.reject(new IicpError('invalid_config', 'a closed node cannot serve again; create a new IicpNode'))
    }
    if (this.startPromise === undefined) {
      this.lifecycle = 'starting'
      this.startPromise = this.doStart()
    }
    return this.startPromise
  }

  /** Alias of {@link serve}. */
  start(): Promise<this> {
    return this.serve()
  }

  private degraded(reason: DegradedReason, err: unknown, retryInMs?: number): void {
    const { code, status } = errCode(err)
    this.log.warn({ reason, code, status, retryInMs }, 'node degraded')
    this.emit('degraded', { reason, code, status, retryInMs })
  }

  private async doStart(): Promise<this> {
    const o = this.options
    this.startedAt = o.timers.now()
    try {
      await this.loadIdentity()
      const server = this.server as Server
      await this.reachability.mountRelay(server)
      // A node with listen: false has no port at all; it is reached only through its relay.
      if (o.listen) {
        const planPort = o.port ?? (o.publicEndpoint !== undefined ? o.basePort : undefined)
        this.boundPort = await bindPort(this.front?.server ?? server, nodePortPlan(o, planPort))
        this.localUrl = `http://${displayHost(o.host)}:${this.boundPort}`
        await this.reachability.openAcceptPort(this.boundPort)
      }
      if (this.lifecycle === 'starting') this.lifecycle = 'serving'
      if (this.localUrl !== undefined) {
        this.log.info({ url: this.localUrl }, 'listening')
        this.emit('listening', { url: this.localUrl, host: o.host, port: this.boundPort as number })
      }
    } catch (err) {
      if (this.lifecycle === 'starting') this.lifecycle = 'closed'
      // Nothing registered yet; a port already bound must not outlive the failed start.
      await this.reachability.close()
      const listening = this.front?.server ?? this.server
      if (listening?.listening === true) await new Promise<void>((resolve) => listening.close(() => resolve()))
      await this.releaseLock?.()
      this.releaseLock = undefined
      throw err
    }
    return this.startRoute()
  }

  private newReachability(): NodeReachability {
    return new NodeReachability({
      options: this.options,
      nodeId: () => this.identity.nodeId,
      token: () => this.identity.nodeToken,
      intents: () => [...new Set([...this.options.capabilities.map((c) => c.intent), CHAT_INTENT])],
      models: () => [...new Set(this.options.capabilities.flatMap((c) => c.models))],
      handleTask: (body, headers, signal) => this.handleTask(body, headers, signal),
      handleStream: (body, headers, signal) => this.streamTask(body, headers, signal),
      advertise: (route) => this.advertise(route),
      readvertise: (route) => this.readvertise(route),
      onReachability: (report) => this.emit('reachability', report),
      onRelayBound: (e) => {
        this.tellAvailability()
        this.emit('relay_bound', e)
      },
      onRelayLost: (e) => {
        this.tellAvailability()
        this.emit('relay_lost', e)
      },
      onRelayUnavailable: (err, retryInMs) => this.degraded('relay_unavailable', err, retryInMs),
      // A lost mapping means the advertised route is gone: register again so the directory probes it.
      onLeaseLost: () => { this.registered = false },
      logger: this.log,
    })
  }

  /**
   * Advertise a new route found after start (e.g. the tunnel rung rebuilt a dead Quick Tunnel; wire.md §6.2)
   * and re-register with the current token; `undefined` falls back to the configured public endpoint or the
   * local URL. Does nothing unless the node is serving.
   */
  async readvertise(route: Reachability | undefined): Promise<void> {
    if (this.lifecycle !== 'serving') return
    this.reach = route
    this.identity.endpoint = route?.publicEndpoint ?? this.options.publicEndpoint ?? this.localUrl
    if (this.directory !== undefined) await this.register(this.shutdown.signal)
  }

  /** Register `route` now (a relay session moved); serialised with every other registration. */
  private async advertise(route: Reachability): Promise<void> {
    this.reach = route
    this.identity.endpoint = route.publicEndpoint
    await this.register(this.shutdown.signal)
  }

  /** After listening: decide the route (static, resolver, NAT ladder or relay), register, start heartbeats. */
  private async startRoute(): Promise<this> {
    const o = this.options
    const local = this.boundPort !== undefined && this.localUrl !== undefined ? { port: this.boundPort, url: this.localUrl } : undefined
    let plan
    try {
      plan = await this.reachability.plan(local, this.shutdown.signal, () => this.resolveReachability())
    } catch (err) {
      this.degraded('reachability_failed', err)
      plan = { route: undefined, relay: undefined, localOnly: false }
    }
    this.reach = plan.route
    this.identity.endpoint = this.reach?.publicEndpoint ?? o.publicEndpoint ?? this.localUrl
    if (plan.localOnly) {
      this.log.warn({}, 'not reachable from outside: serving locally without registering')
      return this
    }
    if (o.directoryUrl === null) {
      if (plan.relay !== undefined) await this.reachability.startRelay(plan.relay)
      return this
    }
    this.directory = new DirectoryClient(o.directoryUrl, o.directoryTimeoutMs)
    this.loop = new HeartbeatLoop(
      o.timers,
      (signal) => this.tick(signal),
      { baseMs: o.backoffBaseMs, capMs: () => this.nextIntervalMs },
      (err, _failures, retryInMs) => this.degraded(this.registered ? 'heartbeat_failed' : 'register_failed', err, retryInMs),
    )
    let firstDelay = o.backoffBaseMs
    let relay = plan.relay
    if (relay === undefined) {
      try {
        await this.register(this.shutdown.signal)
        firstDelay = this.firstHeartbeatDelay()
      } catch (err) {
        firstDelay = o.backoffBaseMs
        if (this.shutdown.signal.aborted) return this
        this.degraded('register_failed', err, firstDelay)
        // The directory could not reach the route the NAT ladder found: a relay still can.
        if (await this.reachability.abandonDetectedRoute(err)) relay = { pinned: undefined }
      }
    }
    if (relay !== undefined) {
      // The relay uplink registers the path-scoped route itself, once it has a relay to name.
      this.reach = undefined
      this.identity.endpoint = undefined
      await this.reachability.startRelay(relay)
      if (this.lifecycle === 'serving') this.loop?.start(this.registered ? this.firstHeartbeatDelay() : this.nextIntervalMs)
      return this
    }
    if (this.lifecycle === 'serving') this.loop.start(firstDelay)
    return this
  }

  private async loadIdentity(): Promise<void> {
    const o = this.options
    let cxPrivate: string | undefined
    let dirty = false
    if (o.stateFile !== undefined) {
      const lock = await lockState(o.stateFile)
      if (!lock.ok) {
        throw new IicpError('invalid_config', `node state ${o.stateFile} is in use by another running node (pid ${lock.holder}); give each node its own home or name`)
      }
      this.releaseLock = lock.release
      const loaded = await loadState(o.stateFile)
      if (loaded.problem !== undefined) this.degraded('state_unreadable', new IicpError('invalid_config', loaded.problem))
      const s = loaded.state
      if (s !== undefined) {
        if (o.nodeId === undefined) this.identity.nodeId = s.node_id
        // A token belongs to one directory and one node id; anything else would be a stranger's credential.
        if (s.node_token !== undefined && s.directory_url === (o.directoryUrl ?? undefined) && s.node_id === this.identity.nodeId) {
          this.identity.nodeToken = s.node_token
        }
        cxPrivate = s.cx_private_key
      } else {
        dirty = true
      }
    }
    if (o.cx) {
      const given = o.cxPrivateKey ?? cxPrivate
      try {
        this.identity.cxKeyPair = given !== undefined ? await importCxPrivateKey(given) : await generateCxKeyPair()
        if (given !== cxPrivate) dirty = true
      } catch (err) {
        // Serving plaintext is still useful; the node just does not advertise a CX key.
        this.degraded('cx_unavailable', err)
      }
    }
    if (dirty) await this.persist()
  }

  private async persist(): Promise<void> {
    const file = this.options.stateFile
    if (file === undefined) return
    try {
      await saveState(file, {
        node_id: this.identity.nodeId,
        ...(this.identity.nodeToken !== undefined && this.options.directoryUrl !== null ? { node_token: this.identity.nodeToken, directory_url: this.options.directoryUrl } : {}),
        ...(this.identity.cxKeyPair !== undefined ? { cx_private_key: this.identity.cxKeyPair.privateKey } : {}),
      })
    } catch (err) {
      this.degraded('state_write_failed', new IicpError('invalid_config', 'cannot write the node state file', { cause: err }))
    }
  }

  private async resolveReachability(): Promise<Reachability | undefined> {
    const r = this.options.reachability
    if (r === undefined || r === 'auto') return undefined
    if (typeof r !== 'function') return r
    try {
      return await r({ host: this.options.host, port: this.boundPort as number, url: this.localUrl as string, signal: this.shutdown.signal })
    } catch (err) {
      this.degraded('reachability_failed', err)
      return undefined
    }
  }

  private firstHeartbeatDelay(): number {
    // SDK-NODE-01: the first heartbeat must leave within 35 s of start, whatever the interval says.
    const left = FIRST_HEARTBEAT_DEADLINE_MS - (this.options.timers.now() - this.startedAt) - 1000
    return Math.max(0, Math.min(this.nextIntervalMs, left))
  }

  private register(signal: AbortSignal): Promise<void> {
    // One registration at a time: a relay failover and a heartbeat's re-register must not rotate tokens under each other.
    const run = this.registering.catch(() => undefined).then(() => this.registerOnce(signal))
    this.registering = run
    return run
  }

  private async registerOnce(signal: AbortSignal): Promise<void> {
    const directory = this.directory as DirectoryClient
    const endpoint = this.identity.endpoint as string
    const opts = this.drift === undefined ? this.options : { ...this.options, capabilities: this.drift.capabilities }
    // A relay worker registers before its bind (the ticket needs the token): its route is not up, so not available.
    const routeUp = this.reachability.routeUp
    const body = buildRegisterRequest(opts, this.identity, endpoint, withTransportEndpoint(this.reach, endpoint, this.options.native), this.identity.nodeToken, routeUp)
    const ack = await directory.register(body, signal)
    const previousId = this.identity.nodeId
    this.identity.nodeId = ack.node_id
    this.identity.nodeToken = ack.node_token
    if (typeof ack.node_hmac_key === 'string') this.identity.hmacKey = ack.node_hmac_key
    this.identity.observedSourceIp = ack.observed_source_ip ?? this.identity.observedSourceIp
    this.registered = true
    this.modelsDrifted = false
    this.challenge = undefined
    this.registrations++
    await this.persist()
    const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '')
    if (typeof ack.observed_source_ip === 'string' && ack.observed_source_ip !== host) {
      this.log.warn({ observedSourceIp: ack.observed_source_ip, endpointHost: host }, 'directory sees another source address: the node may be behind NAT or a proxy')
    }
    if (this.options.auth === 'token' && this.identity.directoryKey === undefined) {
      try {
        this.identity.directoryKey = importDirectoryKey(await directory.directoryKey(signal))
      } catch (err) {
        // Without the key, consumer tokens cannot be checked; the node token still authorises.
        this.log.warn({ code: errCode(err).code }, 'directory key unavailable; consumer tokens will be refused')
      }
    }
    this.log.info({ nodeId: ack.node_id, endpoint, observedSourceIp: ack.observed_source_ip }, 'registered')
    this.emit('registered', { nodeId: ack.node_id, endpoint, observedSourceIp: ack.observed_source_ip ?? undefined })
    if (previousId !== ack.node_id) this.log.info({ nodeId: ack.node_id }, 'directory assigned a node id')
    this.toldAvailable = routeUp
    if (!routeUp) {
      // REGISTER has no `available` in the spec, so a directory may list the route at once; a heartbeat saying
      // `available: false` is honoured by every directory (wire.md §1.3) and closes that window after one round trip.
      try {
        this.emit('heartbeat', await this.beat(signal))
      } catch (err) {
        this.log.warn({ code: errCode(err).code }, 'could not report the relay route unavailable; the next heartbeat will')
      }
    }
  }

  /** Whether the node can take a task from a consumer now. */
  private availableNow(): boolean {
    // A relay worker whose session is down cannot be reached: it says so until it is bound again.
    return this.pipeline.active < this.options.maxConcurrent && this.reachability.routeUp
  }

  /** Heartbeat at once when a relay session went down or came back and the directory was last told otherwise. */
  private tellAvailability(): void {
    if (this.toldAvailable === undefined || this.toldAvailable === this.availableNow()) return
    this.loop?.runNow()
  }

  private async tick(signal: AbortSignal): Promise<number> {
    // A relay worker has no route until its uplink names one; the uplink registers it.
    if (!this.registered && this.reachability.viaRelay && this.identity.endpoint === undefined) return this.nextIntervalMs
    if (!this.registered) {
      await this.register(signal)
      if (this.registrations > 1) this.emit('reregistered', { nodeId: this.identity.nodeId, status: undefined })
      return this.heartbeats === 0 ? this.firstHeartbeatDelay() : this.nextIntervalMs
    }
    if (this.drift !== undefined) {
      const change = await this.drift.check(signal)
      if (change !== undefined) {
        this.modelsDrifted = true
        this.emit('modelsChanged', change)
      }
    }
    if (this.modelsDrifted) {
      // Re-register with the new list and the current token; if it fails the flag stays for the next tick.
      await this.register(signal)
      this.emit('reregistered', { nodeId: this.identity.nodeId, status: undefined })
      return this.nextIntervalMs
    }
    const token = this.identity.nodeToken as string
    let pong
    try {
      pong = await this.beat(signal)
    } catch (err) {
      const status = isIicpError(err) ? err.status : undefined
      // The token rotated while this beat was in flight (a relay re-registration): nothing to repair.
      if (status === 401 && token !== this.identity.nodeToken) return this.nextIntervalMs
      if (status !== undefined && RE_REGISTER_STATUSES.has(status)) {
        this.metrics.heartbeatFailure('unauthorized')
        this.registered = false
        await this.register(signal)
        this.emit('reregistered', { nodeId: this.identity.nodeId, status })
        return this.nextIntervalMs
      }
      this.metrics.heartbeatFailure(status === undefined ? 'unreachable' : 'rejected')
      throw err
    }
    this.emit('heartbeat', pong)
    return pong.nextHeartbeatMs
  }

  /** One HEARTBEAT and its PONG (challenge, metrics batch); the caller emits `heartbeat` with what it returns. */
  private async beat(signal: AbortSignal): Promise<NodeEvents['heartbeat'][0]> {
    const directory = this.directory as DirectoryClient
    const body = await this.heartbeatBody()
    const pong = await directory.heartbeat(this.identity.nodeToken as string, body, signal)
    this.toldAvailable = body.available
    this.heartbeats++
    this.nextIntervalMs = pong.next_heartbeat_ms
    this.challenge = pong.challenge ?? undefined
    const batch = this.pendingBatch
    const accepted = batch !== undefined && pong.metrics_batch_accepted === batch.id
    if (accepted) this.pendingBatch = undefined
    this.log.debug({ nextHeartbeatMs: pong.next_heartbeat_ms }, 'heartbeat')
    return { nextHeartbeatMs: pong.next_heartbeat_ms, reputationScore: pong.reputation_score ?? undefined, metricsBatchAccepted: accepted }
  }

  private async heartbeatBody(): Promise<HeartbeatRequest> {
    const active = this.pipeline.active
    const max = this.options.maxConcurrent
    const body: HeartbeatRequest = {
      node_id: this.identity.nodeId,
      status: 'available',
      available: this.availableNow(),
      load: Math.min(1, active / max),
      active_jobs: active,
      max_concurrent: max,
    }
    if (this.pendingBatch === undefined) {
      const delta = this.metrics.takeDelta()
      if (delta !== undefined) this.pendingBatch = { id: randomUUID(), metrics: delta }
    }
    // The same batch is resent until the directory acknowledges it (wire.md §1.3).
    if (this.pendingBatch !== undefined) {
      body.metrics = this.pendingBatch.metrics
      body.metrics_batch_id = this.pendingBatch.id
    }
    if (this.challenge !== undefined && this.identity.hmacKey !== undefined) {
      try {
        body.challenge_response = await heartbeatChallengeResponse(this.identity.hmacKey, this.challenge)
      } catch (err) {
        // A missing response only leaves liveness unverified; the beat itself must still go out.
        this.log.debug({ code: errCode(err).code }, 'challenge response unavailable')
      }
    }
    return body
  }

  /**
   * Stop (idempotent): refuse new tasks, drain in-flight ones for up to `drainTimeoutMs` (then cancel
   * them), stop heartbeats, deregister, and close every socket and timer.
   */
  close(): Promise<void> {
    this.closePromise ??= this.doClose()
    return this.closePromise
  }

  private async doClose(): Promise<void> {
    const wasServing = this.lifecycle === 'serving' || this.lifecycle === 'starting'
    this.lifecycle = 'closing'
    this.shutdown.abort()
    if (this.startPromise !== undefined) {
      try {
        await this.startPromise
      } catch {
        // A failed start has nothing more to undo than what follows.
      }
    }
    this.lifecycle = 'closing'
    const server = this.server
    const closed = server !== undefined && server.listening
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve()
    server?.closeIdleConnections()
    const frontClosed = this.front?.close()
    const drained = await this.pipeline.drain(this.options.drainTimeoutMs)
    if (!drained) {
      this.pipeline.cancelAll()
      // Cancelled tasks answer 503 at once; let those answers reach their sockets before closing them.
      await this.pipeline.drain(1000)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await this.loop?.stop()
    // Unbind before deregistering, so the relay stops forwarding to a node that is leaving.
    await this.reachability.closeUplink()
    if (wasServing && this.registered && this.options.deregisterOnClose && this.directory !== undefined && this.identity.nodeToken !== undefined) {
      try {
        await this.directory.deregister(this.identity.nodeToken, this.identity.nodeId)
        this.registered = false
        // The deregistered token is dead; sending it again later would only confuse ownership checks.
        this.identity.nodeToken = undefined
        await this.persist()
      } catch (err) {
        this.degraded('deregister_failed', err)
      }
    }
    await this.directory?.close()
    // Relay sessions this node hosts (upgraded sockets the server no longer tracks) and NAT mappings go too.
    await this.reachability.close()
    server?.closeAllConnections()
    this.front?.destroyConnections()
    await this.native?.close()
    await frontClosed
    await closed
    await Promise.all(this.options.backends.map((b) => b.close?.()))
    await this.releaseLock?.()
    this.releaseLock = undefined
    this.lifecycle = 'closed'
    this.log.info({}, 'closed')
    this.emit('closed')
  }

  /**
   * Close on SIGINT/SIGTERM (or the given signals). Returns a function that removes the handlers.
   * The library never exits the process; the caller decides what happens after `closed`.
   */
  closeOnSignals(signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): () => void {
    const onSignal = (): void => {
      void this.close()
    }
    for (const s of signals) process.once(s, onSignal)
    return () => {
      for (const s of signals) process.off(s, onSignal)
    }
  }

  /** `await using node = …` support. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}
