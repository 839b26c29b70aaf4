/**
 * `IICP_*` environment variables → ClientConfig (wire.md §10). Constructors never read `process.env`; the
 * caller passes the environment in, so a library user decides whether the environment applies.
 */
import { IicpError } from '@iicp/protocol'
import type { ConsumerAuthMode } from './consumer-token.js'
import type { ClientConfig, RouteDiscoveryMode, SelectionStrategy } from './options.js'
import type { RoutingPolicyName } from './routing/policy.js'

function flag(name: string, value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true
  if (/^(0|false|no|off)$/i.test(value)) return false
  throw new IicpError('invalid_config', `${name} must be a boolean (1/0, true/false)`, { fields: { [name]: ['a boolean'] } })
}

function integer(name: string, value: string): number {
  if (!/^-?\d+$/.test(value.trim())) {
    throw new IicpError('invalid_config', `${name} must be an integer`, { fields: { [name]: ['an integer'] } })
  }
  return Number(value)
}

function decimal(name: string, value: string): number {
  const t = value.trim()
  if (!/^-?(\d+\.?\d*|\.\d+)(e-?\d+)?$/i.test(t)) {
    throw new IicpError('invalid_config', `${name} must be a number`, { fields: { [name]: ['a number'] } })
  }
  return Number(t)
}

/**
 * Read `IICP_DIRECTORY_URL`, `IICP_TIMEOUT_MS`, `IICP_REGION`, `IICP_NODE_TOKEN`, `IICP_ALLOW_PRIVATE_ENDPOINTS` (or the
 * official `IICP_PROXY_ALLOW_LOOPBACK_NODES`, which here also admits private addresses),
 * `IICP_CX_ALLOW_PLAINTEXT`, `IICP_ROUTE_DISCOVERY_MODE`, `IICP_ROUTING_STRATEGY`, `IICP_ROUTING_TOP_K` and
 * `IICP_MAX_ATTEMPTS`, `IICP_ROUTING_EPSILON`, `IICP_ROUTING_SOFTMAX_TAU`, `IICP_ROUTING_SEED`, `IICP_ROUTING_POLICY` (a profile
 * name), `IICP_CONSUMER_AUTH_MODE`, `IICP_VERIFY_REPLICA_SIGNATURES` and `IICP_TRANSPORT` (`auto`|`http`|`native`) into a partial ClientConfig; ranges are
 * checked later by the constructor.
 */
export function clientOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): ClientConfig {
  const out: ClientConfig = {}
  const get = (name: string): string | undefined => {
    const v = env[name]
    return v === undefined || v === '' ? undefined : v
  }
  let v: string | undefined
  if ((v = get('IICP_DIRECTORY_URL')) !== undefined) out.directoryUrl = v
  if ((v = get('IICP_TIMEOUT_MS')) !== undefined) out.timeoutMs = integer('IICP_TIMEOUT_MS', v)
  if ((v = get('IICP_REGION')) !== undefined) out.region = v
  if ((v = get('IICP_NODE_TOKEN')) !== undefined) out.nodeToken = v
  if ((v = get('IICP_ALLOW_PRIVATE_ENDPOINTS')) !== undefined) out.allowPrivateEndpoints = flag('IICP_ALLOW_PRIVATE_ENDPOINTS', v)
  // The official SDKs' escape hatch (official-sdks §1, §8 item 17); this SDK's own name wins when both are set.
  else if ((v = get('IICP_PROXY_ALLOW_LOOPBACK_NODES')) !== undefined) out.allowPrivateEndpoints = flag('IICP_PROXY_ALLOW_LOOPBACK_NODES', v)
  if ((v = get('IICP_CX_ALLOW_PLAINTEXT')) !== undefined) out.allowPlaintext = flag('IICP_CX_ALLOW_PLAINTEXT', v)
  if ((v = get('IICP_ROUTE_DISCOVERY_MODE')) !== undefined) out.routeDiscovery = v as RouteDiscoveryMode
  if ((v = get('IICP_ROUTING_STRATEGY')) !== undefined) out.selection = v as SelectionStrategy
  if ((v = get('IICP_ROUTING_TOP_K')) !== undefined) out.selectionTopK = integer('IICP_ROUTING_TOP_K', v)
  if ((v = get('IICP_MAX_ATTEMPTS')) !== undefined) out.maxAttempts = integer('IICP_MAX_ATTEMPTS', v)
  if ((v = get('IICP_ROUTING_EPSILON')) !== undefined) out.selectionEpsilon = decimal('IICP_ROUTING_EPSILON', v)
  if ((v = get('IICP_ROUTING_SOFTMAX_TAU')) !== undefined) out.selectionSoftmaxTau = decimal('IICP_ROUTING_SOFTMAX_TAU', v)
  if ((v = get('IICP_ROUTING_SEED')) !== undefined) out.selectionSeed = integer('IICP_ROUTING_SEED', v)
  if ((v = get('IICP_ROUTING_POLICY')) !== undefined) out.routingPolicy = v.trim().replace(/-/g, '_') as RoutingPolicyName
  if ((v = get('IICP_CONSUMER_AUTH_MODE')) !== undefined) out.consumerAuthMode = v.trim().toLowerCase() as ConsumerAuthMode
  if ((v = get('IICP_VERIFY_REPLICA_SIGNATURES')) !== undefined) out.verifyReplicaSignatures = flag('IICP_VERIFY_REPLICA_SIGNATURES', v)
  if ((v = get('IICP_TRANSPORT')) !== undefined) out.transport = v.trim().toLowerCase() as 'auto' | 'http' | 'native'
  return out
}
