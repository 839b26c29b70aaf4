/**
 * QUERY / NODELIST, node detail and bootstrap (wire.md §1.5, §1.7; schemas/nodelist.json;
 * reference-implementations §3.4, §3.9). Read leniently: the PHP directory sends arrays where
 * nodelist.json says strings (`quantization`) and a string where it says an array (`route_evidence`).
 */
import { z } from 'zod'
import {
  BackendStabilitySchema, CapabilitySchema, CxPublicKeySchema, IntentUrnSchema, ModalitySchema, NatTypeSchema,
  PolicyManifestSchema, QosSchema, TransportCandidateSchema,
} from './common.js'

/** Query-string boolean: `true`/`1` and `false`/`0` (dir §3.3 `cip_capable=1`). */
const QueryBoolean = z.preprocess(
  (v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v),
  z.boolean(),
)
const StringOrList = z.union([z.string(), z.array(z.string())])

/** `GET /v1/discover` query (wire.md §1.5; dir §3.3). Values arrive as strings and are coerced. */
export const DiscoverQuerySchema = z.object({
  /** dir §3.3: full URN, MUST (missing → 422, DIR-DISC-10). */
  intent: IntentUrnSchema,
  /** dir §3.3: probation filter level. */
  qos: QosSchema.optional(),
  /** dir §3.3: preference only, never exclusion. */
  region: z.string().min(1).max(64).optional(),
  /** dir §3.3: default 10, max 50. */
  limit: z.coerce.number().int().min(1).max(50).optional(),
  /** dir §3.3: 0–1; 2.0 → 422 (DIR-DISC-09). */
  min_reputation: z.coerce.number().min(0).max(1).optional(),
  /** dir §3.3: drop nodes whose credit_cost_multiplier exceeds it. */
  max_multiplier: z.coerce.number().min(0).optional(),
  /** dir §3.3: 0–1. */
  min_quality_score: z.coerce.number().min(0).max(1).optional(),
  /** dir §3.3: only allow_remote_inference nodes. */
  cip_capable: QueryBoolean.optional(),
  /** reference-implementations §3.4: relay candidates (dir §7.6). */
  relay_capable: QueryBoolean.optional(),
  /** reference-implementations §3.4: include nodes not publicly reachable. */
  include_internal: QueryBoolean.optional(),
  /** dir §3.3 */
  modality: ModalitySchema.optional(),
  /** dir §3.4: `dispatch` (default) or `public`. */
  view: z.enum(['dispatch', 'public']).optional(),
  /** sem §3.1: switches to model-aware weights. */
  model: z.string().min(1).max(256).optional(),
})
export type DiscoverQuery = z.infer<typeof DiscoverQuerySchema>

/** Directory pricing view of a node (dir §3.4). */
export const NodePricingSchema = z.looseObject({
  /** dir §3.4: default 1.0. */
  credit_cost_multiplier: z.number().min(0).optional(),
  /** dir §3.4: `per_token`. */
  pricing_model: z.string().optional(),
  /** dir §3.4: `credits`. */
  currency: z.string().optional(),
  /** dir §3.4 */
  effective_from: z.union([z.string(), z.number()]).nullish(),
  /** dir §3.4 */
  effective_until: z.union([z.string(), z.number()]).nullish(),
  /** dir §3.4 */
  attested: z.boolean().optional(),
})
export type NodePricing = z.infer<typeof NodePricingSchema>

/** Directory CIP summary of a node (dir §3.4). */
export const CipPolicySummarySchema = z.looseObject({
  /** dir §3.4 */
  allow_remote_inference: z.boolean().optional(),
  /** dir §3.4 */
  allow_tool_execution: z.boolean().optional(),
  /** dir §3.4 */
  allow_file_access: z.boolean().optional(),
  /** dir §3.4: deprecated. */
  pricing_credits_per_1000: z.number().nullish(),
})
export type CipPolicySummary = z.infer<typeof CipPolicySummarySchema>

/** Directory view of a node's updater evidence (nodelist.json `auto_update`). */
export const AutoUpdateSummarySchema = z.looseObject({
  /** nodelist.json */
  enabled: z.boolean().nullish(),
  /** nodelist.json: ≥ 300. */
  interval_s: z.number().int().nullish(),
  /** nodelist.json */
  latest_seen: z.string().nullish(),
  /** nodelist.json */
  last_checked_at: z.string().nullish(),
  /** nodelist.json */
  error_class: z.string().nullish(),
  /** nodelist.json: `unknown | self_reported`. */
  evidence: z.string().optional(),
})

/**
 * An advisory field a newer directory may shape differently: read when it has the known shape, dropped (undefined)
 * when it does not, so one odd field never costs the node or the list. Routing-relevant fields stay strict.
 */
function advisory<T extends z.ZodType>(schema: T) {
  return schema.nullish().catch(undefined)
}

/** How the directory arrived at `latency_estimate_ms` (reference-implementations §3.4). */
export const LatencyEvidenceSchema = z.looseObject({
  /** reference-implementations §3.4: null when nothing was observed. */
  estimate_ms: z.number().min(0).nullish(),
  /** reference-implementations §3.4: e.g. `none`. */
  basis: z.string().nullish(),
})
export type LatencyEvidence = z.infer<typeof LatencyEvidenceSchema>

/** A node's progress towards the next reputation tier (reference-implementations §3.4; cip §5.1.1). */
export const TrustProgressSchema = z.looseObject({
  /** reference-implementations §3.4 */
  completed_tasks: z.number().int().min(0).nullish(),
  /** reference-implementations §3.4: tasks needed for `gold`. */
  gold_min_tasks: z.number().int().min(0).nullish(),
  /** reference-implementations §3.4: tasks needed for `platinum`. */
  platinum_min_tasks: z.number().int().min(0).nullish(),
  /** reference-implementations §3.4 */
  probation: z.boolean().nullish(),
})
export type TrustProgress = z.infer<typeof TrustProgressSchema>

/** One dimension behind `health_label` (reference-implementations §3.4; ADR-044 as the PHP directory reports it). */
export const HealthReasonSchema = z.looseObject({
  /** reference-implementations §3.4: `reachability`, `latency`, … */
  dimension: z.string(),
  /** reference-implementations §3.4: e.g. `unknown`, `verified`. */
  state: z.string().nullish(),
  /** reference-implementations §3.4: e.g. `not_directory_observed`. */
  reason: z.string().nullish(),
  /** reference-implementations §3.4: e.g. `self_attested`. */
  evidence: z.string().nullish(),
})
export type HealthReason = z.infer<typeof HealthReasonSchema>

/** Counts over a node's declared models (reference-implementations §3.4). */
export const CapabilitySummarySchema = z.looseObject({
  /** reference-implementations §3.4 */
  model_count_registered: z.number().int().min(0).nullish(),
  /** reference-implementations §3.4 */
  model_count_live: z.number().int().min(0).nullish(),
  /** reference-implementations §3.4 */
  model_family_count: z.number().int().min(0).nullish(),
  /** reference-implementations §3.4 */
  modalities: z.array(z.string()).nullish(),
  /** reference-implementations §3.4 */
  context_window_max: z.number().int().min(0).nullish(),
  /** reference-implementations §3.4: e.g. `self_declared`. */
  quality_evidence: z.string().nullish(),
})
export type CapabilitySummary = z.infer<typeof CapabilitySummarySchema>

const nodeSummaryShape = {
  /** dir §3.4: dispatch view only. */
  node_id: z.string().min(1).optional(),
  /** dir §3.4 v1.1.14: public view only. */
  node_id_prefix: z.string().optional(),
  /** dir §3.4: task base URL, dispatch view only. */
  endpoint: z.string().min(1).optional(),
  /** dir §3.4: `iicp://`/`iicpsec://`; prefer it when native is supported. */
  transport_endpoint: z.string().nullish(),
  /** dir §3.4: directory composite score 0–1. */
  score: z.number().min(0).max(1),
  /** dir §3.4 */
  available: z.boolean(),
  /** dir §3.4 */
  region: z.string().nullish(),
  /** dir §3.4: 0–1. */
  load: z.number().min(0).nullish(),
  /** dir §3.4 */
  active_jobs: z.number().int().min(0).nullish(),
  /** dir §3.4 */
  max_concurrent: z.number().int().min(0).nullish(),
  /** dir §3.4 */
  latency_estimate_ms: z.number().min(0).nullish(),
  /** dir §3.4: 0–1, default 0.5. */
  reputation_score: z.number().min(0).max(1).nullish(),
  /** sem §11 */
  reputation_model: z.string().nullish(),
  /** sem §11 */
  reputation_epoch: z.union([z.string(), z.number()]).nullish(),
  /** cts DIR-CIP-03: `bronze|silver|gold|platinum` (`none` legacy). */
  reputation_tier: z.string().nullish(),
  /** dir §3.4: advisory, self-reported. */
  completed_tasks_count: z.number().int().min(0).nullish(),
  /** dir §3.4 */
  cip_policy: CipPolicySummarySchema.nullish(),
  /** dir §3.4 */
  pricing: NodePricingSchema.nullish(),
  /** dir §3.4: `CIP-None|CIP-Consumer|CIP-Provider|CIP-Full`. */
  cip_conformance_level: z.string().nullish(),
  /** dir §3.4: echoed REGISTER manifest plus evidence. */
  node_policy_manifest: PolicyManifestSchema.nullish(),
  /** dir §3.4: `healthy|degraded|impaired|critical|offline`. */
  health_label: z.string().nullish(),
  /** reference-implementations §3.4 */
  health_confidence: z.string().nullish(),
  /** dir §3.4: ADR-043 class. */
  exposure_mode: z.string().nullish(),
  /** dir §3.4: `direct` or `relay`. */
  reachability_tier: z.string().nullish(),
  /** dir §3.4 says string, nodelist.json says array (wire.md §9 item 22): both accepted. */
  route_evidence: StringOrList.nullish(),
  /** dir §3.4 */
  probe_source: z.string().nullish(),
  /** nodelist.json */
  public_reachable: z.boolean().nullish(),
  /** nodelist.json */
  browser_usable: z.boolean().nullish(),
  /** nodelist.json */
  routing_hint: z.string().nullish(),
  /** dir §3.4: union for the intent. */
  input_modalities: z.array(z.string()).nullish(),
  /** dir §3.4 */
  supported_profiles: z.array(z.string()).nullish(),
  /** dir §3.4: mirrors REGISTER. */
  backend: z.string().nullish(),
  /** dir §3.4: mirrors REGISTER; unknown values tolerated on read. */
  transport_method: z.string().nullish(),
  /** dir §3.4 */
  nat_type: z.union([NatTypeSchema, z.string()]).nullish(),
  /** dir §3.4 */
  transport_metadata: z.looseObject({}).nullish(),
  /** dir §3.4 */
  transport_candidates: z.array(TransportCandidateSchema.or(z.looseObject({}))).nullish(),
  /** dir §3.4 */
  relay_endpoint: z.string().nullish(),
  /** reference-implementations §3.4: e.g. `["http"]`. */
  transport: z.array(z.string()).nullish(),
  /** dir §3.4: `ipv4|ipv6|dual`. */
  address_family: z.string().nullish(),
  /** dir §3.4: node can relay (Tier 3). */
  relay_capable: z.boolean().nullish(),
  /** cx §3.2 */
  cx_public_key: CxPublicKeySchema.nullish(),
  /** dir §3.4: true when cx_public_key is present. */
  key_ready: z.boolean().nullish(),
  /** dir §3.4: `key_ready|transitional`. */
  privacy_routing_status: z.string().nullish(),
  /** dir §3.4 */
  sdk_language: z.string().nullish(),
  /** dir §3.4: legacy alias. */
  sdk_version: z.string().nullish(),
  /** dir §3.4 */
  implementation_name: z.string().nullish(),
  /** dir §3.4 */
  implementation_version: z.string().nullish(),
  /** dir §3.4 */
  sdk_compatibility_version: z.string().nullish(),
  /** dir §3.4: `current|downlevel|unknown`. */
  sdk_status: z.string().nullish(),
  /** dir §3.4 */
  sdk_baseline_version: z.string().nullish(),
  /** dir §3.4 */
  upgrade_required: z.boolean().nullish(),
  /** dir §3.4 */
  auto_update: AutoUpdateSummarySchema.nullish(),
  /** dir §3.4: advisory. */
  models: z.array(z.string()).nullish(),
  /** dir §3.4: nodelist.json says string, PHP sends an array. */
  quantization: StringOrList.nullish(),
  /** dir §3.4: nodelist.json says string, PHP sends an array. */
  inference_engine: StringOrList.nullish(),
  /** dir §3.4: intent-relevant subset. */
  capabilities: z.array(CapabilitySchema).nullish(),
  /** dir §3.4: only when operator-bound. */
  operator_display_name: z.string().nullish(),
  /** dir §3.4: only when operator-bound. */
  operator_fingerprint: z.string().nullish(),
  /** reference-implementations §3.4 (node detail per dir; PHP also emits it in discover). */
  probation: z.boolean().nullish(),
  /** reference-implementations §3.4 */
  backend_stability: BackendStabilitySchema.nullish(),
  /** dir §3.4 v1.1.14: public view only. */
  route_class: z.string().nullish(),
  /** reference-implementations §3.4: the node can co-sign consumer tokens. */
  consumer_cosignature_ready: advisory(z.boolean()),
  /** reference-implementations §3.4 */
  latency_evidence: advisory(LatencyEvidenceSchema),
  /** reference-implementations §3.4, §3.9: abridged in the capture, so only its object shape is known. */
  performance: advisory(z.looseObject({})),
  /** reference-implementations §3.4 */
  trust_progress: advisory(TrustProgressSchema),
  /** reference-implementations §3.4: null until this directory has probed the endpoint. */
  directory_observed_reachable: advisory(z.boolean()),
  /** reference-implementations §3.4: abridged in the capture, so only its object shape is known. */
  sdk_release: advisory(z.looseObject({})),
  /** reference-implementations §3.4 */
  health_reasons: advisory(z.array(HealthReasonSchema)),
  /** reference-implementations §3.4 */
  capability_summary: advisory(CapabilitySummarySchema),
}

/**
 * Discover used to emit the CX key as `public_key`; clients MAY keep that read fallback for one
 * release (cx §3.2; wire.md §9 item 38). Only an X25519 descriptor object is taken as the CX key:
 * a string `public_key` is the Ed25519 gossip key and is left alone.
 */
function liftLegacyCxKey(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v
  const o = v as Record<string, unknown>
  const pk = o.public_key
  if (o.cx_public_key == null && typeof pk === 'object' && pk !== null && (pk as Record<string, unknown>).algorithm === 'X25519') {
    return { ...o, cx_public_key: pk }
  }
  return v
}

/** One discovered node (wire.md §1.5; nodelist.json `NodeSummary`: only `score` and `available` required). */
export const NodeSummarySchema = z.preprocess(liftLegacyCxKey, z.looseObject(nodeSummaryShape))
export type NodeSummary = z.infer<typeof NodeSummarySchema>

/** The conformance runner also accepts `{data:{nodes}}` (wire.md §9 item 23): lift it. */
function liftDataNesting(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v
  const o = v as Record<string, unknown>
  const data = o.data
  if (o.nodes === undefined && typeof data === 'object' && data !== null && 'nodes' in data) {
    return { ...(data as Record<string, unknown>), ...o }
  }
  return v
}

/** NODELIST, the discover answer (wire.md §1.5; nodelist.json; reference-implementations §3.4). */
export const NodeListSchema = z.preprocess(liftDataNesting, z.looseObject({
  /** dir §3.4: ordered, highest score first. */
  nodes: z.array(NodeSummarySchema),
  /** dir §3.4: number of nodes in this response. */
  count: z.number().int().min(0).optional(),
  /** dir §3.4 */
  query_ms: z.number().min(0).optional(),
  /** nodelist.json: some candidate is relay-capable. */
  relay_available: z.boolean().optional(),
  /** nodelist.json: `dispatch|public`. */
  view: z.enum(['dispatch', 'public']).optional(),
  /** nodelist.json: `route_dispatch|public_presentation`. */
  data_class: z.enum(['route_dispatch', 'public_presentation']).optional(),
  /** nodelist.json */
  route_fields_present: z.boolean().optional(),
  /** nodelist.json */
  redaction: z.looseObject({}).optional(),
  /** nodelist.json: relative ticket endpoint. */
  dispatch_ticket_endpoint: z.string().optional(),
  /** nodelist.json */
  ticketed_dispatch_available: z.boolean().optional(),
  /** reference-implementations §3.4 */
  diversity_evidence: z.looseObject({}).optional(),
}))
export type NodeList = z.infer<typeof NodeListSchema>

/** Node health as the directory evaluates it (cts §3.5b). */
export const DirectoryNodeHealthSchema = z.looseObject({
  /** cts §3.5b: 0–100 integer. */
  score: z.number().min(0).max(100).nullish(),
  /** cts §3.5b */
  label: z.string().nullish(),
  /** cts §3.5b */
  observed: z.boolean().nullish(),
  /** cts §3.5b */
  confidence: z.string().nullish(),
  /** cts §3.5b */
  evidence_level: z.string().nullish(),
  /** cts §3.5b */
  latency_ms_basis: z.string().nullish(),
  /** cts §3.5b */
  components: z.looseObject({}).nullish(),
  /** cts §3.5b */
  evaluated_at: z.string().nullish(),
})
export type DirectoryNodeHealth = z.infer<typeof DirectoryNodeHealthSchema>

/**
 * `GET /v1/node/{id}` (wire.md §1.7; reference-implementations §3.9). Here `public_key` is the
 * Ed25519 gossip key (dir §3.6), never the CX key; `score` is not part of this view.
 */
export const NodeDetailSchema = z.looseObject({
  ...nodeSummaryShape,
  /** dir §3.4 */
  node_id: z.string().min(1),
  /** dir §3.4: score is discover-only. */
  score: z.number().min(0).max(1).optional(),
  /** dir §3.4 */
  available: z.boolean().optional(),
  /** reference-implementations §3.9: ISO date-time. */
  last_seen: z.union([z.string(), z.number()]).nullish(),
  /** reference-implementations §3.9 */
  observed_latency_ms: z.number().nullish(),
  /** dir §3.6: Ed25519 gossip key (Phase 2). */
  public_key: z.string().nullish(),
  /** cts §3.5b */
  health: DirectoryNodeHealthSchema.nullish(),
})
export type NodeDetail = z.infer<typeof NodeDetailSchema>

/** `GET /v1/bootstrap` query (dir §3.5): default 5, max 50. */
export const BootstrapQuerySchema = z.object({
  /** dir §3.5 */
  limit: z.coerce.number().int().min(1).max(50).optional(),
})
export type BootstrapQuery = z.infer<typeof BootstrapQuerySchema>

/** One seed peer (dir §3.5). */
export const BootstrapPeerSchema = z.looseObject({
  /** dir §3.5 */
  node_id: z.string().min(1),
  /** dir §3.5 */
  endpoint: z.string().min(1),
  /** dir §3.5 */
  region: z.string().nullish(),
  /** dir §3.5: ISO date-time, within the last 90 s. */
  last_seen: z.union([z.string(), z.number()]).nullish(),
})
export type BootstrapPeer = z.infer<typeof BootstrapPeerSchema>

/** `GET /v1/bootstrap` answer `{peers, count}`, newest first (dir §3.5; cts DIR-BS-01/02). */
export const BootstrapResponseSchema = z.looseObject({
  /** dir §3.5 */
  peers: z.array(BootstrapPeerSchema),
  /** dir §3.5 */
  count: z.number().int().min(0),
})
export type BootstrapResponse = z.infer<typeof BootstrapResponseSchema>
