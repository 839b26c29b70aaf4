/**
 * How a node is reached, composed from @iicp/nat and @iicp/relay (sem §6.4; IICP-DIR §7): the relay server
 * a relay-capable node hosts, the ladder of `reachability: 'auto'` (operator endpoint → verified direct or NAT
 * route → accountless tunnel → relay → local only), and the relay session of a node that can only be reached
 * through one. The relay and NAT packages (with ws and undici) load only when a node uses them, so a plain node
 * keeps its small footprint.
 */
import type { RequestListener, Server } from 'node:http'
import { IicpError, isIicpError } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import type { RelayStreamHandler, RelayTaskHandler, TcpRelayAcceptor } from '@iicp/relay'
import type { ReachabilityManager } from '@iicp/nat'
import type { Reachability, ResolvedNodeOptions } from '../options.js'
import type { RelayHost } from '../relay/relay-host.js'
import { pinnedRelayUrl } from '../relay/relay-option.js'
import type { RelayBoundEvent, RelayLostEvent, RelayUplink, RelayUplinkTuning } from '../relay/relay-uplink.js'
import type { ReachabilityReport } from './auto-reachability.js'
import { tunnelRung } from '../tunnel/tunnel-rung.js'
import type { TunnelRung, TunnelStatus } from '../tunnel/tunnel-rung.js'

/**
 * Relay worker reconnects to the same relay (issue 11; official-sdks.md §5.2 step 6): 2 s doubling, capped at 60 s,
 * three attempts before the node fails over to the next relay. The WebSocket and long-poll worker draws each delay
 * with full jitter below that ceiling; the native TCP worker waits the ceiling itself, as the official SDKs do.
 */
export const RELAY_RECONNECT = Object.freeze({ reconnectBaseMs: 2_000, reconnectMaxMs: 60_000, maxReconnectAttempts: 3 })

/** Election rounds after one in which no relay could be bound: 2 s doubling, capped at 60 s. */
export const RELAY_ELECTION_RETRY = Object.freeze({ baseMs: 2_000, maxMs: 60_000 })

/** The worker tuning a node hands @iicp/relay: its own reconnect defaults under what the `relay` option sets. */
export function relayWorkerTuning(option: ResolvedNodeOptions['relay']): RelayUplinkTuning {
  const given: Record<string, unknown> = typeof option === 'object' ? { ...option } : {}
  delete given.endpoint
  return { ...RELAY_RECONNECT, ...(given as RelayUplinkTuning) }
}

/** What the node does after listening. */
export interface RoutePlan {
  /** A route to register (also a static or resolver-given one). */
  route: Reachability | undefined
  /** Serve through a relay; `pinned` names it, otherwise one is elected. */
  relay: { pinned: string | undefined } | undefined
  /** Tier 4 of the ladder: register nothing, serve locally. */
  localOnly: boolean
}

/** Callbacks into the node. */
export interface NodeReachabilityDeps {
  options: ResolvedNodeOptions
  nodeId: () => string
  token: () => string | undefined
  intents: () => readonly string[]
  models: () => readonly string[]
  handleTask: RelayTaskHandler
  /** Streamed tasks for a native TCP relay session (official-sdks.md §6.4). */
  handleStream?: RelayStreamHandler
  /** Register this route now (serialised with the node's other registrations). */
  advertise: (route: Reachability) => Promise<void>
  /** Re-register a route found after start (the tunnel watchdog rebuilt the Quick Tunnel). */
  readvertise: (route: Reachability | undefined) => Promise<void>
  onReachability: (report: ReachabilityReport) => void
  onRelayBound: (e: RelayBoundEvent) => void
  onRelayLost: (e: RelayLostEvent) => void
  onRelayUnavailable: (err: unknown, retryInMs: number) => void
  onLeaseLost: () => void
  logger: Logger
}

/** Relay hosting, NAT detection and the relay session of one node. */
export class NodeReachability {
  private host: RelayHost | undefined
  private acceptor: TcpRelayAcceptor | undefined
  private uplink: RelayUplink | undefined
  private nat: ReachabilityManager | undefined
  private readonly tunnel: TunnelRung | undefined
  /** The registered route came from the tunnel rung. */
  private viaTunnel = false
  private closing: Promise<void> | undefined

  constructor(private readonly d: NodeReachabilityDeps) {
    const o = d.options
    // Built here, not when the ladder runs, so a bad tunnel option fails the constructor with invalid_config.
    this.tunnel = o.tunnel === undefined ? undefined : tunnelRung({ timers: o.timers, logger: d.logger, ...o.tunnel })
  }

  /** Whether the node is reached through a relay (its route comes from the uplink). */
  get viaRelay(): boolean {
    return this.uplink !== undefined
  }

  /** False while a relay worker has no live relay session (heartbeats then report the node unavailable). */
  get routeUp(): boolean {
    return this.uplink === undefined || this.uplink.bound
  }

  /** The native TCP relay accept port, once open. */
  get acceptPort(): number | undefined {
    return this.acceptor?.port
  }

  /** The relay server this node hosts, if relay-capable. */
  get relayHost(): RelayHost | undefined {
    return this.host
  }

  /** Mount the relay server on `server` when `relayCapable` (after the node id is known, before listen). */
  async mountRelay(server: Server): Promise<void> {
    const o = this.d.options
    if (!o.relayCapable || this.host !== undefined) return
    const { createRelayHost } = await import('../relay/relay-host.js')
    this.host = createRelayHost({ nodeId: this.d.nodeId(), directoryUrl: o.directoryUrl, logger: this.d.logger, options: o.relayServer })
    this.host.attach(server)
  }

  /** A listener that serves relay paths first once a relay is mounted. */
  front(next: RequestListener): RequestListener {
    return (req, res) => {
      const host = this.host
      if (host === undefined || !host.relay.handleRequest(req, res)) next(req, res)
    }
  }

  /** Decide the route once the node listens (`local` is undefined for a node without a port). */
  async plan(local: { port: number; url: string } | undefined, signal: AbortSignal, resolveOther: () => Promise<Reachability | undefined>): Promise<RoutePlan> {
    const plan = await this.planRoute(local, signal, resolveOther)
    const acceptPort = this.acceptor?.port
    if (acceptPort === undefined || plan.relay !== undefined) return plan
    return { ...plan, route: { ...plan.route, relayAcceptPort: acceptPort } }
  }

  /**
   * Open the native TCP accept port for official-SDK workers (official-sdks.md §5.1) right after the HTTP port, before
   * anything registers. A taken port falls back to a free one when `relayAcceptPortFallback` allows (the registered
   * `relay_accept_port` names it); otherwise it fails with `invalid_config`, so no route is advertised without it.
   */
  async openAcceptPort(httpPort: number): Promise<number | undefined> {
    const o = this.d.options
    if (this.host === undefined || o.relayAcceptPort === undefined || this.acceptor !== undefined) return this.acceptor?.port
    const { startTcpRelayAcceptor } = await import('@iicp/relay')
    const start = (port: number): Promise<TcpRelayAcceptor> => startTcpRelayAcceptor({ relay: (this.host as RelayHost).relay, port, host: o.host, relayHttpPort: httpPort, logger: this.d.logger })
    try {
      this.acceptor = await start(o.relayAcceptPort)
    } catch (err) {
      const code = causeCode(err)
      if (!o.relayAcceptPortFallback || o.relayAcceptPort === 0) {
        throw new IicpError('invalid_config', `cannot open the relay accept port ${o.host}:${o.relayAcceptPort} (${code}); choose another relayAcceptPort (IICP_RELAY_ACCEPT_PORT) or false`, { cause: err })
      }
      this.acceptor = await start(0).catch((again: unknown) => {
        throw new IicpError('invalid_config', `cannot open a relay accept port on ${o.host} (${causeCode(again)})`, { cause: again })
      })
      // Workers that read relay_accept_port from discover still find this one; those that assume 9485 do not.
      this.d.logger.warn({ wanted: o.relayAcceptPort, port: this.acceptor.port, code }, 'relay accept port taken: accepting native TCP workers on another port')
    }
    return this.acceptor.port
  }

  private async planRoute(local: { port: number; url: string } | undefined, signal: AbortSignal, resolveOther: () => Promise<Reachability | undefined>): Promise<RoutePlan> {
    const o = this.d.options
    if (o.relay !== undefined) {
      const pinned = typeof o.relay === 'object' && o.relay.endpoint !== undefined ? o.relay.endpoint : undefined
      return { route: undefined, relay: { pinned }, localOnly: false }
    }
    if (o.reachability !== 'auto') return { route: await resolveOther(), relay: undefined, localOnly: false }
    if (local === undefined) return { route: undefined, relay: undefined, localOnly: false }
    const { autoReachability } = await import('./auto-reachability.js')
    const plan = await autoReachability({
      port: local.port, directoryUrl: o.directoryUrl, publicEndpoint: o.publicEndpoint, nat: o.nat, timeoutMs: o.directoryTimeoutMs,
      logger: this.d.logger, signal, onLeaseLost: this.d.onLeaseLost,
    })
    this.nat = plan.manager
    let { route, report, localOnly } = plan
    let relay = plan.relay !== undefined ? { pinned: plan.relay.pinned } : undefined
    // The tunnel rung sits between a verified direct route and a relay (sem §6.4). It does not run when detection
    // was skipped (operator endpoint, local directory) or when the operator pinned a relay (relay-first, dir §7).
    if (route === undefined && report.tier !== 'skipped' && relay?.pinned === undefined && this.tunnel !== undefined) {
      const viaTunnel = await this.tunnelRoute(this.tunnel, local, signal)
      const status = this.tunnel.status()
      report = { ...report, tunnel: status, advice: [...report.advice, ...tunnelAdvice(status)] }
      if (viaTunnel?.publicEndpoint !== undefined) {
        route = viaTunnel
        relay = undefined
        localOnly = false
        this.viaTunnel = true
        report = { ...report, tier: 'tunnel', exposureMode: viaTunnel.exposureMode, endpoint: viaTunnel.publicEndpoint }
        this.tunnel.attach({ readvertise: this.d.readvertise })
      }
    }
    this.d.onReachability(report)
    if (relay?.pinned !== undefined) pinnedRelayUrl(relay.pinned)
    return { route, relay, localOnly }
  }

  /** The tunnel rung for this node; its failures only mean "no tunnel" (SDK-NODE-05: fall to the next rung). */
  private async tunnelRoute(rung: TunnelRung, local: { port: number; url: string }, signal: AbortSignal): Promise<Reachability | undefined> {
    try {
      return await rung.resolve({ host: this.d.options.host, port: local.port, url: local.url, signal })
    } catch (err) {
      this.d.logger.warn({ code: isIicpError(err) ? err.code : 'unknown' }, 'tunnel rung failed; falling through to the next rung')
      return undefined
    }
  }

  /**
   * When the directory refused the route `reachability: 'auto'` found as unreachable (its liveness probe or
   * host rules), release the mapping behind it and say so; the node then serves through a relay. False when the
   * refusal is about something else or the route did not come from the ladder.
   */
  async abandonDetectedRoute(err: unknown): Promise<boolean> {
    if (this.uplink !== undefined) return false
    const code = isIicpError(err) ? err.code : undefined
    if (code !== 'liveness_failed' && code !== 'IICP-E036' && code !== 'IICP-E035') return false
    if (this.viaTunnel) {
      this.d.logger.warn({ code }, 'the directory cannot reach the tunnel route; serving through a relay instead')
      this.viaTunnel = false
      await this.tunnel?.close()
      return true
    }
    if (this.nat === undefined || this.nat.result?.endpoint === undefined) return false
    this.d.logger.warn({ endpoint: this.nat.result.endpoint, code }, 'the directory cannot reach the detected route; serving through a relay instead')
    const nat = this.nat
    this.nat = undefined
    await nat.close()
    return true
  }

  /** Elect or use the pinned relay and bind; registration happens through `advertise`. */
  async startRelay(relay: { pinned: string | undefined }): Promise<void> {
    const o = this.d.options
    const [{ RelayUplink }, { RelayDirectory }] = await Promise.all([import('../relay/relay-uplink.js'), import('../relay/relay-directory.js')])
    this.uplink = new RelayUplink({
      workerId: this.d.nodeId,
      intents: this.d.intents(),
      models: this.d.models(),
      directory: o.directoryUrl !== null ? new RelayDirectory(o.directoryUrl, o.directoryTimeoutMs) : undefined,
      token: this.d.token,
      handleTask: this.d.handleTask,
      ...(this.d.handleStream === undefined ? {} : { handleStream: this.d.handleStream }),
      advertise: this.d.advertise,
      onBound: this.d.onRelayBound,
      onLost: this.d.onRelayLost,
      onDegraded: this.d.onRelayUnavailable,
      logger: this.d.logger,
      tuning: relayWorkerTuning(o.relay),
      pinned: relay.pinned,
      retryBaseMs: RELAY_ELECTION_RETRY.baseMs,
      retryMaxMs: RELAY_ELECTION_RETRY.maxMs,
      timers: o.timers,
    })
    await this.uplink.start()
  }

  /** Unbind from the relay (before deregistering). */
  async closeUplink(): Promise<void> {
    await this.uplink?.close()
  }

  /** Drop relay sessions this node hosts and delete NAT mappings. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.uplink?.close()
      await Promise.allSettled([this.acceptor?.close(), this.host?.close(), this.nat?.close(), this.tunnel?.close()])
    })()
    return this.closing
  }
}

/** Operator guidance when the tunnel rung ran and gave no route (one sentence each). */
function tunnelAdvice(status: TunnelStatus): string[] {
  if (status.url !== undefined) return []
  const limited = status.tried.find((t) => t.outcome === 'rate_limited')
  if (limited !== undefined) {
    return [`Quick Tunnels from this host are cooling down after a provider rate limit (${limited.detail ?? 'cooldown'}); set IICP_TUNNEL_URL to a tunnel of your own meanwhile.`]
  }
  if (status.tried.some((t) => t.outcome === 'refused')) {
    return ['Another node on this host is creating a tunnel or just did (tunnels are created at most every 120 s host-wide); this node falls back meanwhile.']
  }
  if (status.tried.some((t) => t.outcome === 'unverified')) {
    return ['A tunnel URL was found but did not reach this node, so it is not advertised: check what the tunnel forwards to.']
  }
  return []
}

/** The socket error code behind a failed listen (the acceptor wraps it), for logs and messages. */
function causeCode(err: unknown): string {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('E') && code === code.toUpperCase()) return code
  }
  return 'unknown error'
}
