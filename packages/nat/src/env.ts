/**
 * Turns the IICP_* reachability variables into options (official-sdks §4.5 env table; sem §6.4).
 * Libraries never read process.env themselves: the CLI or the node passes `process.env` here.
 */

/** Environment variables the reachability ladder reads. */
export type ReachabilityEnv = Readonly<Record<string, string | undefined>>

/** The options those variables set. */
export interface ReachabilityEnvOptions {
  /** IICP_AUTO_DETECT_NAT (default true; `false`, `0`, `no`, `off` turn it off). */
  autoDetect?: boolean
  /** IICP_PUBLIC_ENDPOINT: the operator's own public URL, tried first. */
  publicEndpoint?: string
  /** IICP_RELAY_WORKER_ENDPOINT: `host:port` of a relay to use instead of electing one. */
  relayWorkerEndpoint?: string
}

/** Read IICP_AUTO_DETECT_NAT, IICP_PUBLIC_ENDPOINT and IICP_RELAY_WORKER_ENDPOINT. */
export function reachabilityOptionsFromEnv(env: ReachabilityEnv): ReachabilityEnvOptions {
  const out: ReachabilityEnvOptions = {}
  const auto = env.IICP_AUTO_DETECT_NAT?.trim().toLowerCase()
  if (auto !== undefined && auto !== '') out.autoDetect = !['false', '0', 'no', 'off'].includes(auto)
  const publicEndpoint = env.IICP_PUBLIC_ENDPOINT?.trim()
  if (publicEndpoint) out.publicEndpoint = publicEndpoint
  const relay = env.IICP_RELAY_WORKER_ENDPOINT?.trim()
  if (relay) out.relayWorkerEndpoint = relay
  return out
}
