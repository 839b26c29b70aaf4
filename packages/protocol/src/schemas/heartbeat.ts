/** HEARTBEAT / PONG (wire.md §1.3; dir §3.2; reference-implementations §3.2). */
import { z } from 'zod'
import { BackendStabilitySchema, CxPublicKeySchema, UpdaterEvidenceShape } from './common.js'

/** Task counters since the last acked batch (wire.md §1.3; PHP caps each at 1000 per beat). */
export const HeartbeatMetricsSchema = z.looseObject({
  /** dir §3.2 */
  tasks_success: z.number().int().min(0).max(1000),
  /** dir §3.2 */
  tasks_failed: z.number().int().min(0).max(1000),
  /** dir §3.2 */
  avg_latency_ms: z.number().min(0),
})
export type HeartbeatMetrics = z.infer<typeof HeartbeatMetricsSchema>

const METRICS_BATCH_ID = /^[\x20-\x7e]{1,64}$/

/** HEARTBEAT body, `POST /v1/heartbeat` with Bearer node_token (wire.md §1.3). */
export const HeartbeatRequestSchema = z.looseObject({
  /** dir §3.2: MUST, even with a JWT bearer. */
  node_id: z.string().min(1),
  /** reference-implementations §3.2: the Python SDK repeats its token here; never log. */
  node_token: z.string().optional(),
  /** dir §3.2: active_jobs / max_concurrent, 0–1. */
  load: z.number().min(0).max(1).optional(),
  /** dir §3.2 */
  active_jobs: z.number().int().min(0).optional(),
  /** dir §3.2: absent ⇒ true. */
  available: z.boolean().optional(),
  /** reference-implementations §3.2: `available` in the Python SDK. */
  status: z.string().optional(),
  /** reference-implementations §3.2 */
  max_concurrent: z.number().int().min(1).max(256).optional(),
  /** dir §3.2: declared p95 SLA, ≥ 0. */
  sla_p95_ms: z.number().int().min(0).optional(),
  /** dir §3.2 */
  metrics: HeartbeatMetricsSchema.optional(),
  /** dir §3.2: 1–64 printable ASCII; MUST when metrics present. */
  metrics_batch_id: z.string().regex(METRICS_BATCH_ID, 'metrics_batch_id must be 1-64 printable ASCII').optional(),
  /**
   * dir §3.2; wire.md §1.3: SHOULD, lowercase hex HMAC-SHA256(node_hmac_key, the previous PONG's challenge). The spec
   * names no outcome for a wrong value. The PHP reference answers 200 and leaves liveness unverified
   * (reference-implementations §3.2); @iicp/directory answers 401 `unauthorized` (the challenge before last still
   * counts, in case a PONG was lost), and the node re-registers.
   */
  challenge_response: z.string().max(128).optional(),
  /** cx §3.1: CX key update. */
  cx_public_key: CxPublicKeySchema.nullish(),
  /** reference-implementations §3.2 */
  health_models: z.array(z.string()).optional(),
  /** reference-implementations §3.2 */
  backend_stability: BackendStabilitySchema.optional(),
  /** reference-implementations §3.2 */
  pricing: z.looseObject({}).optional(),
  /** dir §3.15.4: route-recovery summary. */
  recovery_state: z.string().nullish(),
  /** dir §3.15.4 */
  route_recovery_hint: z.string().nullish(),
  /** dir §3.15.4 */
  recovery_action: z.string().nullish(),
  /** dir §3.15.4 */
  recovery_next_retry_at: z.union([z.string(), z.number()]).nullish(),
  /** dir §3.15.4 */
  recovery_attempt: z.number().int().min(0).nullish(),
  /** dir §3.15.4 */
  recovery_supervised: z.boolean().nullish(),
  ...UpdaterEvidenceShape,
}).superRefine((v, ctx) => {
  if (v.metrics !== undefined && v.metrics_batch_id === undefined) {
    ctx.addIssue({ code: 'custom', path: ['metrics_batch_id'], message: 'metrics_batch_id is required with metrics' })
  }
})
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>

/** PONG, HTTP 200 (wire.md §1.3). Conformance asserts `ok === true` and a positive `next_heartbeat_ms`. */
export const HeartbeatResponseSchema = z.looseObject({
  /** dir §3.2 */
  ok: z.literal(true),
  /** dir §3.2: default 30000. */
  next_heartbeat_ms: z.number().int().positive(),
  /** sem §11: 0–1. */
  reputation_score: z.number().min(0).max(1).nullish(),
  /** sem §11: e.g. `outcome-v2`. */
  reputation_model: z.string().nullish(),
  /** sem §11: opaque. */
  reputation_epoch: z.union([z.string(), z.number()]).nullish(),
  /** dir §3.2: the acked metrics batch id, or null. */
  metrics_batch_accepted: z.string().nullish(),
  /** dir §3.2: hex nonce for the next challenge_response. */
  challenge: z.string().nullish(),
})
export type HeartbeatResponse = z.infer<typeof HeartbeatResponseSchema>
