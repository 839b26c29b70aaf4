/**
 * Options of the mappers and the firewall, with their defaults (nat1 §5; RFC 6886 §3.3). Parsed once
 * by each factory and frozen; a bad value fails right there with `invalid_config` naming the option.
 * (zod is not a dependency of this package, so validation is a few explicit checks.)
 */
import { IicpError, silentLogger } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import type { Clock } from './types.js'

/** The real clock: Date.now and the global timers, unref'd so a pending renewal never holds the process open. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms)
    handle.unref()
    return handle
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

/** Options of `upnp()` and `upnpFirewall()`. */
export interface UpnpOptions {
  /** Description URL of a known gateway (e.g. `http://192.168.1.1:5000/rootDesc.xml`); skips SSDP. */
  gatewayUrl?: string
  /** SSDP multicast address to search. @default '239.255.255.250' */
  ssdpAddress?: string
  /** IPv6 SSDP groups the firewall search uses. @default ff02::c on each IPv6 interface, and ff05::c */
  ssdpAddresses6?: string[]
  /** SSDP port to search. @default 1900 */
  ssdpPort?: number
  /** How long to wait for SSDP answers. @default 3000 */
  discoveryTimeoutMs?: number
  /** Timeout of each HTTP call to the gateway. @default 5000 */
  requestTimeoutMs?: number
  /** Lease asked for each mapping or pinhole, in seconds. @default 3600 */
  leaseSeconds?: number
  /** Label the router shows for our mappings. @default 'iicp node' */
  description?: string
  /**
   * LAN address the gateway forwards to. For `upnpFirewall()` an IPv6 address here is also the
   * source of the control calls, as routers only open pinholes for the asking address.
   * @default the local address on the route to the gateway
   */
  internalClient?: string
  clock?: Clock
  logger?: Logger
}

/** Options of `natPmp()`. */
export interface NatPmpOptions {
  /** Gateway address. @default the IPv4 default gateway from /proc/net/route */
  gateway?: string
  /** NAT-PMP server port. @default 5351 */
  port?: number
  /** First retransmission timeout; doubles per try (RFC 6886 §3.1). @default 250 */
  initialTimeoutMs?: number
  /** Tries before giving up (RFC 6886 says 9; we stop earlier to keep detection short). @default 4 */
  retries?: number
  /** Lease asked for each mapping, in seconds (RFC 6886 §3.3 recommends 7200). @default 3600 */
  leaseSeconds?: number
  clock?: Clock
  logger?: Logger
}

/** Resolved upnp options. */
export interface ResolvedUpnpOptions {
  readonly gatewayUrl: string | undefined
  readonly ssdpAddress: string
  readonly ssdpAddresses6: readonly string[] | undefined
  readonly ssdpPort: number
  readonly discoveryTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly leaseSeconds: number
  readonly description: string
  readonly internalClient: string | undefined
  readonly clock: Clock
  readonly logger: Logger
}

/** Resolved NAT-PMP options. */
export interface ResolvedNatPmpOptions {
  readonly gateway: string | undefined
  readonly port: number
  readonly initialTimeoutMs: number
  readonly retries: number
  readonly leaseSeconds: number
  readonly clock: Clock
  readonly logger: Logger
}

/** Parse and freeze `upnp()` options. */
export function resolveUpnpOptions(options: UpnpOptions = {}): ResolvedUpnpOptions {
  if (options.gatewayUrl !== undefined) checkUrl('gatewayUrl', options.gatewayUrl)
  return Object.freeze({
    gatewayUrl: options.gatewayUrl,
    ssdpAddress: options.ssdpAddress ?? '239.255.255.250',
    ssdpAddresses6: options.ssdpAddresses6 ? Object.freeze([...options.ssdpAddresses6]) : undefined,
    ssdpPort: int('ssdpPort', options.ssdpPort, 1900, 1, 65535),
    discoveryTimeoutMs: int('discoveryTimeoutMs', options.discoveryTimeoutMs, 3000, 10, 60_000),
    requestTimeoutMs: int('requestTimeoutMs', options.requestTimeoutMs, 5000, 10, 60_000),
    // IGDv2 caps leases at one week (WANIPConnection:2 §2.3.16).
    leaseSeconds: int('leaseSeconds', options.leaseSeconds, 3600, 0, 604_800),
    description: text('description', options.description, 'iicp node'),
    internalClient: options.internalClient,
    clock: options.clock ?? systemClock,
    logger: (options.logger ?? silentLogger).child({ component: 'nat.upnp' }),
  })
}

/** Parse and freeze `natPmp()` options. */
export function resolveNatPmpOptions(options: NatPmpOptions = {}): ResolvedNatPmpOptions {
  return Object.freeze({
    gateway: options.gateway,
    port: int('port', options.port, 5351, 1, 65535),
    initialTimeoutMs: int('initialTimeoutMs', options.initialTimeoutMs, 250, 1, 10_000),
    retries: int('retries', options.retries, 4, 1, 9),
    leaseSeconds: int('leaseSeconds', options.leaseSeconds, 3600, 1, 0xffffffff),
    clock: options.clock ?? systemClock,
    logger: (options.logger ?? silentLogger).child({ component: 'nat.natpmp' }),
  })
}

/** An integer option within [min, max], or its default. */
export function int(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new IicpError('invalid_config', `Option ${name} must be an integer from ${min} to ${max}`, { fields: { [name]: [`must be an integer from ${min} to ${max}`] } })
  }
  return value
}

function text(name: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback
  if (value.length === 0 || value.length > 64 || /[\u0000-\u001f<>&]/.test(value)) {
    throw new IicpError('invalid_config', `Option ${name} must be 1 to 64 printable characters without < > &`, { fields: { [name]: ['must be 1 to 64 printable characters'] } })
  }
  return value
}

function checkUrl(name: string, value: string): void {
  let ok = false
  try {
    const u = new URL(value)
    ok = u.protocol === 'http:' || u.protocol === 'https:'
  } catch {
    ok = false
  }
  if (!ok) throw new IicpError('invalid_config', `Option ${name} must be an http(s) URL`, { fields: { [name]: ['must be an http(s) URL'] } })
}
