/**
 * The public registry inventory (dir §3.4 `GET /v1/registry/*`; node-observability-interfaces): what the
 * directory holds, for dashboards and monitors rather than dispatch. Every answer is redacted to
 * presentation-safe fields (8-character id prefixes, no endpoints, addresses, keys or tokens) and counts
 * only nodes discover could return right now (available, heard from within the expiry window).
 */
import { IicpError } from '@iicp/protocol'
import type { DirectoryContext } from '../context.js'
import type { Reply, RequestContext } from '../http/route-table.js'
import { allowsRemoteInference } from '../node-policy.js'
import type { LiveNode } from '../node-table.js'
import { registryEntry } from '../node-views.js'
import { checkIntent } from './discover.js'

/** Default `limit` of `/registry/nodes` (the reference directory's paging). */
export const REGISTRY_DEFAULT_LIMIT = 20
/** Largest `limit` of `/registry/nodes` (the reference directory's paging). */
export const REGISTRY_MAX_LIMIT = 100
const REGISTRY_HEADERS = Object.freeze({ 'cache-control': 'public, max-age=10' })

function invalid(field: string, message: string): IicpError {
  return new IicpError('validation_error', 'Input validation failed', { fields: { [field]: [message] } })
}

function intParam(ctx: RequestContext, name: string, min: number, max: number, fallback: number): number {
  const raw = ctx.query.get(name)
  if (raw === null) return fallback
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw invalid(name, `${name} must be an integer from ${min} to ${max}`)
  return n
}

function boolParam(ctx: RequestContext, name: string): boolean | undefined {
  const raw = ctx.query.get(name)
  if (raw === null) return undefined
  if (raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0') return false
  throw invalid(name, `${name} must be true, false, 1 or 0`)
}

/** Nodes discover could return now. */
function* liveNodes(dir: DirectoryContext, now: number): Generator<LiveNode> {
  for (const node of dir.table.values()) if (node.listed && dir.table.isLive(node, now)) yield node
}

/** GET /v1/registry/nodes?intent=&region=&cip_enabled=&page=&limit= — ordered by node id, so pages are stable. */
export function registryNodes(dir: DirectoryContext, ctx: RequestContext): Reply {
  const intent = ctx.query.get('intent') ?? undefined
  if (intent !== undefined) checkIntent(intent)
  const region = ctx.query.get('region') ?? undefined
  if (region !== undefined && (region.length === 0 || region.length > 64)) throw invalid('region', 'region must be 1 to 64 characters')
  const cip = boolParam(ctx, 'cip_enabled')
  const limit = intParam(ctx, 'limit', 1, REGISTRY_MAX_LIMIT, REGISTRY_DEFAULT_LIMIT)
  const page = intParam(ctx, 'page', 1, Number.MAX_SAFE_INTEGER, 1)
  const now = dir.opts.clock()
  const matches: LiveNode[] = []
  for (const node of liveNodes(dir, now)) {
    if (region !== undefined && node.rec.region !== region) continue
    if (intent !== undefined && !node.rec.capabilities.some((c) => c.intent === intent)) continue
    if (cip !== undefined && allowsRemoteInference(node.rec) !== cip) continue
    matches.push(node)
  }
  matches.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const start = (page - 1) * limit
  const nodes = start >= matches.length ? [] : matches.slice(start, start + limit).map((n) => registryEntry(n, now))
  return {
    status: 200,
    headers: REGISTRY_HEADERS,
    body: { total: matches.length, page, limit, nodes, data_class: 'public_presentation', route_fields_present: false },
  }
}

/** Shape of a node id (the reference's rule, protocol NodeIdSchema) a prefix must also have. */
const NODE_ID_CHARS = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,35}$/
/** Shortest prefix that may select a node (as for dispatch tickets' `node_id_prefix`). */
const MIN_NODE_PREFIX = 4

/**
 * GET /v1/registry/nodes/{prefix} — one node heard from within the expiry window, by its full id or an
 * unambiguous id prefix, with the list's redaction plus `available`. The official SDKs' recovery check reads
 * it with their id's first 8 characters and treats 404 as "absent, register again", so a node that declared
 * itself unavailable is still found here (registering again would make it available); only an unknown or
 * dormant node is 404.
 */
export function registryNode(dir: DirectoryContext, ctx: RequestContext): Reply {
  const key = ctx.param
  if (!NODE_ID_CHARS.test(key)) throw invalid('prefix', 'prefix must be 1 to 36 node_id characters')
  const now = dir.opts.clock()
  // A full id answers for that node alone: a dormant node is not found, not swapped for a longer id.
  let node = dir.table.get(key)
  if (node !== undefined && !dir.table.isLive(node, now)) throw new IicpError('not_found', 'Node not found')
  if (node === undefined) {
    if (key.length < MIN_NODE_PREFIX) throw new IicpError('not_found', 'Node not found')
    for (const n of dir.table.values()) {
      if (!n.id.startsWith(key) || !dir.table.isLive(n, now)) continue
      if (node !== undefined) throw new IicpError('ambiguous_node_prefix', 'prefix matches more than one node', { status: 409 })
      node = n
    }
    if (node === undefined) throw new IicpError('not_found', 'Node not found')
  }
  return {
    status: 200,
    headers: REGISTRY_HEADERS,
    body: { ...registryEntry(node, now), available: node.rec.available, data_class: 'public_presentation', route_fields_present: false },
  }
}

function countsByIntent(dir: DirectoryContext, now: number): Map<string, number> {
  const counts = new Map<string, number>()
  for (const node of liveNodes(dir, now)) {
    const seen = new Set<unknown>()
    for (const c of node.rec.capabilities) {
      if (typeof c.intent !== 'string' || seen.has(c.intent)) continue
      seen.add(c.intent)
      counts.set(c.intent, (counts.get(c.intent) ?? 0) + 1)
    }
  }
  return counts
}

/** Entries by count, largest first, ties by name. */
function ranked(counts: Map<string, number>): Array<[string, number]> {
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

/** GET /v1/registry/intents — every intent a live node serves, with how many serve it. */
export function registryIntents(dir: DirectoryContext): Reply {
  const intents = ranked(countsByIntent(dir, dir.opts.clock())).map(([urn, count]) => ({ urn, node_count: count }))
  return { status: 200, headers: REGISTRY_HEADERS, body: { intents, count: intents.length } }
}

/** GET /v1/registry/stats — aggregate inventory: registered and live nodes, regions and intent coverage. */
export function registryStats(dir: DirectoryContext): Reply {
  const now = dir.opts.clock()
  const regions = new Map<string, number>()
  let active = 0
  for (const node of liveNodes(dir, now)) {
    active++
    regions.set(node.rec.region, (regions.get(node.rec.region) ?? 0) + 1)
  }
  const byRegion = ranked(regions)
  const coverage = ranked(countsByIntent(dir, now))
  return {
    status: 200,
    headers: REGISTRY_HEADERS,
    body: {
      total_nodes: dir.table.size,
      active_nodes: active,
      regions: byRegion.map(([r]) => r),
      region_breakdown: Object.fromEntries(byRegion),
      intents_supported: coverage.map(([urn]) => urn),
      intent_coverage: Object.fromEntries(coverage),
    },
  }
}
