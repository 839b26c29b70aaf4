/** Storage behind the directory: a small interface so memory, file or shared stores plug in (issue: storage). */
import type { SigningKeyPair } from '@iicp/protocol'

/** One registered node as persisted. Tokens are kept only as SHA-256 hashes. */
export interface NodeRecord {
  node_id: string
  /** hex SHA-256 of the current node_token. */
  token_hash: string
  /** hex SHA-256 of the telemetry proxy_token (tel §3). */
  proxy_token_hash: string
  /** Shared HMAC key for the heartbeat challenge (hex, as handed to the node). */
  hmac_key: string
  endpoint: string
  region: string
  /** Capabilities as registered (loose objects; unknown fields kept). */
  capabilities: Array<Record<string, unknown>>
  max_concurrent: number
  tokens_per_min: number | null
  /** Optional REGISTER fields echoed by discover/node detail (transport_*, nat_type, cx_public_key, sdk_*...). */
  meta: Record<string, unknown>
  registered_at: number
  last_seen: number
  available: boolean
  load: number
  active_jobs: number
  completed_tasks: number
  failed_tasks: number
  reputation: number
  /** Whether the directory itself reached `{endpoint}/iicp/health`. */
  liveness_verified: boolean
  /** Last time a heartbeat challenge_response verified; null when never. */
  challenge_verified_at: number | null
  observed_source_ip: string
  last_metrics_batch: string | null
  /** Telemetry-observed latency (EMA), null until reported. */
  observed_latency_ms: number | null
}

/**
 * Persistence for nodes and the signing key. The directory keeps its working set in memory and mirrors
 * every change here; `saveNode`/`deleteNode` are synchronous so the hot path never awaits I/O, and a
 * store may batch writes until `flush()`.
 */
export interface DirectoryStore {
  /** Every stored node, read once at start. */
  loadNodes(): Promise<NodeRecord[]>
  /** Insert or replace one node (may be written later). */
  saveNode(record: NodeRecord): void
  /** Forget one node. */
  deleteNode(nodeId: string): void
  loadSigningKey(): Promise<SigningKeyPair | undefined>
  saveSigningKey(key: SigningKeyPair): Promise<void>
  /** Write anything pending. */
  flush(): Promise<void>
  /** Flush and release timers/handles; idempotent. */
  close(): Promise<void>
}
