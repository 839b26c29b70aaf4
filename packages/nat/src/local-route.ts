/**
 * Which local address faces the gateway, and where the default gateway is (nat2 §1: the internal
 * client must be the address on the gateway's subnet, not a VPN's, or routers answer 606/718).
 */
import { createSocket } from 'node:dgram'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
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
    const n = Number.parseInt(gateway, 16)
    // /proc/net/route prints the address in host (little-endian) byte order.
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.')
  }
  return undefined
}
