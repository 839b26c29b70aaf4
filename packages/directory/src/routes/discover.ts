/**
 * QUERY → NODELIST (core §5; dir §3.3, §3.4; wire.md §1.5) and the peer bootstrap list (dir §3.5).
 * Discover validates every filter, takes the top `limit` from the intent index and joins cached
 * per-node JSON fragments, so its cost follows `limit`, not the number of registered nodes.
 */
import { DISCOVER_DEFAULT_LIMIT, DiscoverQuerySchema, IicpError, safeParseWire, validateIntent } from '@iicp/protocol'
import type { DirectoryContext } from '../context.js'
import type { Reply, RequestContext } from '../http/route-table.js'
import type { NodeQuery } from '../node-table.js'
import { discoverFragment } from '../node-views.js'

/** Spec-mandated discover caching (cts DIR-DISC-08): longer is non-conformant. */
export const DISCOVER_CACHE_CONTROL = 'public, max-age=5, s-maxage=10, stale-while-revalidate=5'
const DISCOVER_HEADERS = Object.freeze({ 'cache-control': DISCOVER_CACHE_CONTROL, 'x-iicp-discover-data-class': 'route_dispatch' })
const PUBLIC_HEADERS = Object.freeze({ 'cache-control': DISCOVER_CACHE_CONTROL, 'x-iicp-discover-data-class': 'public_presentation' })
const DISPATCH_TAIL = ',"view":"dispatch","data_class":"route_dispatch","route_fields_present":true,'
  + '"dispatch_ticket_endpoint":"/api/v1/dispatch/ticket","ticketed_dispatch_available":true}'
const PUBLIC_TAIL = ',"view":"public","data_class":"public_presentation","route_fields_present":false,'
  + '"redaction":{"dispatch_route":"omitted","public_presentation":"present"}}'

/** A validated intent URN or a 422 naming the field (stricter than the reference, which answers 200 []). */
export function checkIntent(intent: string, field = 'intent'): void {
  const bad = validateIntent(intent)
  if (bad) {
    const msg = bad.code === 'IICP-POLICY-001' ? `IICP-POLICY-001: ${bad.message}` : 'The intent format is invalid'
    throw new IicpError('validation_error', 'Input validation failed', { fields: { [field]: [msg] } })
  }
}

/** GET /v1/discover */
export function discover(dir: DirectoryContext, ctx: RequestContext): Reply {
  const raw: Record<string, string> = {}
  for (const [k, v] of ctx.query) if (!(k in raw)) raw[k] = v
  const parsed = safeParseWire(DiscoverQuerySchema, raw)
  if (!parsed.ok) throw parsed.error
  const p = parsed.value
  checkIntent(p.intent)
  const now = dir.opts.clock()
  const q: NodeQuery = {
    intent: p.intent,
    limit: p.limit ?? DISCOVER_DEFAULT_LIMIT,
    region: p.region,
    model: p.model,
    qos: p.qos,
    minReputation: p.min_reputation,
    modality: p.modality,
    relayCapable: p.relay_capable,
    maxMultiplier: p.max_multiplier,
    minQualityScore: p.min_quality_score,
    cipCapable: p.cip_capable,
  }
  const view = p.view ?? 'dispatch'
  const picked = dir.table.select(q, now)
  let nodes = ''
  for (let i = 0; i < picked.length; i++) {
    const s = picked[i]
    if (!s) continue
    if (i > 0) nodes += ','
    nodes += discoverFragment(s.node, p.intent, view, s.score, now)
  }
  const head = `{"nodes":[${nodes}],"count":${picked.length},"relay_available":${dir.table.relayAvailable},"query_ms":${dir.opts.clock() - now}`
  return {
    status: 200,
    raw: head + (view === 'public' ? PUBLIC_TAIL : DISPATCH_TAIL),
    headers: view === 'public' ? PUBLIC_HEADERS : DISCOVER_HEADERS,
  }
}

/** GET /v1/bootstrap?limit=N — live, available nodes, newest heartbeat first (default 5, max 50). */
export function bootstrap(dir: DirectoryContext, ctx: RequestContext): Reply {
  const rawLimit = ctx.query.get('limit')
  let limit = 5
  if (rawLimit !== null) {
    limit = Number(rawLimit)
    if (!Number.isInteger(limit) || limit < 1 || limit > 50) {
      throw new IicpError('validation_error', 'Input validation failed', { fields: { limit: ['limit must be an integer from 1 to 50'] } })
    }
  }
  const now = dir.opts.clock()
  const top: Array<{ node_id: string; endpoint: string; region: string; last_seen: number }> = []
  for (const node of dir.table.values()) {
    const r = node.rec
    if (!node.listed || !dir.table.isLive(node, now)) continue
    if (top.length === limit && r.last_seen <= (top[top.length - 1]?.last_seen ?? 0)) continue
    let k = top.length
    while (k > 0 && (top[k - 1]?.last_seen ?? 0) < r.last_seen) k--
    top.splice(k, 0, { node_id: r.node_id, endpoint: r.endpoint, region: r.region, last_seen: r.last_seen })
    if (top.length > limit) top.pop()
  }
  const peers = top.map((t) => ({ ...t, last_seen: new Date(t.last_seen).toISOString() }))
  return { status: 200, body: { peers, count: peers.length } }
}
