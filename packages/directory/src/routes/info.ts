/** Read-only views: node detail (dir §3.4, §3.6), `/v1/me` (core §11.1), stats (dir §3.9b) and health. */
import { IicpError, SDK_VERSION } from '@iicp/protocol'
import type { DirectoryContext } from '../context.js'
import { authenticateNode } from '../credentials.js'
import type { Reply, RequestContext } from '../http/route-table.js'
import { nodeDetail } from '../node-views.js'

/** GET /v1/node/{id} */
export function nodeById(dir: DirectoryContext, ctx: RequestContext): Reply {
  const node = dir.table.get(ctx.param)
  if (!node) throw new IicpError('not_found', 'Node not found')
  const now = dir.opts.clock()
  const probation = node.rec.completed_tasks < 100
  return { status: 200, body: nodeDetail(node, dir.table.isLive(node, now), probation, now) }
}

/** GET /v1/me — the caller's own registration as the directory sees it. */
export function me(dir: DirectoryContext, ctx: RequestContext): Reply {
  const node = authenticateNode(ctx, dir.table)
  return { status: 200, body: { node_id: node.id, observed_source_ip: ctx.ip, endpoint: node.rec.endpoint } }
}

/** GET /v1/stats — public, CDN-cacheable counters. */
export function stats(dir: DirectoryContext): Reply {
  const now = dir.opts.clock()
  let registered = 0
  let live = 0
  const regions = new Set<string>()
  const intents = new Map<string, number>()
  for (const node of dir.table.values()) {
    registered++
    if (!node.listed || !dir.table.isLive(node, now)) continue
    live++
    regions.add(node.rec.region)
    for (const i of node.intents) intents.set(i, (intents.get(i) ?? 0) + 1)
  }
  const ratio = registered === 0 ? 1 : live / registered
  return {
    status: 200,
    headers: { 'cache-control': 'public, max-age=30' },
    body: {
      server: { active_nodes: live, registered_nodes: registered, version: SDK_VERSION, implementation: '@iicp/directory', mode: dir.opts.mode },
      regions: regions.size,
      intents: [...intents].map(([urn, count]) => ({ urn, node_count: count })),
      mesh_health: { score: Math.round(ratio * 1000) / 1000, label: ratio >= 0.85 ? 'healthy' : ratio >= 0.65 ? 'degraded' : 'impaired', window: '90s' },
      directory_health: { uptime_s: Math.floor((now - dir.startedAt) / 1000) },
      credits_extension: false,
    },
  }
}

/** GET /iicp/health and /iicp/ready */
export function health(): Reply {
  return { status: 200, body: { ok: true, role: 'directory', ready: true } }
}
