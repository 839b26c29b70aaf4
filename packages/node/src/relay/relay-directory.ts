/**
 * What a relay worker asks of the directory (IICP-DIR §7.4, §7.6; official-sdks.md §5.5–§5.6): relay
 * candidates from `GET /v1/discover?relay_capable=true` and single-use bind tickets from
 * `POST /v1/relay/ticket`. Answers are parsed with their protocol schemas; failures are IicpErrors.
 */
import { NodeListSchema, RelayTicketResponseSchema, parseWire } from '@iicp/protocol'
import type { RelayCandidate } from '@iicp/relay'
import { ControlPlaneHttp } from '../control-plane-http.js'
import type { DirectoryCallOptions } from '../control-plane-http.js'


/** `relay_accept_port` as a discover entry carries it (official-sdks.md §5.1), when it is a port. */
function acceptPortOf(n: object): number | undefined {
  const v = (n as { relay_accept_port?: unknown }).relay_accept_port
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535 ? v : undefined
}

/** The directory calls of a relay worker, over the node's small control-plane client (no undici). */
export class RelayDirectory {
  private readonly http: ControlPlaneHttp

  constructor(private readonly directoryUrl: string, timeoutMs: number) {
    this.http = new ControlPlaneHttp(timeoutMs)
  }

  private call(method: 'GET' | 'POST', path: string, opts: DirectoryCallOptions): Promise<unknown> {
    return this.http.callDirectory(this.directoryUrl, method, path, opts)
  }


  /**
   * Relay-capable nodes for any of `intents` (IICP-DIR §7.6). The spec names no relay listing, and the
   * official SDKs only ask for their own intent; asking for each served intent widens the pool.
   * Nodes that are themselves reached through a relay cannot take binds and are left out.
   */
  async relayCandidates(intents: readonly string[], signal?: AbortSignal): Promise<Array<RelayCandidate & { relay_accept_port: number | undefined }>> {
    const byId = new Map<string, RelayCandidate & { relay_accept_port: number | undefined }>()
    const lists = await Promise.allSettled(intents.map(async (intent) => {
      const q = new URLSearchParams({ intent, relay_capable: 'true', limit: '50' })
      return parseWire(NodeListSchema, await this.call('GET', `/v1/discover?${q}`, { signal }), 'invalid_response')
    }))
    let firstError: unknown
    for (const r of lists) {
      if (r.status === 'rejected') {
        firstError ??= r.reason
        continue
      }
      for (const n of r.value.nodes) {
        if (typeof n.node_id !== 'string' || typeof n.endpoint !== 'string' || n.transport_method === 'turn_relay') continue
        if (byId.has(n.node_id)) continue
        byId.set(n.node_id, {
          node_id: n.node_id,
          endpoint: n.endpoint.replace(/\/+$/, ''),
          relay_capable: n.relay_capable ?? null,
          reputation_score: n.reputation_score ?? null,
          load: n.load ?? null,
          probation: typeof n.probation === 'boolean' ? n.probation : null,
          relay_accept_port: acceptPortOf(n),
        })
      }
    }
    if (byId.size === 0 && firstError !== undefined) throw firstError
    return [...byId.values()]
  }

  /** A fresh single-use bind ticket for `relayNodeId` (audience `*` when unknown), IICP-DIR §7.4. */
  async bindTicket(token: string, workerId: string, relayNodeId: string | undefined, signal?: AbortSignal): Promise<string> {
    const body = relayNodeId !== undefined ? { relay_node_id: relayNodeId } : {}
    const json = await this.call('POST', '/v1/relay/ticket', { token, nodeId: workerId, body, signal })
    return parseWire(RelayTicketResponseSchema, json, 'invalid_response').ticket
  }

  close(): void {
    this.http.close()
  }
}
