/**
 * Consumer commands' shared part (issue 6): the environment (`clientOptionsFromEnv`) and flags → an IicpClient,
 * flags winning; loopback directories imply `allowPrivateEndpoints` (a local mesh), and "cannot reach the
 * directory" becomes one clear line.
 */
import { IicpClient, clientOptionsFromEnv, mayServeModel } from '@iicp/client'
import type { ClientConfig } from '@iicp/client'
import { classifyHost, isIicpError } from '@iicp/protocol'
import type { NodeSummary } from '@iicp/protocol'
import { ENV } from './env.js'
import { CliFailure, EXIT_FAILURE, UsageError } from './exit.js'
import type { ConsumerFlags } from './flags.js'

// Variables a consumer flag owns: commander reads them with the CLI's own parsers (IICP_TIMEOUT_MS=5s is a
// valid --timeout), so the client's reader must not see them a second time.
const FLAG_OWNED = new Set<string>([ENV.directory, ENV.timeout, ENV.region, ENV.allowPrivateEndpoints])

/** ClientConfig option → the variable that sets it, so a bad value names what the user set. */
const OPTION_SOURCE: Readonly<Record<string, string>> = Object.freeze({
  directoryUrl: '--directory',
  nodeToken: 'IICP_NODE_TOKEN',
  allowPlaintext: 'IICP_CX_ALLOW_PLAINTEXT',
  routeDiscovery: 'IICP_ROUTE_DISCOVERY_MODE',
  selection: 'IICP_ROUTING_STRATEGY',
  selectionTopK: 'IICP_ROUTING_TOP_K',
  maxAttempts: 'IICP_MAX_ATTEMPTS',
  selectionEpsilon: 'IICP_ROUTING_EPSILON',
  selectionSoftmaxTau: 'IICP_ROUTING_SOFTMAX_TAU',
  selectionSeed: 'IICP_ROUTING_SEED',
  routingPolicy: 'IICP_ROUTING_POLICY',
  consumerAuthMode: 'IICP_CONSUMER_AUTH_MODE',
  verifyReplicaSignatures: 'IICP_VERIFY_REPLICA_SIGNATURES',
  transport: 'IICP_TRANSPORT',
})

const INTENT_PREFIX = 'urn:iicp:intent:'

/** `llm:chat:v1` → `urn:iicp:intent:llm:chat:v1`; full URNs pass through (validated by the client). */
export function expandIntent(intent: string): string {
  return intent.startsWith('urn:') ? intent : `${INTENT_PREFIX}${intent}`
}

/** Whether a directory URL points at this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackDirectory(directoryUrl: string): boolean {
  const host = new URL(directoryUrl).hostname.replace(/^\[|\]$/g, '')
  return host === 'localhost' || classifyHost(host) === 'loopback'
}

/**
 * The client config the environment and flags describe: everything `clientOptionsFromEnv` reads
 * (IICP_ROUTING_STRATEGY, IICP_ROUTE_DISCOVERY_MODE, IICP_TRANSPORT, IICP_CONSUMER_AUTH_MODE,
 * IICP_CX_ALLOW_PLAINTEXT, IICP_NODE_TOKEN …), then the flags on top.
 */
export function clientConfig(flags: ConsumerFlags, env: Readonly<Record<string, string | undefined>> = {}): ClientConfig {
  const rest: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(env)) if (!FLAG_OWNED.has(k)) rest[k] = v
  const fromEnv = clientOptionsFromEnv(rest)
  const config: ClientConfig = {
    ...fromEnv,
    directoryUrl: flags.directory,
    // --allow-private-endpoints / IICP_ALLOW_PRIVATE_ENDPOINTS, else the official IICP_PROXY_ALLOW_LOOPBACK_NODES.
    allowPrivateEndpoints: flags.allowPrivateEndpoints ?? fromEnv.allowPrivateEndpoints ?? isLoopbackDirectory(flags.directory),
  }
  if (flags.timeout !== undefined) config.timeoutMs = flags.timeout
  if (flags.region !== undefined) config.region = flags.region
  return config
}

/**
 * A client config error as a usage error naming the flag or variable the bad value came from; anything else
 * (a taken port, a network failure) passes through to the failure renderer.
 */
export function configUsageError(err: unknown, usage: string): unknown {
  if (!isIicpError(err) || err.code !== 'invalid_config') return err
  const option = Object.keys(err.fields ?? {})[0]
  const source = option === undefined ? undefined : OPTION_SOURCE[option]
  if (source === undefined) return err
  // The env reader's own messages already name the variable.
  return new UsageError(err.message.includes(source) ? err.message : `${source}: ${err.message}`, usage)
}

/** Build a client from the environment and flags; a bad value in either is a usage error. */
export function createClient(flags: ConsumerFlags, env: Readonly<Record<string, string | undefined>>, usage: string): IicpClient {
  try {
    return new IicpClient(clientConfig(flags, env))
  } catch (err) {
    throw configUsageError(err, usage)
  }
}

function reason(err: { message: string; code: string }): string {
  const m = /\(([A-Z_]+)\)/.exec(err.message)
  if (m?.[1] === 'ECONNREFUSED') return 'connection refused'
  if (m?.[1] === 'ENOTFOUND' || m?.[1] === 'EAI_AGAIN') return 'host not found'
  if (err.code === 'timeout') return 'no answer in time'
  return m?.[1] !== undefined ? m[1].toLowerCase() : 'connection failed'
}

// Answers that mean the URL is not an IICP directory API (a web page, a wrong path, a non-IICP server).
const NOT_A_DIRECTORY = new Set(['not_found', 'method_not_allowed', 'invalid_response'])

/**
 * Explain failures that happened before any node was tried (no `attempts` on the error), i.e. at the
 * directory: a connection failure or timeout becomes "cannot reach the directory" (the one line issue 6
 * asks for), and a 404/405/garbled answer becomes "this is not an IICP directory API". Anything else,
 * node failures included, passes through.
 */
export function explainDirectoryFailure(err: unknown, directoryUrl: string): unknown {
  if (!isIicpError(err)) return err
  if (err.extra !== undefined && Array.isArray(err.extra.attempts)) return err
  if (err.code === 'connection_failed' || err.code === 'timeout') {
    return new CliFailure({
      code: 'directory_unreachable',
      message: `cannot reach the IICP directory at ${directoryUrl} (${reason(err)}); `
        + 'point --directory at a running directory, or start a local mesh with `iicp mesh`',
      exitCode: EXIT_FAILURE,
    })
  }
  if (NOT_A_DIRECTORY.has(err.code)) {
    return new CliFailure({
      code: 'directory_invalid',
      message: `${directoryUrl} did not answer like an IICP directory (${err.message}); `
        + '--directory takes the API base, e.g. http://127.0.0.1:9480/api',
      exitCode: EXIT_FAILURE,
    })
  }
  return err
}

/**
 * The nodes `--model` lets a command use: those listing the model for `intent` or listing no models, by the
 * client's own selection test. The directory only ranks by model, so the rest would end in IICP-E029.
 */
export function servingNodes(nodes: readonly NodeSummary[], intent: string, model: string | undefined): NodeSummary[] {
  return model === undefined ? [...nodes] : nodes.filter((n) => mayServeModel(n, intent, model))
}

/** `--model` names a model no discovered node serves: said before any task is sent, like the proxy's 404. */
export function modelNotServed(model: string, intent: string, directoryUrl: string): CliFailure {
  return new CliFailure({
    code: 'model_not_found',
    message: `no node serves model ${model} for ${intent} at ${directoryUrl}; run \`iicp discover ${intent}\` to see the models on offer`,
    exitCode: EXIT_FAILURE,
  })
}
