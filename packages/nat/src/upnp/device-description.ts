/**
 * Reads an IGD's device description (UPnP Device Architecture 2.0 §2.3) and picks the services the
 * mapper needs: a WAN connection service (WANIPConnection:2, :1 or WANPPPConnection:1) and the
 * WANIPv6FirewallControl:1 service, each with its own absolute control URL.
 */
import type { Agent } from 'undici'
import { IicpError } from '@iicp/protocol'
import { gatewayFetch, safeUrl } from './http.js'
import { record, xmlParser } from './soap.js'

const DESCRIPTION_MAX_BYTES = 256 * 1024

/** Preference order for the WAN connection service: IGDv2 first, then IGDv1's two kinds. */
export const WAN_CONNECTION_SERVICES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
] as const

/** The IPv6 firewall service (WANIPv6FirewallControl:1). */
export const IPV6_FIREWALL_SERVICE = 'urn:schemas-upnp-org:service:WANIPv6FirewallControl:1'

/** One service of the device tree with its resolved control URL. */
export interface IgdService {
  serviceType: string
  controlUrl: string
}

/** What the mapper needs from a gateway's description. */
export interface IgdDescription {
  location: string
  deviceType: string
  wanConnection: IgdService | undefined
  ipv6Firewall: IgdService | undefined
}

/** Fetch and read a description; control URLs must stay on the description's host. */
export async function fetchDescription(
  dispatcher: Agent,
  location: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<IgdDescription> {
  const res = await gatewayFetch(dispatcher, location, { method: 'GET', timeoutMs, maxBytes: DESCRIPTION_MAX_BYTES, signal })
  if (res.status !== 200) {
    throw new IicpError('invalid_response', `Gateway description at ${safeUrl(location)} answered HTTP ${res.status}`)
  }
  let doc: Record<string, unknown> | undefined
  try {
    doc = record(xmlParser.parse(res.body))
  } catch (err) {
    throw new IicpError('invalid_response', `Gateway description at ${safeUrl(location)} is not XML`, { cause: err })
  }
  const root = record(doc?.root)
  const device = record(root?.device)
  if (!root || !device) throw new IicpError('invalid_response', `Gateway description at ${safeUrl(location)} has no root device`)
  const base = typeof root.URLBase === 'string' && root.URLBase !== '' ? root.URLBase : location
  const services = collectServices(device, base, location)
  const wanConnection = WAN_CONNECTION_SERVICES.map((t) => services.find((s) => s.serviceType === t)).find((s) => s !== undefined)
  return {
    location,
    deviceType: typeof device.deviceType === 'string' ? device.deviceType : '',
    wanConnection,
    ipv6Firewall: services.find((s) => s.serviceType === IPV6_FIREWALL_SERVICE),
  }
}

function collectServices(device: Record<string, unknown>, base: string, location: string): IgdService[] {
  const out: IgdService[] = []
  for (const service of list(record(device.serviceList)?.service)) {
    const type = service.serviceType
    const control = service.controlURL
    if (typeof type !== 'string' || typeof control !== 'string' || control === '') continue
    const controlUrl = resolveOnSameHost(control, base, location)
    if (controlUrl) out.push({ serviceType: type, controlUrl })
  }
  for (const child of list(record(device.deviceList)?.device)) out.push(...collectServices(child, base, location))
  return out
}

// A description could point control calls at any host; we only talk to the device that answered.
function resolveOnSameHost(path: string, base: string, location: string): string | undefined {
  try {
    const url = new URL(path, base)
    const origin = new URL(location)
    if (url.hostname !== origin.hostname || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined
    return url.toString()
  } catch {
    return undefined
  }
}

function list(value: unknown): Record<string, unknown>[] {
  const items = Array.isArray(value) ? value : [value]
  return items.map(record).filter((v): v is Record<string, unknown> => v !== undefined)
}
