/**
 * The reachability ladder (wire.md §6.1–6.2; sem §6.4; official-sdks §4): operator endpoint, public
 * interface address, UPnP/NAT-PMP mapping, IPv6 pinhole, relay, local only. Every rung that would be
 * advertised is first proven with `verifyReachable`; nothing unverified is ever returned as endpoint.
 */
import { networkInterfaces as osNetworkInterfaces } from 'node:os'
import type { NetworkInterfaceInfo } from 'node:os'
import { isIP } from 'node:net'
import { classifyHost, IicpError, isIicpError, silentLogger } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import { detectContainer } from './container.js'
import { defaultRouteSourceIpv4 } from './local-route.js'
import { reachabilityOptionsFromEnv } from './env.js'
import type { ReachabilityEnv } from './env.js'
import { int } from './options.js'
import type { NatPmpOptions, UpnpOptions } from './options.js'
import { natPmp } from './nat-pmp.js'
import { upnp } from './upnp/port-mapper.js'
import { upnpFirewall } from './upnp/ipv6-firewall.js'
import { upnpErrorCode } from './upnp/soap.js'
import type { Ipv6Firewall, Pinhole, PortMapper, PortMapping } from './types.js'

/** Reachability tiers (the README's table; official-sdks §4.1). */
export type ReachabilityTier = '0' | '1a' | '1b' | '1c' | '3' | '4'

/** ADR-043 §9 exposure_mode vocabulary; the directory rejects any other value. */
export type ExposureMode =
  | 'outbound_only'
  | 'ipv4_public_direct'
  | 'ipv4_cgnat_blocked'
  | 'ipv6_direct_firewall_required'
  | 'ipv6_direct_pinhole_available'
  | 'relay_required'
  | 'tunnel_required'
  | 'dual_stack_available'

/** REGISTER `transport_method` for the chosen route (wire.md §1.2). */
export type TransportMethod = 'direct' | 'upnp_mapped' | 'turn_relay'

/** One rung of the ladder and how it went. */
export interface ReachabilityAttempt {
  step: 'auto_detect' | 'operator_endpoint' | 'relay_worker_endpoint' | 'public_interface' | 'container' | 'upnp' | 'nat_pmp' | 'ipv6_pinhole' | 'ipv6_direct' | 'cgnat'
  outcome: 'ok' | 'failed' | 'skipped'
  detail: string
}

/** What the ladder decided. */
export interface ReachabilityResult {
  tier: ReachabilityTier
  exposureMode: ExposureMode
  /** Verified URL to register; absent when nothing was verified (tiers 3 and 4). */
  endpoint?: string
  transportMethod?: TransportMethod
  /** Tier 3: use a relay; `endpoint` when the operator named one, else `elect` one from discover. */
  relay?: { endpoint?: string; elect: boolean }
  /** The gateway's WAN address when one answered. */
  wanAddress?: string
  tried: ReachabilityAttempt[]
  /** Operator guidance, one sentence each. */
  advice: string[]
}

/** The gateways the ladder may use; `findGateway` returns them so tests can inject fakes. */
export interface GatewayClients {
  /** Port mappers in the order to try (default: UPnP, then NAT-PMP). */
  mappers: PortMapper[]
  /** The IPv6 firewall (default: UPnP WANIPv6FirewallControl:1). */
  firewall?: Ipv6Firewall
}

/** Options of `detectReachability` and `reachabilityManager`. Explicit options beat `env`. */
export interface DetectReachabilityOptions {
  /** Local port the node listens on (it must already listen: verification dials it). */
  port: number
  /** Scheme of advertised endpoints. @default 'http' */
  scheme?: 'http' | 'https'
  /** IICP_AUTO_DETECT_NAT, IICP_PUBLIC_ENDPOINT, IICP_RELAY_WORKER_ENDPOINT, KUBERNETES_SERVICE_HOST. @default {} */
  env?: ReachabilityEnv
  /** @default from env, else true */
  autoDetect?: boolean
  /** @default from env */
  publicEndpoint?: string
  /** @default from env */
  relayWorkerEndpoint?: string
  /**
   * Proves a URL answers from outside (e.g. the directory's `/v1/probe` or a dial-back).
   * @default none: nothing counts as verified, so nothing is advertised
   */
  verifyReachable?: (url: string, signal: AbortSignal) => Promise<boolean>
  /** @default os.networkInterfaces */
  networkInterfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>
  /** @default upnp(upnp), natPmp(natPmp) and upnpFirewall(upnp) */
  findGateway?: () => Promise<GatewayClients>
  /** Resolves with the reason when running in a container. @default /.dockerenv, /proc/1/cgroup, KUBERNETES_SERVICE_HOST */
  detectContainer?: () => Promise<string | undefined>
  /**
   * The local IPv4 address the default route leaves from. Asked only when an interface has a 100.64.0.0/10
   * address, to tell the provider's carrier-grade NAT from an overlay such as Tailscale that uses the same range.
   * @default from /proc/net/route (sends nothing); undefined elsewhere, and then such an address counts as CGNAT
   */
  defaultRouteAddress?: () => Promise<string | undefined>
  /** Options for the default UPnP clients. */
  upnp?: UpnpOptions
  /** Options for the default NAT-PMP client. */
  natPmp?: NatPmpOptions
  logger?: Logger
  signal?: AbortSignal
}

/** Something the ladder opened and someone must renew and finally release. */
export interface HeldLease {
  readonly kind: 'port_mapping' | 'pinhole'
  readonly expiresAt: number
  renew(signal?: AbortSignal): Promise<void>
  release(): Promise<void>
}

/** Detection outcome plus what it holds open (internal to the package). */
export interface Detection {
  result: ReachabilityResult
  leases: HeldLease[]
  /** Closes every gateway client the ladder created. */
  dispose(): Promise<void>
}

/**
 * Walk the ladder once and report the tier, what was tried and the advice. This is a probe (the
 * CLI's `iicp nat detect`): whatever it opened on the gateway is removed before it returns. Use
 * `reachabilityManager` to keep and renew the route.
 */
export async function detectReachability(options: DetectReachabilityOptions): Promise<ReachabilityResult> {
  const detection = await runDetection(options)
  await Promise.allSettled(detection.leases.map((l) => l.release()))
  await detection.dispose()
  return detection.result
}

/** The ladder itself; the manager keeps the leases, the probe releases them. */
export async function runDetection(options: DetectReachabilityOptions): Promise<Detection> {
  if (typeof options.port !== 'number') {
    throw new IicpError('invalid_config', 'Option port is required: the local port the node listens on', { fields: { port: ['is required'] } })
  }
  const port = int('port', options.port, 0, 1, 65535)
  const fromEnv = reachabilityOptionsFromEnv(options.env ?? {})
  const autoDetect = options.autoDetect ?? fromEnv.autoDetect ?? true
  const publicEndpoint = options.publicEndpoint ?? fromEnv.publicEndpoint
  const relayWorkerEndpoint = options.relayWorkerEndpoint ?? fromEnv.relayWorkerEndpoint
  const scheme = options.scheme ?? 'http'
  const logger = (options.logger ?? silentLogger).child({ component: 'nat.reachability' })
  const signal = options.signal ?? new AbortController().signal
  const tried: ReachabilityAttempt[] = []
  const advice: string[] = []
  const leases: HeldLease[] = []
  let gateway: GatewayClients | undefined
  const dispose = async (): Promise<void> => {
    if (!gateway) return
    await Promise.allSettled([...gateway.mappers.map((m) => m.close()), gateway.firewall?.close()])
  }

  const verify = async (url: string): Promise<boolean> => {
    if (!options.verifyReachable) return false
    try {
      return await options.verifyReachable(url, signal)
    } catch (err) {
      logger.debug({ url, err }, 'reachability check threw; counting it as unreachable')
      return false
    }
  }
  const unverifiedNote = options.verifyReachable ? 'did not answer the reachability check' : 'was not checked (no verifyReachable hook), so it is not advertised'
  const done = (result: Omit<ReachabilityResult, 'tried' | 'advice'>): Detection => {
    const full: ReachabilityResult = { ...result, tried, advice }
    logger.info({ tier: full.tier, exposureMode: full.exposureMode, endpoint: full.endpoint, tried }, 'reachability detected')
    for (const line of advice) logger.warn({ tier: full.tier }, line)
    return { result: full, leases, dispose }
  }

  // Operator overrides come first, with or without auto-detection.
  if (publicEndpoint) {
    const host = endpointHost(publicEndpoint)
    if (!host) {
      tried.push({ step: 'operator_endpoint', outcome: 'failed', detail: 'IICP_PUBLIC_ENDPOINT is not an http(s) URL' })
      advice.push('Set IICP_PUBLIC_ENDPOINT to a full URL such as https://node.example.org:9484.')
    } else if (classifyHost(host.name) !== 'public') {
      tried.push({ step: 'operator_endpoint', outcome: 'failed', detail: `IICP_PUBLIC_ENDPOINT names a ${classifyHost(host.name)} host, which the directory cannot reach` })
      advice.push('IICP_PUBLIC_ENDPOINT must name a public address or host name.')
    } else if (await verify(publicEndpoint)) {
      tried.push({ step: 'operator_endpoint', outcome: 'ok', detail: `${publicEndpoint} answered the reachability check` })
      return done({ tier: '0', exposureMode: isIP(host.name) === 6 ? 'ipv6_direct_pinhole_available' : 'ipv4_public_direct', endpoint: publicEndpoint, transportMethod: 'direct' })
    } else {
      tried.push({ step: 'operator_endpoint', outcome: 'failed', detail: `${publicEndpoint} ${unverifiedNote}` })
      advice.push(`IICP_PUBLIC_ENDPOINT ${publicEndpoint} is not reachable from outside: check the port forward or reverse proxy in front of port ${port}.`)
    }
  }
  if (relayWorkerEndpoint) {
    tried.push({ step: 'relay_worker_endpoint', outcome: 'ok', detail: `IICP_RELAY_WORKER_ENDPOINT names ${relayWorkerEndpoint}; no relay is elected` })
    return done({ tier: '3', exposureMode: 'relay_required', transportMethod: 'turn_relay', relay: { endpoint: relayWorkerEndpoint, elect: false } })
  }
  if (!autoDetect) {
    tried.push({ step: 'auto_detect', outcome: 'skipped', detail: 'IICP_AUTO_DETECT_NAT=false: no detection ran' })
    advice.push('Automatic NAT detection is off: set IICP_PUBLIC_ENDPOINT or IICP_RELAY_WORKER_ENDPOINT to be reachable from outside.')
    return done({ tier: '4', exposureMode: 'outbound_only' })
  }

  // Tier 0: a public address on an interface (cloud VMs).
  const interfaceList = options.networkInterfaces ?? osNetworkInterfaces
  const addresses = listAddresses(interfaceList)
  const publicV4 = addresses.filter((a) => a.family === 4 && classifyHost(a.address) === 'public')
  const globalV6 = addresses.filter((a) => a.family === 6 && classifyHost(a.address) === 'public')
  if (publicV4.length === 0) tried.push({ step: 'public_interface', outcome: 'skipped', detail: 'no public IPv4 address on any interface' })
  for (const a of publicV4) {
    const url = endpointUrl(scheme, a.address, port)
    if (await verify(url)) {
      tried.push({ step: 'public_interface', outcome: 'ok', detail: `${url} on ${a.iface} answered the reachability check` })
      return done({ tier: '0', exposureMode: 'ipv4_public_direct', endpoint: url, transportMethod: 'direct' })
    }
    tried.push({ step: 'public_interface', outcome: 'failed', detail: `${url} on ${a.iface} ${unverifiedNote}` })
    advice.push(`The public address ${a.address} does not accept connections on port ${port}: open it in the host or cloud firewall.`)
  }

  const container = await (options.detectContainer ?? (() => detectContainer({ env: options.env ?? {} })))()
  if (container) {
    tried.push({ step: 'container', outcome: 'ok', detail: `${container}: UPnP, NAT-PMP and pinholes skipped (they would reach the container NAT)` })
    advice.push(`Running in a container (${container}): publish port ${port} on the host and set IICP_PUBLIC_ENDPOINT to the host's public URL, or set IICP_RELAY_WORKER_ENDPOINT.`)
    return done({ tier: '4', exposureMode: 'outbound_only' })
  }

  // Why we believe another NAT sits upstream (then a relay is the way out), if we do.
  let upstreamNat: string | undefined
  let wanAddress: string | undefined

  // A host on mobile data (LTE/5G modems) or on a line without public IPv4 holds the carrier's 100.64/10
  // address itself, with no home router to report it. The mappers below still run: a verified mapping wins.
  const sharedV4 = addresses.filter((a) => a.family === 4 && classifyHost(a.address) === 'cgnat')
  if (sharedV4.length > 0) {
    const routeSource = await (options.defaultRouteAddress ?? (() => defaultRouteSourceIpv4({ networkInterfaces: interfaceList })))().catch(() => undefined)
    const listed = sharedV4.map((a) => `${a.address} on ${a.iface}`).join(', ')
    if (routeSource !== undefined && classifyHost(routeSource) !== 'cgnat') {
      tried.push({ step: 'cgnat', outcome: 'skipped', detail: `${listed} is in 100.64.0.0/10, but the default route leaves from ${routeSource}: an overlay network (such as Tailscale), not the provider's NAT` })
    } else {
      const own = sharedV4.find((a) => a.address === routeSource) ?? sharedV4[0]
      const named = routeSource ?? own?.address ?? ''
      const where = own !== undefined && own.address === named ? ` on ${own.iface}` : ''
      upstreamNat = `this host's own address ${named}${where} is in 100.64.0.0/10, so the provider's carrier-grade NAT is in front (mobile data, or a line without a public IPv4 address)`
      tried.push({
        step: 'cgnat',
        outcome: 'ok',
        detail: routeSource !== undefined
          ? `the default route leaves from ${named}${where}, in 100.64.0.0/10: carrier-grade NAT`
          : `${listed} is in 100.64.0.0/10 and the default route could not be read: carrier-grade NAT assumed`,
      })
    }
  }

  try {
    gateway = await (options.findGateway ?? (async () => defaultGateway(options)))()
  } catch (err) {
    tried.push({ step: 'upnp', outcome: 'failed', detail: `gateway finder failed: ${describe(err)}` })
    gateway = { mappers: [] }
  }

  // Tier 1a: map the port on the home router.
  for (const mapper of gateway.mappers) {
    const step = mapper.method === 'upnp' ? 'upnp' : 'nat_pmp'
    const name = mapper.method === 'upnp' ? 'UPnP' : 'NAT-PMP'
    let external: string
    try {
      external = await mapper.externalAddress({ signal })
    } catch (err) {
      tried.push({ step, outcome: 'failed', detail: `${name}: ${describe(err)}` })
      // A gateway that answers but withholds its WAN address usually has none worth mapping: miniupnpd
      // does this for a 100.64/10 or private WAN, as do routers behind DS-Lite. A relay still works.
      if (isIicpError(err) && err.extra?.wan_address_missing === true) {
        upstreamNat = `the ${name} gateway withholds its WAN address (carrier-grade NAT, or the router wants permission for ${name} changes)`
        tried.push({ step: 'cgnat', outcome: 'ok', detail: `${name} gateway withholds its WAN address: carrier-grade NAT suspected` })
        break
      }
      continue
    }
    wanAddress = external
    const wanClass = classifyHost(external)
    if (wanClass !== 'public') {
      upstreamNat = `the router's WAN address ${external} is ${wanClass === 'cgnat' ? 'in 100.64.0.0/10 (carrier-grade NAT)' : `${wanClass} (a second NAT in front)`}`
      tried.push({ step: 'cgnat', outcome: 'ok', detail: `${name} reports the WAN address ${external} (${wanClass}): carrier-grade NAT or a second router in front` })
      break
    }
    let mapping: PortMapping
    try {
      mapping = await mapper.map({ internalPort: port, externalPort: port, protocol: 'TCP' }, { signal })
    } catch (err) {
      tried.push({ step, outcome: 'failed', detail: `${name} refused to map port ${port}: ${describe(err)}` })
      if (upnpErrorCode(err) === 606 || (isIicpError(err) && err.code === 'forbidden')) {
        advice.push(`The router refused the ${name} port mapping: allow "${name}" / "permit access for applications" for this device in its settings.`)
      }
      continue
    }
    const url = endpointUrl(scheme, mapping.externalHost, mapping.externalPort)
    if (await verify(url)) {
      tried.push({ step, outcome: 'ok', detail: `${name} mapped ${mapping.externalHost}:${mapping.externalPort} to port ${port}; ${url} answered the reachability check` })
      leases.push(mappingLease(mapper, mapping))
      return done({ tier: '1a', exposureMode: 'ipv4_public_direct', endpoint: url, transportMethod: 'upnp_mapped', wanAddress: external })
    }
    tried.push({ step, outcome: 'failed', detail: `${name} mapped ${mapping.externalHost}:${mapping.externalPort} but ${url} ${unverifiedNote}; mapping removed` })
    await mapper.unmap(mapping).catch((err: unknown) => logger.warn({ code: isIicpError(err) ? err.code : 'unknown' }, 'could not remove an unverified mapping'))
    // A mapping that works on the router but not from outside means another NAT or a firewall upstream.
    if (options.verifyReachable) upstreamNat = `the mapping on ${mapping.externalHost}:${mapping.externalPort} is not reachable from outside (another NAT or a firewall upstream)`
    break
  }

  // Tiers 1b/1c: IPv6 is not NATed, only firewalled.
  if (globalV6.length === 0) {
    tried.push({ step: 'ipv6_direct', outcome: 'skipped', detail: 'no global IPv6 address on any interface' })
  }
  for (const a of globalV6.slice(0, 2)) {
    const url = endpointUrl(scheme, a.address, port)
    let refused = false
    if (gateway.firewall) {
      let pinhole: Pinhole | undefined
      try {
        pinhole = await gateway.firewall.open({ internalHost: a.address, internalPort: port, protocol: 'TCP' }, { signal })
      } catch (err) {
        refused = isIicpError(err) && err.code === 'forbidden'
        tried.push({ step: 'ipv6_pinhole', outcome: 'failed', detail: `AddPinhole for [${a.address}]:${port}: ${describe(err)}` })
        if (refused) {
          advice.push(`The router refused the IPv6 pinhole (UPnP ${upnpErrorCode(err) ?? 'error'}): allow inbound TCP port ${port} to ${a.address} (FRITZ!Box: Internet > Permit Access > Port Sharing > "Permit independent port sharing" for this device).`)
        }
      }
      if (pinhole) {
        if (await verify(url)) {
          tried.push({ step: 'ipv6_pinhole', outcome: 'ok', detail: `pinhole ${pinhole.uniqueId} open for ${url}; it answered the reachability check` })
          leases.push(pinholeLease(gateway.firewall, pinhole))
          return done({ tier: '1b', exposureMode: 'ipv6_direct_pinhole_available', endpoint: url, transportMethod: 'direct', ...(wanAddress ? { wanAddress } : {}) })
        }
        tried.push({ step: 'ipv6_pinhole', outcome: 'failed', detail: `pinhole ${pinhole.uniqueId} open but ${url} ${unverifiedNote}; pinhole removed` })
        await gateway.firewall.delete(pinhole).catch((err: unknown) => logger.warn({ code: isIicpError(err) ? err.code : 'unknown' }, 'could not remove an unverified pinhole'))
      }
    }
    if (await verify(url)) {
      tried.push({ step: 'ipv6_direct', outcome: 'ok', detail: `${url} answered the reachability check without a pinhole` })
      if (refused) {
        return done({ tier: '1c', exposureMode: 'ipv6_direct_firewall_required', endpoint: url, transportMethod: 'direct', ...(wanAddress ? { wanAddress } : {}) })
      }
      return done({ tier: '0', exposureMode: 'ipv6_direct_pinhole_available', endpoint: url, transportMethod: 'direct', ...(wanAddress ? { wanAddress } : {}) })
    }
    tried.push({ step: 'ipv6_direct', outcome: 'failed', detail: `${url} ${unverifiedNote}` })
  }

  if (upstreamNat) {
    advice.push(`No direct route: ${upstreamNat}, and no usable IPv6. The node will serve through a relay it elects; a public IPv4 address or IPv6 from the provider would make it directly reachable.`)
    return done({ tier: '3', exposureMode: 'relay_required', transportMethod: 'turn_relay', relay: { elect: true }, ...(wanAddress ? { wanAddress } : {}) })
  }
  advice.push(
    `Not reachable from outside: forward TCP port ${port} on the router (or enable UPnP/NAT-PMP), set IICP_PUBLIC_ENDPOINT to a verified URL, or set IICP_RELAY_WORKER_ENDPOINT. The node keeps serving locally.`,
  )
  return done({ tier: '4', exposureMode: 'outbound_only', ...(wanAddress ? { wanAddress } : {}) })
}

function defaultGateway(options: DetectReachabilityOptions): GatewayClients {
  const common = { ...(options.logger ? { logger: options.logger } : {}) }
  return {
    mappers: [upnp({ ...common, ...options.upnp }), natPmp({ ...common, ...options.natPmp })],
    firewall: upnpFirewall({ ...common, ...options.upnp }),
  }
}

function mappingLease(mapper: PortMapper, initial: PortMapping): HeldLease {
  let current = initial
  return {
    kind: 'port_mapping',
    get expiresAt() {
      return current.expiresAt
    },
    async renew(signal) {
      current = await mapper.refresh(current, signal ? { signal } : {})
    },
    async release() {
      await mapper.unmap(current)
    },
  }
}

function pinholeLease(firewall: Ipv6Firewall, initial: Pinhole): HeldLease {
  let current = initial
  return {
    kind: 'pinhole',
    get expiresAt() {
      return current.expiresAt
    },
    async renew(signal) {
      current = await firewall.refresh(current, signal ? { signal } : {})
    },
    async release() {
      await firewall.delete(current)
    },
  }
}

interface LocalAddress {
  iface: string
  address: string
  family: 4 | 6
}

function listAddresses(source: () => NodeJS.Dict<NetworkInterfaceInfo[]>): LocalAddress[] {
  const out: LocalAddress[] = []
  for (const [iface, infos] of Object.entries(source())) {
    for (const info of infos ?? []) {
      if (info.internal) continue
      const family = info.family === 'IPv6' ? 6 : 4
      // Temporary (privacy) IPv6 addresses rotate; Node does not flag them, so take them in listed order.
      out.push({ iface, address: info.address.split('%')[0] ?? info.address, family })
    }
  }
  return out
}

function endpointUrl(scheme: string, host: string, port: number): string {
  return `${scheme}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`
}

function endpointHost(url: string): { name: string } | undefined {
  try {
    const u = new URL(url)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined
    return { name: u.hostname.replace(/^\[|\]$/g, '') }
  } catch {
    return undefined
  }
}

function describe(err: unknown): string {
  if (isIicpError(err)) return `${err.code}: ${err.message}`
  // Foreign errors (from an injected seam) may carry anything; only their class name is shown.
  return err instanceof Error ? `unexpected ${err.name}` : 'unexpected failure'
}
