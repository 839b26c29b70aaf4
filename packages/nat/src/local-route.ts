/**
 * Which local address faces the gateway, and where the default gateway is (nat2 §1: the internal
 * client must be the address on the gateway's subnet, not a VPN's, or routers answer 606/718).
 */
import { createSocket } from 'node:dgram'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { networkInterfaces as osNetworkInterfaces } from 'node:os'
import type { NetworkInterfaceInfo } from 'node:os'
import { IicpError } from '@iicp/protocol'

/**
 * The local address the kernel would use to reach `host`. A connected UDP socket sends nothing,
 * so this costs no traffic.
 */
export async function localAddressToward(host: string, port = 9): Promise<string> {
  const family = isIP(host) === 6 ? 'udp6' : 'udp4'
  const socket = createSocket(family)
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.connect(port, host, () => {
        socket.off('error', reject)
        resolve()
      })
    })
    return socket.address().address
  } catch (err) {
    throw new IicpError('connection_failed', `No route toward the gateway ${host}`, { cause: err })
  } finally {
    socket.close()
  }
}

/** The IPv4 default gateway from /proc/net/route (Linux); undefined elsewhere or without one. */
export async function defaultGatewayIpv4(routeTable = '/proc/net/route'): Promise<string | undefined> {
  let text: string
  try {
    text = await readFile(routeTable, 'utf8')
  } catch {
    // Not Linux, or no procfs: the caller must pass the gateway address itself.
    return undefined
  }
  for (const line of text.split('\n').slice(1)) {
    const [, destination, gateway, flags] = line.trim().split(/\s+/)
    if (destination !== '00000000' || !gateway || !flags) continue
    // RTF_GATEWAY (0x2) set: the route goes through a router, not straight onto a link.
    if ((Number.parseInt(flags, 16) & 0x2) === 0) continue
    return littleEndianIpv4(gateway)
  }
  return undefined
}

/**
 * The local IPv4 address the default route leaves from (Linux), or undefined without procfs or a
 * default route. The lowest-metric default route counts. Through a router, the kernel picks the source
 * toward it (a connected UDP socket, which sends nothing); a point-to-point default (`default dev wwan0`,
 * as LTE modems and PPP links set it) has no router, so it is that interface's own IPv4 address.
 */
export async function defaultRouteSourceIpv4(
  options: { routeTable?: string; networkInterfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]> } = {},
): Promise<string | undefined> {
  let text: string
  try {
    text = await readFile(options.routeTable ?? '/proc/net/route', 'utf8')
  } catch {
    // Not Linux, or no procfs: the route cannot be read without sending something.
    return undefined
  }
  let best: { iface: string; gateway: string | undefined; metric: number } | undefined
  for (const line of text.split('\n').slice(1)) {
    const [iface, destination, gateway, flags, , , metric, mask] = line.trim().split(/\s+/)
    if (!iface || destination !== '00000000' || mask !== '00000000' || !gateway || !flags) continue
    const bits = Number.parseInt(flags, 16)
    // RTF_UP (0x1) or the route is not in use.
    if ((bits & 0x1) === 0) continue
    const m = Number.parseInt(metric ?? '0', 10) || 0
    if (best !== undefined && m >= best.metric) continue
    // RTF_GATEWAY (0x2): through a router; otherwise straight onto the link.
    best = { iface, gateway: (bits & 0x2) !== 0 ? littleEndianIpv4(gateway) : undefined, metric: m }
  }
  if (best === undefined) return undefined
  if (best.gateway !== undefined) {
    try {
      return await localAddressToward(best.gateway)
    } catch {
      return undefined
    }
  }
  const infos = (options.networkInterfaces ?? osNetworkInterfaces)()[best.iface] ?? []
  return infos.find((i) => i.family === 'IPv4' && !i.internal)?.address
}

/** /proc/net/route prints addresses in host (little-endian) byte order. */
function littleEndianIpv4(hex: string): string {
  const n = Number.parseInt(hex, 16)
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.')
}
