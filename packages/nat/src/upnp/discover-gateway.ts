/**
 * Finds an Internet Gateway Device: a static description URL when configured, else the first SSDP
 * answer whose description holds the wanted service. One bad device never ends the search.
 */
import type { Agent } from 'undici'
import { classifyHost, IicpError } from '@iicp/protocol'
import type { ResolvedUpnpOptions } from '../options.js'
import { fetchDescription } from './device-description.js'
import type { IgdDescription } from './device-description.js'
import { bareHost, IGD_SEARCH_TARGETS, ssdpSearch } from './ssdp.js'
import { IPV6_FIREWALL_SERVICE } from './device-description.js'
import { BlockList, isIP } from 'node:net'
import { networkInterfaces } from 'node:os'
import type { NetworkInterfaceInfo } from 'node:os'
import { safeUrl } from './http.js'

/** Which service the caller needs from the gateway. */
export type WantedService = 'wanConnection' | 'ipv6Firewall'

/** Discover a gateway offering `wanted`; throws IicpError `not_found` when none answers. */
export async function discoverGateway(
  dispatcher: Agent,
  options: ResolvedUpnpOptions,
  wanted: WantedService,
  signal?: AbortSignal,
): Promise<IgdDescription> {
  if (options.gatewayUrl) {
    const description = await fetchDescription(dispatcher, options.gatewayUrl, options.requestTimeoutMs, signal)
    if (!description[wanted]) throw missing(wanted, safeUrl(options.gatewayUrl))
    return description
  }
  const skipped: string[] = []
  // Pinholes must be asked for from the IPv6 address they open (miniupnpd answers 606 otherwise),
  // so the firewall is searched over IPv6 and its control URL is an IPv6 one.
  const v6 = wanted === 'ipv6Firewall'
  for await (const answer of ssdpSearch({
    searchTargets: v6 ? [IPV6_FIREWALL_SERVICE, ...IGD_SEARCH_TARGETS] : IGD_SEARCH_TARGETS,
    multicastAddresses: v6 ? (options.ssdpAddresses6 ?? defaultSsdpAddresses6()) : [options.ssdpAddress],
    multicastPort: options.ssdpPort,
    family: v6 ? 6 : 4,
    mx: Math.max(1, Math.min(5, Math.floor(options.discoveryTimeoutMs / 1000))),
    timeoutMs: options.discoveryTimeoutMs,
    signal,
  })) {
    if (!acceptableLocation(answer.location, answer.from)) {
      skipped.push(`${answer.from}: LOCATION points at a public host`)
      continue
    }
    try {
      const description = await fetchDescription(dispatcher, answer.location, options.requestTimeoutMs, signal)
      if (description[wanted]) return description
      skipped.push(`${safeUrl(answer.location)}: no ${label(wanted)} service`)
    } catch (err) {
      if (signal?.aborted) throw err
      skipped.push(`${safeUrl(answer.location)}: ${err instanceof Error ? err.message : 'unreadable'}`)
      options.logger.debug({ location: safeUrl(answer.location), err }, 'skipping a gateway whose description failed')
    }
  }
  throw new IicpError(
    'not_found',
    skipped.length === 0
      ? `No UPnP gateway answered the SSDP search within ${options.discoveryTimeoutMs} ms`
      : `No UPnP gateway with a ${label(wanted)} service (${skipped.join('; ')})`,
  )
}

function missing(wanted: WantedService, where: string): IicpError {
  return new IicpError('not_found', `The gateway at ${where} has no ${label(wanted)} service`)
}

function label(wanted: WantedService): string {
  return wanted === 'wanConnection' ? 'WANIPConnection/WANPPPConnection' : 'WANIPv6FirewallControl:1'
}

/** The SSDP IPv6 groups: link-local ff02::c on every interface with IPv6, and site-local ff05::c. */
export function defaultSsdpAddresses6(): string[] {
  const out: string[] = []
  for (const [name, infos] of Object.entries(networkInterfaces())) {
    if ((infos ?? []).some((i) => i.family === 'IPv6' && !i.internal)) out.push(`ff02::c%${name}`)
  }
  out.push('ff05::c')
  return out
}

/**
 * A description is fetched from the answering host, or from another address on the local network
 * (routers answer IPv6 searches from a link-local address but name their ULA or global one). With
 * native IPv6 the router's LAN address is global, so a public host counts when it is on the subnet of
 * one of our own interfaces; any other public LOCATION is never fetched: a spoofed answer must not
 * make us call the internet.
 */
export function acceptableLocation(location: string, from: string, interfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces): boolean {
  const host = bareHost(location)
  if (host === from.split('%')[0]) return true
  const cls = classifyHost(host)
  if (cls === 'private' || cls === 'link_local' || cls === 'loopback') return true
  return cls === 'public' && onLink(host, interfaces())
}

/** Whether `host` (an IP literal) lies in the subnet of a non-loopback interface address. */
function onLink(host: string, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): boolean {
  const family = isIP(host)
  if (family === 0) return false
  const subnets = new BlockList()
  let any = false
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      if (info.internal || info.cidr === null || (info.family === 'IPv6') !== (family === 6)) continue
      const prefix = Number(info.cidr.slice(info.cidr.lastIndexOf('/') + 1))
      // A default-route-sized prefix would make the whole internet "local".
      if (!Number.isInteger(prefix) || prefix < (family === 6 ? 32 : 8)) continue
      subnets.addSubnet(info.address.split('%')[0] ?? info.address, prefix, family === 6 ? 'ipv6' : 'ipv4')
      any = true
    }
  }
  return any && subnets.check(host, family === 6 ? 'ipv6' : 'ipv4')
}
