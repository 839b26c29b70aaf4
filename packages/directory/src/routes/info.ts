/** Read-only views: node detail (dir §3.4, §3.6), `/v1/me` (core §11.1), stats (dir §3.9b) and health. */
import { IicpError, SDK_VERSION } from '@iicp/protocol'
import type { DirectoryContext } from '../context.js'
import { authenticateNode } from '../credentials.js'
import type { Reply, RequestContext } from '../http/route-table.js'
import { HEALTH_LABELS, healthLabel, healthScore, nodeDetail } from '../node-views.js'
import type { HealthLabel } from '../node-views.js'

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

/** `sdk_adoption.by_language` keys (dir §3.9b, #531); any other self-reported language counts as unknown. */
const SDK_LANGUAGES = ['rust', 'python', 'typescript', 'browser'] as const
type SdkLanguage = (typeof SDK_LANGUAGES)[number] | 'unknown'
/** Below this many active nodes the median says little (dir §3.9b `insufficient_sample`). */
const MIN_HEALTH_SAMPLE = 3

/** The q-th percentile (nearest rank) of ascending `sorted`, which is not empty. */
function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))] as number
}

const unit = (score: number): number => Math.round(score * 10) / 1000

/**
 * `mesh_health` (dir §3.9b, ADR-044; cts DIR-STATS-01): the median health of the nodes discover may return,
 * in [0, 1]; `unavailable` (score 0) without any, `insufficient_sample` below three. `distribution` counts
 * every registered node by its health label, dormant or unavailable ones as `offline`.
 */
function meshHealth(active: number[], distribution: Record<HealthLabel, number>): Record<string, unknown> {
  const base = { distribution, sample: active.length, basis: 'active_provider_nodes', window: 'live' }
  if (active.length === 0) return { score: 0, label: 'unavailable', mean: null, p10: null, ...base }
  active.sort((a, b) => a - b)
  const median = percentile(active, 50)
  const label = active.length < MIN_HEALTH_SAMPLE ? 'insufficient_sample' : healthLabel(median, true)
  const mean = active.reduce((sum, s) => sum + s, 0) / active.length
  return { score: unit(median), label, mean: unit(mean), p10: unit(percentile(active, 10)), ...base }
}

/** GET /v1/stats — public, CDN-cacheable counters (dir §3.9b). "Active" means discover may return the node. */
export function stats(dir: DirectoryContext): Reply {
  const now = dir.opts.clock()
  let registered = 0
  const regions = new Set<string>()
  const intents = new Map<string, number>()
  const healths: number[] = []
  const distribution = Object.fromEntries(HEALTH_LABELS.map((l) => [l, 0])) as Record<HealthLabel, number>
  const byLanguage = Object.fromEntries([...SDK_LANGUAGES, 'unknown'].map((l) => [l, 0])) as Record<SdkLanguage, number>
  const byVersion = new Map<string, number>()
  for (const node of dir.table.values()) {
    registered++
    const rec = node.rec
    const active = node.listed && dir.table.isLive(node, now)
    const health = healthScore(rec, active)
    distribution[healthLabel(health, active)]++
    if (!active) continue
    healths.push(health)
    regions.add(rec.region)
    for (const i of node.intents) intents.set(i, (intents.get(i) ?? 0) + 1)
    const language = typeof rec.meta.sdk_language === 'string' ? rec.meta.sdk_language.toLowerCase() : ''
    byLanguage[(SDK_LANGUAGES as readonly string[]).includes(language) ? (language as SdkLanguage) : 'unknown']++
    // The effective compatibility version (dir §3.1): sdk_compatibility_version ?? sdk_version.
    const version = rec.meta.sdk_compatibility_version ?? rec.meta.sdk_version
    if (typeof version === 'string') byVersion.set(version, (byVersion.get(version) ?? 0) + 1)
  }
  const active = healths.length
  return {
    status: 200,
    headers: { 'cache-control': 'public, max-age=30' },
    body: {
      server: { active_nodes: active, registered_nodes: registered, version: SDK_VERSION, implementation: '@iicp/directory', mode: dir.opts.mode },
      regions: regions.size,
      intents: [...intents].map(([urn, count]) => ({ urn, node_count: count })),
      mesh_health: meshHealth(healths, distribution),
      directory_health: { uptime_s: Math.floor((now - dir.startedAt) / 1000) },
      sdk_adoption: {
        total_active: active,
        by_language: byLanguage,
        by_version: Object.fromEntries([...byVersion].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))),
      },
      credits_extension: false,
    },
  }
}

/** GET /iicp/health and /iicp/ready */
export function health(): Reply {
  return { status: 200, body: { ok: true, role: 'directory', ready: true } }
}
