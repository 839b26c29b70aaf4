/** Bulk registration without HTTP, for benchmarks and large fixtures (10 000 nodes in well under a second). */
import type { Directory } from './directory.js'
import { hashToken, newHmacKey, newNodeToken, newProxyToken } from './credentials.js'
import type { NodeRecord } from './store/types.js'

/** Options of seedNodes. */
export interface SeedOptions {
  /** Intents every seeded node serves. @default ['urn:iicp:intent:llm:chat:v1'] */
  intents?: readonly string[]
  /** Regions assigned round-robin. @default ['eu-central', 'us-west', 'ap-south'] */
  regions?: readonly string[]
  /** Endpoint for node i. @default i => `http://127.0.0.1:${20000 + (i % 40000)}` */
  endpoint?: (i: number) => string
  /** Node id for node i. @default i => `seed-node-${i}` */
  nodeId?: (i: number) => string
  /** Deterministic [0,1) source for load/reputation spread. @default Math.random */
  random?: () => number
  /** Optional REGISTER fields of node i as discover echoes them (`pricing`, `policy`, `relay_capable`, …). */
  meta?: (i: number) => Record<string, unknown>
}

const SEED_BATCH = 256

/** A seeded node's credentials, so benchmarks can heartbeat as it. */
export interface SeededNode {
  readonly node_id: string
  readonly node_token: string
}

/**
 * Register `count` synthetic, live, available nodes directly in the directory's table (and store),
 * skipping validation and liveness probes. Loads and reputations vary so scores differ.
 */
export function seedNodes(directory: Directory, count: number, options: SeedOptions = {}): SeededNode[] {
  const intents = options.intents ?? ['urn:iicp:intent:llm:chat:v1']
  const regions = options.regions ?? ['eu-central', 'us-west', 'ap-south']
  const endpoint = options.endpoint ?? ((i: number) => `http://127.0.0.1:${20000 + (i % 40000)}`)
  const nodeId = options.nodeId ?? ((i: number) => `seed-node-${i}`)
  const random = options.random ?? Math.random
  const now = directory.options.clock()
  const out: SeededNode[] = []
  let batch: NodeRecord[] = []
  for (let i = 0; i < count; i++) {
    const token = newNodeToken()
    const max = 4
    const active = Math.floor(random() * max)
    const id = nodeId(i)
    batch.push({
      node_id: id,
      token_hash: hashToken(token),
      proxy_token_hash: hashToken(newProxyToken()),
      hmac_key: newHmacKey(),
      endpoint: endpoint(i),
      region: regions[i % regions.length] ?? 'local',
      capabilities: intents.map((intent) => ({ intent, models: [`model-${i % 7}`], max_tokens: 8192, input_modalities: ['text'] })),
      max_concurrent: max,
      tokens_per_min: 10_000,
      meta: { sdk_language: 'typescript', transport_method: 'direct', ...options.meta?.(i) },
      registered_at: now,
      last_seen: now,
      available: true,
      load: active / max,
      active_jobs: active,
      completed_tasks: Math.floor(random() * 2000),
      failed_tasks: 0,
      reputation: Math.round((0.3 + random() * 0.7) * 1000) / 1000,
      liveness_verified: false,
      challenge_verified_at: null,
      observed_source_ip: '127.0.0.1',
      last_metrics_batch: null,
      observed_latency_ms: null,
    })
    out.push({ node_id: id, node_token: token })
    // Insert in batches, as registrations would arrive: the per-record capability objects, which the
    // table swaps for a shared copy, then die young instead of surviving until the whole set is built.
    if (batch.length === SEED_BATCH) {
      directory.insertRecords(batch)
      batch = []
    }
  }
  directory.insertRecords(batch)
  return out
}
