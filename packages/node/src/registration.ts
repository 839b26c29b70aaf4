/**
 * The node's side of the directory control plane (wire.md §1.2–1.4, §1.8): REGISTER, HEARTBEAT,
 * DEREGISTER and the directory key, over one keep-alive agent per node (control-plane-http.ts). Every answer is parsed with its
 * protocol schema; every failure is an IicpError carrying the HTTP status when there was one.
 */
import {
  DirectoryKeyResponseSchema, HeartbeatResponseSchema, RegisterAckSchema, RegisterRequestSchema, SDK_LANGUAGE, SDK_VERSION,
  cxPublicKeyDescriptor, isIicpError, parseWire,
} from '@iicp/protocol'
import type { HeartbeatRequest, HeartbeatResponse, RegisterAck, RegisterRequest } from '@iicp/protocol'
import { ControlPlaneHttp } from './control-plane-http.js'
import type { DirectoryCallOptions } from './control-plane-http.js'
import type { NodeIdentity } from './node-identity.js'
import type { Reachability, ResolvedNodeOptions } from './options.js'


/** HTTP client for the directory endpoints a provider node calls. */
export class DirectoryClient {
  private readonly http: ControlPlaneHttp

  constructor(private readonly directoryUrl: string, timeoutMs: number) {
    this.http = new ControlPlaneHttp(timeoutMs)
  }

  private call(method: 'GET' | 'POST' | 'DELETE', path: string, opts: DirectoryCallOptions): Promise<unknown> {
    return this.http.callDirectory(this.directoryUrl, method, path, opts)
  }


  /** `POST /v1/register` → ACK (wire.md §1.2). Older directories name the token `token`. */
  async register(body: RegisterRequest, signal?: AbortSignal): Promise<RegisterAck> {
    const json = await this.call('POST', '/v1/register', { body, signal })
    if (typeof json === 'object' && json !== null && !('node_token' in json) && typeof (json as { token?: unknown }).token === 'string') {
      return parseWire(RegisterAckSchema, { ...json, node_token: (json as { token: string }).token }, 'invalid_response')
    }
    return parseWire(RegisterAckSchema, json, 'invalid_response')
  }

  /** `POST /v1/heartbeat` → PONG (wire.md §1.3). */
  async heartbeat(token: string, body: HeartbeatRequest, signal?: AbortSignal): Promise<HeartbeatResponse> {
    const json = await this.call('POST', '/v1/heartbeat', { token, nodeId: body.node_id, body, signal })
    return parseWire(HeartbeatResponseSchema, json, 'invalid_response')
  }

  /** `DELETE /v1/register` with `{node_id}` (wire.md §1.4). A 401/404 means already gone. */
  async deregister(token: string, nodeId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.call('DELETE', '/v1/register', { token, nodeId, body: { node_id: nodeId }, signal })
    } catch (err) {
      if (isIicpError(err) && (err.status === 401 || err.status === 404 || err.status === 410)) return
      throw err
    }
  }

  /** `GET /v1/directory-key` → 64-hex Ed25519 key (wire.md §1.8). */
  async directoryKey(signal?: AbortSignal): Promise<string> {
    const json = await this.call('GET', '/v1/directory-key', { signal })
    return parseWire(DirectoryKeyResponseSchema, json, 'invalid_response').public_key
  }

  /** Close the pooled sockets. */
  async close(): Promise<void> {
    this.http.close()
  }
}

/**
 * Build the REGISTER body (wire.md §1.2; all eight legacy-required fields always sent). `available: false` is sent
 * only by a node whose route is not up yet (a relay worker before its bind); REGISTER has no such field in the spec,
 * so the node also heartbeats `available: false` right after, which every directory honours (wire.md §1.3).
 */
export function buildRegisterRequest(
  opts: ResolvedNodeOptions,
  identity: NodeIdentity,
  endpoint: string,
  reach: Reachability | undefined,
  currentToken: string | undefined,
  available = true,
): RegisterRequest {
  const body: Record<string, unknown> = {
    endpoint,
    region: opts.region,
    capabilities: opts.capabilities.map((c) => ({ intent: c.intent, models: c.models, max_tokens: c.maxTokens, input_modalities: c.inputModalities })),
    limits: { max_concurrent: opts.maxConcurrent, tokens_per_min: opts.tokensPerMin },
    node_id: identity.nodeId,
    sdk_language: SDK_LANGUAGE,
    sdk_version: SDK_VERSION,
    sdk_compatibility_version: SDK_VERSION,
    implementation_name: '@iicp/node',
    implementation_version: SDK_VERSION,
  }
  if (currentToken !== undefined) body.current_node_token = currentToken
  if (!available) body.available = false
  if (identity.cxKeyPair !== undefined) body.cx_public_key = cxPublicKeyDescriptor(identity.cxKeyPair)
  const backend = opts.backends[0]?.name
  if (backend !== undefined) body.backend = backend
  if (reach?.transportEndpoint !== undefined) body.transport_endpoint = reach.transportEndpoint
  if (reach?.transportMethod !== undefined) body.transport_method = reach.transportMethod
  if (reach?.natType !== undefined) body.nat_type = reach.natType
  if (reach?.exposureMode !== undefined) body.exposure_mode = reach.exposureMode
  if (reach?.relayEndpoint !== undefined) body.relay_endpoint = reach.relayEndpoint
  // A node that is itself reached through a relay cannot take binds: it does not offer itself as one.
  if (opts.relayCapable && reach?.transportMethod !== 'turn_relay') body.relay_capable = true
  if (reach?.relayAcceptPort !== undefined) body.relay_accept_port = reach.relayAcceptPort
  return parseWire(RegisterRequestSchema, body, 'invalid_config')
}
