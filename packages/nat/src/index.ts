// Public API of @iicp/nat: every export is listed here by name; types separately.
export { upnp } from './upnp/port-mapper.js'
export { upnpFirewall } from './upnp/ipv6-firewall.js'
export { natPmp } from './nat-pmp.js'
export { detectReachability } from './detect-reachability.js'
export { reachabilityManager } from './reachability-manager.js'
export { reachabilityOptionsFromEnv } from './env.js'
export { detectContainer } from './container.js'
export { systemClock } from './options.js'

export type {
  PortMapper, PortMapping, MapRequest, MappingProtocol, MappingMethod, CallOptions,
  Ipv6Firewall, Pinhole, PinholeRequest, FirewallStatus, Clock,
} from './types.js'
export type { UpnpOptions, NatPmpOptions } from './options.js'
export type {
  DetectReachabilityOptions, ReachabilityResult, ReachabilityTier, ReachabilityAttempt, ExposureMode,
  TransportMethod, GatewayClients,
} from './detect-reachability.js'
export type { ReachabilityManager, ReachabilityManagerOptions } from './reachability-manager.js'
export type { ReachabilityEnv, ReachabilityEnvOptions } from './env.js'
export type { ContainerProbe } from './container.js'
