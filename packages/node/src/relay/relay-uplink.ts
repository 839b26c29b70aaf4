/**
 * The relay worker half inside a node (IICP-DIR §7, §7.6; official-sdks.md §5.3–§5.6): elect a relay,
 * register its path-scoped endpoint, fetch a bind ticket, bind (WebSocket first, long-poll fallback, then the
 * native TCP accept port a relay advertises as `relay_accept_port`, which official-SDK relays offer), serve
 * pulled tasks through the node's own pipeline, and fail over to the next relay when the session dies.
 *
 * Order, as the official SDKs do it: a bind ticket needs the node token, so a node with no registration yet
 * registers first. Unlike them it never advertises its unreachable local address meanwhile: the first
 * registration already names the elected relay's path (declared `turn_relay`, so the directory does not
 * probe a session that does not exist yet) and is not discoverable: the node registers it `available: false` and
 * heartbeats the same at once (no session, no route). Once bound the node re-registers the same route without the
 * declaration, so the directory's own liveness probe verifies it through the relay, and only then is it available.
 * On failover the token is still good: bind first, then re-register with `current_node_token`.
 */
import { IicpError, RELAY_ACCEPT_PORT, isIicpError } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import { createRelayWorker, createTcpRelayWorker, rankRelays, relayEndpointFor } from '@iicp/relay'
import type { RelayStreamHandler, RelayTaskHandler, RelayWorkerOptions } from '@iicp/relay'
import type { Reachability } from '../options.js'
import type { TimerHandle, Timers } from '../timers.js'
import type { RelayDirectory } from './relay-directory.js'
import { pinnedRelayUrl } from './relay-option.js'

/**
 * Relay worker tuning a node passes through to @iicp/relay. `transport`: `'auto'` (WebSocket, long-poll, then the
 * relay's native TCP accept port), or only `'ws'`, `'http'` or `'tcp'` (official-sdks.md §5.2).
 */
export type RelayUplinkTuning = Partial<Pick<RelayWorkerOptions,
  'pingIntervalMs' | 'pongTimeoutMs' | 'connectTimeoutMs' | 'reconnectBaseMs' | 'reconnectMaxMs' | 'maxReconnectAttempts'>> & {
  transport?: 'auto' | 'ws' | 'http' | 'tcp'
}

/** The part of @iicp/relay's two workers (WebSocket/long-poll and native TCP) the uplink drives. */
interface UplinkWorker {
  /** The relay's HTTP base once bound (a native relay names its HTTP port in RELAY_ACK). */
  readonly relayUrl: string | undefined
  readonly relayEndpoint: string | undefined
  readonly transport: 'ws' | 'http' | 'tcp' | undefined
  readonly state: 'idle' | 'connecting' | 'bound' | 'reconnecting' | 'closed'
  start(): Promise<void>
  close(): Promise<void>
  on(event: 'bound', listener: (e: { transport: 'ws' | 'http' | 'tcp'; relayEndpoint: string }) => void): unknown
  on(event: 'unbound', listener: (e: { reason: string }) => void): unknown
  on(event: 'error', listener: (err: IicpError) => void): unknown
}

/** `relay_bound`: a session is up and the directory lists its path-scoped endpoint. */
export interface RelayBoundEvent {
  relayUrl: string
  /** The relay's node id when it was elected from discover; undefined for a pinned relay. */
  relayNodeId: string | undefined
  endpoint: string
  transport: 'ws' | 'http' | 'tcp'
  /** The relay's reputation at election (IICP-DIR §7.6: surfaced to the operator). */
  reputationScore: number | undefined
}

/** `relay_lost`: the session to this relay ended (a reconnect or a failover follows). */
export interface RelayLostEvent {
  relayUrl: string
  relayNodeId: string | undefined
  reason: string
}

/** What the uplink needs from its node. */
export interface RelayUplinkDeps {
  workerId: () => string
  intents: readonly string[]
  models: readonly string[]
  /** Undefined without a directory: no election, unsigned binds. */
  directory: RelayDirectory | undefined
  /** The node token, once registered. */
  token: () => string | undefined
  handleTask: RelayTaskHandler
  /** Streamed CALLs (key 24) on a native TCP relay session: chunks out (official-sdks.md §6.4). */
  handleStream?: RelayStreamHandler
  /** Register (or re-register) with this route; rejects when the directory refuses. */
  advertise: (route: Reachability) => Promise<void>
  onBound: (e: RelayBoundEvent) => void
  onLost: (e: RelayLostEvent) => void
  /** No relay could be bound this round; the uplink retries after `retryInMs`. */
  onDegraded: (err: unknown, retryInMs: number) => void
  logger: Logger
  tuning: RelayUplinkTuning
  /** A pinned relay (IICP_RELAY_WORKER_ENDPOINT): a URL, or `host:port` as the official SDKs give it; otherwise one is elected. */
  pinned: string | undefined
  /** First delay after a round in which no relay bound; doubles up to `retryMaxMs`. */
  retryBaseMs: number
  retryMaxMs: number
  /** The node's clock and timers, which pace election rounds (injected by tests). */
  timers: Timers
}

interface Target {
  url: string
  nodeId: string | undefined
  reputation: number | undefined
  /** `relay_accept_port` from discover (or the port of a bare `host:port` pin), for the native TCP transport. */
  acceptPort: number | undefined
  /** Pinned as bare `host:port`, the official form, which may name the native accept port itself. */
  bare: boolean
}

/** The route a worker registers for a relay (official-sdks.md §5.3). */
export function relayRoute(relayUrl: string, workerId: string, provisional: boolean): Reachability {
  return {
    publicEndpoint: relayEndpointFor(relayUrl, workerId),
    transportMethod: 'turn_relay',
    relayEndpoint: relayUrl,
    exposureMode: 'relay_required',
    // A declared NAT path skips the directory's probe: only for the registration that must precede the bind.
    ...(provisional ? { natType: 'symmetric' as const } : {}),
  }
}

/** Holds the node's one relay session and moves it when a relay dies. */
export class RelayUplink {
  private readonly shutdown = new AbortController()
  private worker: UplinkWorker | undefined
  private target: Target | undefined
  private advertised: string | undefined
  private verified = false
  private retryTimer: TimerHandle | undefined
  private failures = 0
  private running: Promise<void> | undefined
  private closing: Promise<void> | undefined

  constructor(private readonly d: RelayUplinkDeps) {}

  /** The relay in use, if bound. */
  get relayUrl(): string | undefined {
    return this.bound ? this.target?.url : undefined
  }

  /** Whether a relay session is up right now. */
  get bound(): boolean {
    return this.worker?.state === 'bound'
  }

  /** Elect and bind once; on failure a retry is scheduled in the background. Resolves either way. */
  start(): Promise<void> {
    this.running ??= this.round(new Set())
    return this.running
  }

  private async candidates(excluded: ReadonlySet<string>): Promise<Target[]> {
    if (this.d.pinned !== undefined) {
      const url = pinnedRelayUrl(this.d.pinned)
      const bare = !/^https?:\/\//i.test(this.d.pinned.trim())
      const port = new URL(url).port
      return [{ url, nodeId: undefined, reputation: undefined, acceptPort: bare && port !== '' ? Number(port) : undefined, bare }]
    }
    if (this.d.directory === undefined) throw new IicpError('invalid_config', 'relay election needs a directory; pin a relay with relay.endpoint instead')
    const found = await this.d.directory.relayCandidates(this.d.intents, this.shutdown.signal)
    return rankRelays(found, { selfId: this.d.workerId(), excludeIds: excluded })
      .map((c) => ({ url: c.endpoint, nodeId: c.node_id, reputation: c.reputation_score ?? undefined, acceptPort: c.relay_accept_port, bare: false }))
  }

  /** One election round: try relays best first; the first that binds wins. */
  private async round(excluded: Set<string>): Promise<void> {
    let lastError: unknown = new IicpError('no_route_available', 'no relay-capable node is available', { status: 404 })
    try {
      const targets = await this.candidates(excluded)
      for (const t of targets) {
        if (this.shutdown.signal.aborted) return
        try {
          await this.bindTo(t)
          this.failures = 0
          return
        } catch (err) {
          lastError = err
          if (t.nodeId !== undefined) excluded.add(t.nodeId)
          this.d.logger.warn({ relayNodeId: t.nodeId, code: isIicpError(err) ? err.code : 'unknown' }, 'relay bind failed; trying the next relay')
        }
      }
    } catch (err) {
      lastError = err
    }
    if (this.shutdown.signal.aborted) return
    this.failures++
    const delay = Math.min(this.d.retryMaxMs, this.d.retryBaseMs * 2 ** Math.min(this.failures - 1, 30))
    this.retryTimer = this.d.timers.setTimeout(() => {
      this.retryTimer = undefined
      this.running = this.round(new Set())
    }, delay)
    this.d.onDegraded(lastError, delay)
  }

  private async bindTo(t: Target): Promise<void> {
    const workerId = this.d.workerId()
    if (this.d.directory !== undefined && this.d.token() === undefined) {
      // No token yet, so no ticket: the first registration names this relay's path before the bind.
      await this.d.advertise(relayRoute(t.url, workerId, true))
      this.advertised = undefined
      this.verified = false
    }
    const transport = this.d.tuning.transport ?? 'auto'
    let worker: UplinkWorker
    try {
      worker = await this.startWorker(t, transport)
    } catch (err) {
      // WebSocket and long-poll are not there (not a refusal, which every transport would repeat): try native TCP.
      const refused = isIicpError(err) && err.status !== undefined && err.status >= 400 && err.status < 500
      if (transport !== 'auto' || refused || t.acceptPort === undefined || this.shutdown.signal.aborted) throw err
      worker = await this.startWorker(t, 'tcp')
    }
    if (this.shutdown.signal.aborted) {
      await worker.close()
      return
    }
    const base = (worker.relayUrl ?? t.url).replace(/\/+$/, '')
    const route = relayRoute(base, workerId, false)
    worker.on('bound', ({ transport, relayEndpoint }) => this.d.onBound({ relayUrl: base, relayNodeId: t.nodeId, endpoint: relayEndpoint, transport, reputationScore: t.reputation }))
    if (this.d.directory !== undefined && (this.advertised !== route.publicEndpoint || !this.verified)) {
      try {
        await this.d.advertise(route)
      } catch (err) {
        // The directory would not list this route (its probe through the relay failed): try another relay.
        this.worker = undefined
        await worker.close()
        throw err
      }
      this.advertised = route.publicEndpoint
      this.verified = true
    }
    // The session may have died while the directory was being told; failOver has taken over then.
    if (this.worker !== worker) return
    this.d.onBound({ relayUrl: base, relayNodeId: t.nodeId, endpoint: route.publicEndpoint as string, transport: worker.transport ?? 'http', reputationScore: t.reputation })
  }

  /** Create and bind one worker of the given transport; it becomes the uplink's worker while it lives. */
  private async startWorker(t: Target, transport: 'auto' | 'ws' | 'http' | 'tcp'): Promise<UplinkWorker> {
    const workerId = this.d.workerId()
    const directory = this.d.directory
    const { transport: _t, ...tuning } = this.d.tuning
    const common = {
      ...tuning,
      workerId,
      intent: this.d.intents[0],
      models: [...this.d.models],
      handleTask: this.d.handleTask,
      logger: this.d.logger,
      ...(directory !== undefined ? {
        ticketProvider: async () => {
          const token = this.d.token()
          return token === undefined ? undefined : directory.bindTicket(token, workerId, t.nodeId, this.shutdown.signal)
        },
      } : {}),
    }
    let worker: UplinkWorker
    if (transport === 'tcp') {
      const u = new URL(t.url)
      // An elected relay names its accept port; a bare host:port pin is one; a URL pin is dialled at the default.
      const port = t.acceptPort ?? RELAY_ACCEPT_PORT
      // A bare pin says nothing of the relay's HTTP side: its RELAY_ACK names the port consumers use.
      worker = createTcpRelayWorker({
        ...common, relay: `${u.hostname}:${port}`, ...(t.bare ? {} : { relayHttpUrl: t.url }),
        ...(this.d.handleStream === undefined ? {} : { handleStream: this.d.handleStream }),
      })
    } else {
      worker = createRelayWorker({ ...common, relayUrl: t.url, transport })
    }
    this.worker = worker
    this.target = t
    // Before start(): a session that dies right after its bind must still be seen (the workers emit 'error'
    // only to listeners that exist). 'bound' is attached after start(), which reports the first bind itself.
    worker.on('unbound', ({ reason }) => this.d.onLost({ relayUrl: worker.relayUrl ?? t.url, relayNodeId: t.nodeId, reason }))
    worker.on('error', (err) => this.failOver(worker, t, err))
    try {
      await worker.start()
    } catch (err) {
      if (this.worker === worker) this.worker = undefined
      throw err
    }
    return worker
  }

  private failOver(worker: UplinkWorker, t: Target, err: IicpError): void {
    if (this.worker !== worker || this.shutdown.signal.aborted) return
    this.worker = undefined
    this.d.logger.warn({ relayNodeId: t.nodeId, code: err.code }, 'relay gone; electing another')
    const excluded = new Set<string>()
    if (t.nodeId !== undefined) excluded.add(t.nodeId)
    this.running = this.round(excluded)
  }

  /** Unbind and stop retrying. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.shutdown.abort()
      if (this.retryTimer !== undefined) this.d.timers.clearTimeout(this.retryTimer)
      await this.running?.catch(() => undefined)
      const w = this.worker
      this.worker = undefined
      await w?.close()
      this.d.directory?.close()
    })()
    return this.closing
  }
}
