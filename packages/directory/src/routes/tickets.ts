/**
 * Ticketed dispatch (dir §3.4 v1.1.16; wire.md §1.6), relay bind tickets (dir §7.4; wire.md §1.10) and the
 * directory key (dir §3.12). Tickets are Ed25519-signed by @iicp/protocol with the directory's key; the
 * issuer is the origin the client reached (or the configured public origin), which clients compare with
 * their directory URL exactly.
 */
import { randomBytes } from 'node:crypto'
import {
  DispatchTicketRequestSchema, FORBIDDEN_TICKET_KEYS, IicpError, RelayTicketRequestSchema, safeParseWire, signDispatchTicket, signRelayBindTicket,
} from '@iicp/protocol'
import type { DispatchTicketClaims, RelayBindTicketClaims } from '@iicp/protocol'
import type { DirectoryContext } from '../context.js'
import { authenticateNode } from '../credentials.js'
import type { Reply, RequestContext } from '../http/route-table.js'
import type { LiveNode, NodeQuery } from '../node-table.js'
import { policyManifestSha256 } from '../node-policy.js'
import { ticketRoute } from '../node-views.js'
import { checkIntent } from './discover.js'

/** Audience of dispatch route tickets. */
export const DISPATCH_TICKET_AUDIENCE = 'iicp.directory.dispatch'
const RELAY_TICKET_BODY = RelayTicketRequestSchema.partial()
const NO_STORE = Object.freeze({ 'cache-control': 'no-store', 'x-iicp-discover-data-class': 'ticketed_route_dispatch' })

function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new IicpError('validation_error', 'Input validation failed', { fields: { '(root)': ['body must be a JSON object'] } })
  }
  return body as Record<string, unknown>
}

/** POST /v1/dispatch/ticket */
export async function dispatchTicket(dir: DirectoryContext, ctx: RequestContext): Promise<Reply> {
  const body = asObject(ctx.body)
  const forbidden: Record<string, string[]> = {}
  for (const k of FORBIDDEN_TICKET_KEYS) {
    // Name the key, never echo its value.
    if (k in body) forbidden[k] = ['Dispatch ticket issuance is control-plane only; send task payloads directly to the selected node.']
  }
  if (Object.keys(forbidden).length > 0) throw new IicpError('validation_error', 'Input validation failed', { fields: forbidden })
  const parsed = safeParseWire(DispatchTicketRequestSchema, body)
  if (!parsed.ok) throw parsed.error
  const t = parsed.value
  checkIntent(t.intent)
  if (t.node_id !== undefined && t.node_id_prefix !== undefined) {
    throw new IicpError('validation_error', 'Input validation failed', { fields: { node_id_prefix: ['node_id and node_id_prefix are mutually exclusive'] } })
  }
  if (t.node_id_prefix !== undefined && t.node_id_prefix.length < 4) {
    throw new IicpError('validation_error', 'Input validation failed', { fields: { node_id_prefix: ['node_id_prefix needs at least 4 characters'] } })
  }
  const now = dir.opts.clock()
  const excluded = t.exclude_node_id_prefixes ?? []
  let pinned: LiveNode | undefined
  if (t.node_id_prefix !== undefined) {
    const prefix = t.node_id_prefix
    const matches = [...dir.table.values()].filter((n) => n.id.startsWith(prefix))
    if (matches.length > 1) throw new IicpError('ambiguous_node_prefix', 'node_id_prefix matches more than one node', { status: 409 })
    pinned = matches[0]
    if (!pinned) throw noRoute()
  }
  const pinnedId = t.node_id ?? pinned?.id
  const q: NodeQuery = {
    intent: t.intent,
    limit: 1,
    region: t.region,
    model: t.model,
    qos: t.qos,
    minReputation: t.min_reputation,
    modality: t.modality,
    relayCapable: t.relay_capable,
    maxMultiplier: t.max_multiplier,
    minQualityScore: t.min_quality_score,
    cipCapable: t.cip_capable,
    skip: (n) => (pinnedId !== undefined && n.id !== pinnedId) || excluded.some((p) => p.length > 0 && n.id.startsWith(p)),
  }
  const best = dir.table.select(q, now)[0]
  if (!best) throw noRoute()
  const iat = Math.floor(now / 1000)
  const jti = randomBytes(12).toString('hex')
  const claims: DispatchTicketClaims = {
    v: 1,
    typ: 'dispatch-route-ticket',
    iss: ctx.origin,
    aud: DISPATCH_TICKET_AUDIENCE,
    jti,
    node_id: best.node.id,
    intent: t.intent,
    iat,
    exp: iat + dir.opts.ticketTtlSeconds,
  }
  // The route carries the registered manifest; the claim lets the client prove it is the one this directory checked.
  const manifestSha = policyManifestSha256(best.node.rec)
  if (manifestSha !== undefined) claims.policy_manifest_sha256 = manifestSha
  const ticket = await signDispatchTicket(claims, dir.key)
  return {
    status: 201,
    headers: NO_STORE,
    body: {
      ticket,
      ticket_id_prefix: jti.slice(0, 12),
      expires_at: claims.exp,
      intent: t.intent,
      node_id: best.node.id,
      node_id_prefix: best.node.id.slice(0, 8),
      route: ticketRoute(best.node, t.intent, best.score, now),
      algorithm: 'ed25519',
      data_class: 'ticketed_route_dispatch',
      route_fields_present: true,
      prompt_payload_accepted: false,
    },
  }
}

function noRoute(): IicpError {
  return new IicpError('no_route_available', 'No eligible route matched the requested intent and filters.', { status: 404 })
}

/** POST /v1/relay/ticket — Bearer node_token of the worker; body `{relay_node_id?}` (`*` when absent). */
export async function relayTicket(dir: DirectoryContext, ctx: RequestContext): Promise<Reply> {
  const body = asObject(ctx.body)
  const worker = authenticateNode(ctx, dir.table, body.node_id)
  const parsed = safeParseWire(RELAY_TICKET_BODY, body)
  if (!parsed.ok) throw parsed.error
  const relay = parsed.value.relay_node_id ?? '*'
  const iat = Math.floor(dir.opts.clock() / 1000)
  const claims: RelayBindTicketClaims = {
    v: 1,
    typ: 'relay-bind-ticket',
    jti: randomBytes(16).toString('hex'),
    iss: ctx.origin,
    sub: worker.id,
    aud: relay,
    iat,
    exp: iat + dir.opts.ticketTtlSeconds,
  }
  const ticket = await signRelayBindTicket(claims, dir.key)
  return {
    status: 201,
    headers: { 'cache-control': 'no-store' },
    body: { ticket, expires_at: claims.exp, worker_node_id: worker.id, relay_node_id: relay, algorithm: 'ed25519' },
  }
}

/** GET /v1/directory-key (30 per minute per IP, dir §3.12; clients fetch it once and cache it). */
export function directoryKey(dir: DirectoryContext, ctx: RequestContext): Reply {
  const wait = dir.limits.directoryKey.hit(ctx.ip, dir.opts.clock())
  if (wait !== undefined) throw new IicpError('rate_limited', `Too many directory-key requests — retry after ${Math.ceil(wait / 1000)}s`, { retryAfterMs: wait })
  return { status: 200, body: { public_key: dir.key.publicKeyHex, algorithm: 'ed25519' } }
}
