/**
 * Route discovery (wire.md §1.5, §1.6, §1.11; reference-implementations §3.5): signed dispatch tickets verified
 * with the directory's Ed25519 key (issuer must equal the directory origin), falling back to `GET /v1/discover`
 * when the directory has no ticket endpoint (404/405/501 without `no_route_available`, or 503 `not_configured`).
 * Dispatch-ticket failures use the official SDKs' codes (official-sdks §2.3): `IICP-DISPATCH-TICKET-UNAVAILABLE`
 * in ticketed mode, `IICP-DISPATCH-TICKET-UNVERIFIED`, `IICP-DISPATCH-TICKET-<status>`. Directory calls go through
 * federation.ts (≤ 3 redirects, redirect cache, replica signatures); a ticket is checked against the directory that
 * actually issued it, so a seed answering after a 307 is trusted as the redirect said. Route lists are cached briefly (≤ 10 s; discover
 * answers say max-age=5) and concurrent misses share one lookup, so steady-state submit costs no directory trip.
 */
import {
  DirectoryKeyResponseSchema, DispatchTicketResponseSchema, IicpError, NodeSummarySchema,
  errorFromResponse, safeParseWire, verifyDispatchTicket,
} from '@iicp/protocol'
import type { Logger, NodeSummary, Qos } from '@iicp/protocol'
import { parseJsonBody } from './http.js'
import type { HttpResponse } from './http.js'
import type { DirectoryReply, FederatedDirectory } from './federation.js'
import type { TaskTrace } from './trace.js'
import type { RouteDiscoveryMode } from './options.js'
import type { Cancellation } from './deadline.js'
import type { ProfileRequest } from './projection.js'
import { assertPolicyManifestBinding } from './routing/manifest-binding.js'

/** Control-plane route options (sdk-request-projection profile: never sent to providers). */
export interface RouteQuery {
  readonly intent: string
  readonly region?: string | undefined
  readonly qos?: Qos | undefined
  readonly model?: string | undefined
  readonly minReputation?: number | undefined
  readonly limit: number
  readonly modality?: 'text' | 'image' | 'audio' | 'video' | undefined
  readonly relayCapable?: boolean | undefined
  /** Draft capability-profile negotiation, sent as `profile_*` discover parameters. */
  readonly profileRequest?: ProfileRequest | undefined
}

/** A parsed NODELIST: nodes that failed their schema are dropped, the rest keep directory order. */
export interface NodeListResult {
  readonly nodes: NodeSummary[]
  readonly count: number
  readonly relayAvailable: boolean | undefined
}

/** Where a route list came from. */
export type RouteSource = 'ticket' | 'discover'

interface CacheEntry {
  readonly expiresAt: number
  readonly value: Promise<{ nodes: NodeSummary[]; source: RouteSource }>
}

const TICKET_CANDIDATES = 3
const TICKET_PATH = '/v1/dispatch/ticket'

function ticketError(code: string, message: string, status: number, cause?: unknown): IicpError {
  return new IicpError(code, message, { status, retryable: false, ...(cause === undefined ? {} : { cause }) })
}

/** The API base (`…/api`) and issuer (base without `/api`) of the directory that answered `apiPath` at `url`. */
function answeringDirectory(url: URL, apiPath: string): { base: URL; issuer: string } {
  const basePath = url.pathname.endsWith(apiPath) ? url.pathname.slice(0, -apiPath.length) : '/api'
  const base = new URL(basePath || '/', url.origin)
  return { base, issuer: url.origin + basePath.replace(/\/api\/?$/, '').replace(/\/+$/, '') }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Parse a discover reply leniently: `nodes` at the top or under `data`; bad nodes are skipped, not fatal. */
export function parseNodeList(response: HttpResponse, logger: Logger): NodeListResult {
  let data: unknown
  try {
    data = JSON.parse(response.text)
  } catch {
    throw new IicpError('invalid_response', 'Directory answered discover with a body that is not JSON', { status: response.status })
  }
  const root = isRecord(data) && !Array.isArray(data.nodes) && isRecord(data.data) ? data.data : data
  if (!isRecord(root) || !Array.isArray(root.nodes)) {
    throw new IicpError('invalid_response', 'Directory discover answer has no nodes list', { status: response.status })
  }
  const nodes: NodeSummary[] = []
  for (const raw of root.nodes) {
    const parsed = safeParseWire(NodeSummarySchema, raw, 'invalid_response')
    if (parsed.ok) nodes.push(parsed.value)
    else logger.debug({ fields: Object.keys(parsed.error.fields ?? {}) }, 'discover: dropped a node that fails the NodeSummary schema')
  }
  return {
    nodes,
    count: nodes.length,
    relayAvailable: typeof root.relay_available === 'boolean' ? root.relay_available : undefined,
  }
}

/** Directory access for one client: discover, tickets, the directory key and the route cache. */
export class RouteDiscovery {
  readonly #dir: FederatedDirectory
  readonly #mode: RouteDiscoveryMode
  readonly #cacheMs: number
  readonly #clock: () => number
  readonly #log: Logger
  readonly #cache = new Map<string, CacheEntry>()
  // Directory keys per issuing directory (the configured one, or a seed a 307 sent us to).
  readonly #keys = new Map<string, Promise<string>>()
  #ticketsUnsupported = false

  constructor(dir: FederatedDirectory, opts: { mode: RouteDiscoveryMode; cacheMs: number; clock: () => number; logger: Logger }) {
    this.#dir = dir
    this.#mode = opts.mode
    this.#cacheMs = opts.cacheMs
    this.#clock = opts.clock
    this.#log = opts.logger
  }

  /** `GET /v1/discover` (wire.md §1.5). */
  async discover(query: RouteQuery, trace: TaskTrace, cancel: Cancellation): Promise<NodeListResult> {
    const params = new URLSearchParams({ intent: query.intent, limit: String(query.limit) })
    if (query.region !== undefined) params.set('region', query.region)
    if (query.qos !== undefined) params.set('qos', query.qos)
    if (query.model !== undefined) params.set('model', query.model)
    if (query.minReputation !== undefined) params.set('min_reputation', String(query.minReputation))
    if (query.modality !== undefined) params.set('modality', query.modality)
    if (query.relayCapable !== undefined) params.set('relay_capable', String(query.relayCapable))
    const pr = query.profileRequest
    if (pr) {
      params.set('profile_id', pr.profileId)
      params.set('profile_version', pr.profileVersion)
      if (pr.profileFixtureSha256 !== undefined) params.set('profile_fixture_sha256', pr.profileFixtureSha256)
      if (pr.required !== undefined) params.set('profile_required', String(pr.required))
    }
    const res = await this.#call('GET', `/v1/discover?${params.toString()}`, undefined, trace, cancel)
    if (res.status !== 200) throw errorFromResponse(res.status, res.text, res.headers)
    const list = parseNodeList(res, this.#log)
    // SDK-DISC-02: never more than asked for, whatever the directory returns.
    if (list.nodes.length > query.limit) list.nodes.length = query.limit
    return { ...list, count: list.nodes.length }
  }

  /**
   * Candidate nodes for a task, from the cache when fresh. A miss is shared by concurrent callers, so it runs
   * under its own cancellation (made only on a miss), and each caller races it against its own deadline.
   */
  routes(query: RouteQuery, trace: TaskTrace, cancel: () => Cancellation): Promise<{ nodes: NodeSummary[]; source: RouteSource }> {
    if (this.#cacheMs === 0) return this.#lookup(query, trace, cancel())
    const pr = query.profileRequest
    const key = `${query.intent}\u0000${query.region ?? ''}\u0000${query.qos ?? ''}\u0000${query.model ?? ''}\u0000${query.minReputation ?? ''}\u0000${query.limit}`
      + (pr ? `\u0000${pr.profileId}\u0000${pr.profileVersion}\u0000${pr.profileFixtureSha256 ?? ''}\u0000${String(pr.required)}` : '')
    const now = this.#clock()
    const hit = this.#cache.get(key)
    if (hit && hit.expiresAt > now) return hit.value
    const value = this.#lookup(query, trace, cancel())
    this.#cache.set(key, { expiresAt: now + this.#cacheMs, value })
    value.catch(() => {
      if (this.#cache.get(key)?.value === value) this.#cache.delete(key)
    })
    return value
  }

  /** Forget cached routes (after every candidate failed, the list may be stale). */
  invalidate(): void {
    this.#cache.clear()
  }

  async #lookup(query: RouteQuery, trace: TaskTrace, cancel: Cancellation): Promise<{ nodes: NodeSummary[]; source: RouteSource }> {
    // Tickets carry no profile negotiation, so a profile request goes through discover.
    if (this.#mode !== 'legacy' && !this.#ticketsUnsupported && !query.profileRequest) {
      const viaTickets = await this.#ticketRoutes(query, trace, cancel)
      if (viaTickets) return { nodes: viaTickets, source: 'ticket' }
    }
    const list = await this.discover(query, trace, cancel)
    return { nodes: list.nodes, source: 'discover' }
  }

  /** Collect up to 3 verified ticket routes; undefined means "fall back to discover". */
  async #ticketRoutes(query: RouteQuery, trace: TaskTrace, cancel: Cancellation): Promise<NodeSummary[] | undefined> {
    const nodes: NodeSummary[] = []
    const exclude: string[] = []
    const wanted = Math.min(query.limit, TICKET_CANDIDATES)
    while (nodes.length < wanted) {
      const body: Record<string, unknown> = { intent: query.intent, limit: query.limit, exclude_node_id_prefixes: exclude }
      if (query.qos !== undefined) body.qos = query.qos
      if (query.region !== undefined) body.region = query.region
      if (query.model !== undefined) body.model = query.model
      if (query.minReputation !== undefined) body.min_reputation = query.minReputation
      const res = await this.#call('POST', TICKET_PATH, JSON.stringify(body), trace, cancel)
      if (res.status === 201 || res.status === 200) {
        const ticket = parseJsonBody(res, DispatchTicketResponseSchema)
        const node = await this.#verifiedRoute(ticket, query.intent, trace, cancel, answeringDirectory(res.url, TICKET_PATH))
        if (nodes.some((n) => n.node_id === node.node_id)) break
        nodes.push(node)
        // The whole id, not an 8-character prefix: ids sharing a prefix would otherwise hide each other.
        exclude.push(node.node_id ?? '')
        continue
      }
      const err = errorFromResponse(res.status, res.text, res.headers)
      if (err.code === 'no_route_available') return nodes
      const unsupported = (res.status === 404 || res.status === 405 || res.status === 501) || (res.status === 503 && err.code === 'not_configured')
      if (unsupported && nodes.length === 0) {
        if (this.#mode === 'ticketed') throw ticketError('IICP-DISPATCH-TICKET-UNAVAILABLE', 'Directory offers no ticketed dispatch', res.status, err)
        // Remember it: this directory has no ticket endpoint, so later lookups go straight to discover.
        this.#ticketsUnsupported = true
        this.#log.debug({ status: res.status }, 'dispatch tickets unavailable; using discover')
        return undefined
      }
      if (nodes.length > 0) return nodes
      throw new IicpError(`IICP-DISPATCH-TICKET-${res.status}`, `Dispatch ticket request failed (${err.code})`, {
        status: res.status, retryable: err.retryable, cause: err, ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
      })
    }
    return nodes
  }

  async #verifiedRoute(
    ticket: ReturnType<typeof parseJsonBody<typeof DispatchTicketResponseSchema>>, intent: string, trace: TaskTrace, cancel: Cancellation,
    issuedBy: { base: URL; issuer: string },
  ): Promise<NodeSummary> {
    const publicKeyHex = await this.#directoryKey(issuedBy, trace, cancel)
    const verdict = await verifyDispatchTicket(ticket.ticket, {
      publicKeyHex, issuer: issuedBy.issuer, audience: 'iicp.directory.dispatch', nodeId: ticket.node_id, intent,
      nowSeconds: Math.floor(this.#clock() / 1000),
    })
    if (!verdict.ok) throw ticketError('IICP-DISPATCH-TICKET-UNVERIFIED', `Dispatch ticket failed verification: ${verdict.reason}`, 401)
    if (ticket.route.node_id !== ticket.node_id || ticket.intent !== intent) {
      throw ticketError('IICP-DISPATCH-TICKET-UNVERIFIED', 'Dispatch ticket route does not match its claims', 401)
    }
    // The ticket may bind the node's policy manifest; a route carrying another one is refused before any payload moves.
    assertPolicyManifestBinding(verdict.claims.policy_manifest_sha256, (ticket.route as Record<string, unknown>).node_policy_manifest)
    const parsed = safeParseWire(NodeSummarySchema, { score: 1, available: true, ...ticket.route, capabilities: undefined }, 'invalid_response')
    if (!parsed.ok) throw parsed.error
    return parsed.value
  }

  /** The key of the directory that issued a ticket, fetched from that same directory (and nowhere else). */
  #directoryKey(issuedBy: { base: URL }, trace: TaskTrace, cancel: Cancellation): Promise<string> {
    const id = issuedBy.base.href
    let key = this.#keys.get(id)
    if (!key) {
      const p = (async () => {
        const res = await this.#dir.call({ method: 'GET', apiPath: '/v1/directory-key', base: issuedBy.base }, trace, cancel)
        if (res.status !== 200) throw errorFromResponse(res.status, res.text, res.headers)
        if (res.url.origin !== issuedBy.base.origin) {
          throw ticketError('IICP-DISPATCH-TICKET-UNVERIFIED', 'The ticket issuer redirected its key request elsewhere', 401)
        }
        return parseJsonBody(res, DirectoryKeyResponseSchema).public_key
      })()
      if (this.#keys.size >= 16) this.#keys.clear()
      this.#keys.set(id, p)
      p.catch(() => {
        if (this.#keys.get(id) === p) this.#keys.delete(id)
      })
      key = p
    }
    return key
  }

  /** One directory request through the federation layer (redirects, redirect cache, replica signatures). */
  #call(method: 'GET' | 'POST', apiPath: string, body: string | undefined, trace: TaskTrace, cancel: Cancellation): Promise<DirectoryReply> {
    return this.#dir.call({ method, apiPath, body }, trace, cancel)
  }
}
