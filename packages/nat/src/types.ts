/**
 * The small interfaces every reachability part implements (wire.md §6.1–6.2; nat1 §5). Mappers and
 * firewalls are factories (`upnp()`, `natPmp()`, `upnpFirewall()`) that return these shapes, so the
 * node and the tests can swap a real gateway for a fake one.
 */

/** Transport protocol of a port mapping. */
export type MappingProtocol = 'TCP' | 'UDP'

/** Which mechanism produced a mapping. */
export type MappingMethod = 'upnp' | 'nat-pmp'

/** Per-call options every network operation accepts. */
export interface CallOptions {
  /** Aborts the call; the promise rejects with IicpError `aborted`. */
  signal?: AbortSignal
}

/** What to map: a local port, optionally a wished-for external port. */
export interface MapRequest {
  /** Port the local server listens on. */
  internalPort: number
  /** Wished-for external port; the gateway may pick another. @default internalPort */
  externalPort?: number
  /** @default 'TCP' */
  protocol?: MappingProtocol
  /** Lease in seconds; 0 asks for a permanent mapping where the gateway insists. @default the mapper's leaseSeconds */
  leaseSeconds?: number
  /** Label shown in the router's UI. @default the mapper's description */
  description?: string
}

/** A mapping that exists on the gateway right now. */
export interface PortMapping {
  readonly method: MappingMethod
  readonly protocol: MappingProtocol
  /** LAN address the gateway forwards to. */
  readonly internalHost: string
  readonly internalPort: number
  /** WAN address of the gateway (what the rest of the world dials). */
  readonly externalHost: string
  /** The port the gateway actually reserved, which can differ from the one asked for. */
  readonly externalPort: number
  /** Granted lease in seconds; 0 means permanent (only deleted on close). */
  readonly leaseSeconds: number
  /** When the lease ends, in ms since the epoch by the mapper's clock; Infinity when permanent. */
  readonly expiresAt: number
  /** Description sent to the gateway. */
  readonly description: string
}

/**
 * Maps a port on a NAT gateway (IGD WANIPConnection/WANPPPConnection, or NAT-PMP RFC 6886).
 * `close()` deletes every mapping this mapper still holds.
 */
export interface PortMapper {
  readonly method: MappingMethod
  /** Create a mapping; resolves with what the gateway really granted. */
  map(request: MapRequest, options?: CallOptions): Promise<PortMapping>
  /** Delete a mapping by its real external port and protocol. Deleting one that is gone is not an error. */
  unmap(mapping: PortMapping, options?: CallOptions): Promise<void>
  /** Renew a mapping before its lease ends; resolves with the new expiry. */
  refresh(mapping: PortMapping, options?: CallOptions): Promise<PortMapping>
  /** The gateway's WAN address as the gateway reports it (may be private under CGNAT). */
  externalAddress(options?: CallOptions): Promise<string>
  /** Delete every mapping still held and release sockets. Idempotent. */
  close(): Promise<void>
}

/** What to open in an IPv6 firewall: inbound to one local address and port. */
export interface PinholeRequest {
  /** The local global IPv6 address to open. */
  internalHost: string
  internalPort: number
  /** @default 'TCP' */
  protocol?: MappingProtocol
  /** 1..86400 seconds (WANIPv6FirewallControl:1 §2.5.4). @default the firewall's leaseSeconds */
  leaseSeconds?: number
}

/** An open pinhole (WANIPv6FirewallControl:1 `UniqueID`). */
export interface Pinhole {
  readonly uniqueId: string
  readonly protocol: MappingProtocol
  readonly internalHost: string
  readonly internalPort: number
  readonly leaseSeconds: number
  /** When the lease ends, in ms since the epoch by the firewall's clock. */
  readonly expiresAt: number
}

/** What the gateway says about inbound IPv6 (GetFirewallStatus). */
export interface FirewallStatus {
  readonly firewallEnabled: boolean
  readonly inboundPinholeAllowed: boolean
}

/**
 * IPv6 pinholes through an IGD's WANIPv6FirewallControl:1 service; every call goes to that
 * service's own control URL. `close()` deletes every pinhole still held.
 */
export interface Ipv6Firewall {
  status(options?: CallOptions): Promise<FirewallStatus>
  /** AddPinhole; throws IicpError `forbidden` (UPnP 606) when the router refuses. */
  open(request: PinholeRequest, options?: CallOptions): Promise<Pinhole>
  /** UpdatePinhole with a fresh lease. */
  refresh(pinhole: Pinhole, options?: CallOptions): Promise<Pinhole>
  /** DeletePinhole. Deleting one that is gone is not an error. */
  delete(pinhole: Pinhole, options?: CallOptions): Promise<void>
  close(): Promise<void>
}

/** Time source and timers, injected so tests drive renewals without sleeping. */
export interface Clock {
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}
