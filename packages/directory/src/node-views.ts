/**
 * How a node looks on the wire: the discover NodeSummary (dispatch and public views, wire.md §1.5,
 * schemas/nodelist.json), the ticket route (§1.6) and node detail (§1.7). Discover fragments are
 * serialised once per node change and reused; only the score is spliced in per query.
 */
import { classifyHost } from '@iicp/protocol'
import { allowsRemoteInference, creditCostMultiplier, nodePolicyManifest, pricingModel } from './node-policy.js'
import type { LiveNode } from './node-table.js'
import { reputationTier, roundScore } from './scoring.js'
import type { NodeRecord } from './store/types.js'

const DEFAULT_PRICING = Object.freeze({ credit_cost_multiplier: 1, pricing_model: 'per_token', currency: 'credits', attested: false })

/**
 * The discover `pricing` block (dir §3.4): the declared multiplier and model. `attested` stays false: this
 * directory does not verify pricing declaration signatures.
 */
function pricing(rec: NodeRecord): Readonly<Record<string, unknown>> {
  if (rec.meta.pricing === undefined) return DEFAULT_PRICING
  return { credit_cost_multiplier: creditCostMultiplier(rec), pricing_model: pricingModel(rec), currency: 'credits', attested: false }
}
const CIP_POLICY_DEFAULT = Object.freeze({ allow_remote_inference: false, allow_tool_execution: false, allow_file_access: false })

function meta<T>(node: LiveNode, key: string): T | null {
  const v = node.rec.meta[key]
  return v === undefined ? null : (v as T)
}

function addressFamily(endpoint: string): 'ipv4' | 'ipv6' | 'dual' {
  try {
    return new URL(endpoint).hostname.startsWith('[') ? 'ipv6' : 'ipv4'
  } catch {
    return 'ipv4'
  }
}

function reachabilityTier(node: LiveNode): 'direct' | 'relay' {
  return meta<string>(node, 'transport_method') === 'turn_relay' ? 'relay' : 'direct'
}

function routeEvidence(node: LiveNode): string {
  return node.rec.liveness_verified ? 'directory_observed' : 'self_attested'
}

function modalities(caps: Array<Record<string, unknown>>): string[] {
  const set = new Set<string>()
  for (const c of caps) {
    const m = Array.isArray(c.input_modalities) ? c.input_modalities : ['text']
    for (const x of m) if (typeof x === 'string') set.add(x)
  }
  return [...set]
}

function modelsOf(caps: Array<Record<string, unknown>>): string[] {
  const set = new Set<string>()
  for (const c of caps) if (Array.isArray(c.models)) for (const m of c.models) if (typeof m === 'string') set.add(m)
  return [...set]
}

function endpointHostClass(endpoint: string): string | undefined {
  try {
    return classifyHost(new URL(endpoint).hostname)
  } catch {
    return undefined
  }
}

/**
 * Route facts the official SDKs read (wire.md §1.5; nodelist.json): `public_reachable` is true only when this
 * directory reached the endpoint and its host is public, false for loopback/private/link-local hosts, null for a
 * public host nobody here probed. `browser_usable` follows the SDKs' `browser_usable_only` rule (https, or http on a
 * loopback host). `routing_hint` is `relay` for a TURN-relayed node, else `http_direct` as the reference sends.
 */
function routeFacts(rec: NodeRecord, relayed: boolean): { public_reachable: boolean | null; browser_usable: boolean; routing_hint: string } {
  const cls = endpointHostClass(rec.endpoint)
  let scheme = ''
  try {
    scheme = new URL(rec.endpoint).protocol
  } catch {
    scheme = ''
  }
  return {
    public_reachable: cls !== 'public' ? false : rec.liveness_verified ? true : null,
    browser_usable: scheme === 'https:' || (scheme === 'http:' && cls === 'loopback'),
    routing_hint: relayed ? 'relay' : 'http_direct',
  }
}

/**
 * dir §3.4 `health_label` with the evidence behind it (ADR-044 as the reference directory reports it): the label of
 * {@link healthScore}; confidence `high` when this directory probed the endpoint, `medium` when only the heartbeat
 * HMAC challenge verified, `low` when reachability is self-attested.
 */
function healthFacts(rec: NodeRecord): Record<string, unknown> {
  const score = healthScore(rec, true)
  const challenged = rec.challenge_verified_at !== null
  const reachability = rec.liveness_verified
    ? { dimension: 'reachability', state: 'verified', reason: 'directory_probe', evidence: 'directory_observed' }
    : challenged
      ? { dimension: 'reachability', state: 'verified', reason: 'heartbeat_challenge', evidence: 'directory_observed' }
      : { dimension: 'reachability', state: 'unknown', reason: 'not_directory_observed', evidence: 'self_attested' }
  const latency = rec.observed_latency_ms === null
    ? { dimension: 'latency', state: 'unknown', reason: 'no_observations', evidence: 'none' }
    : { dimension: 'latency', state: 'observed', reason: 'consumer_telemetry', evidence: 'telemetry' }
  return {
    health_label: healthLabel(score, true),
    health_confidence: rec.liveness_verified ? 'high' : challenged ? 'medium' : 'low',
    health_reasons: [reachability, latency],
  }
}

/** The dispatch-view NodeSummary for one intent, without `score` (keys before and after it). */
function dispatchSummary(node: LiveNode, intent: string, now: number): [Record<string, unknown>, Record<string, unknown>] {
  const rec = node.rec
  const caps = node.capabilitiesFor(intent)
  const cx = meta<Record<string, unknown>>(node, 'cx_public_key')
  const head = {
    node_id: rec.node_id,
    endpoint: rec.endpoint,
    transport_endpoint: meta<string>(node, 'transport_endpoint'),
    transport_method: meta<string>(node, 'transport_method'),
    relay_endpoint: meta<string>(node, 'relay_endpoint'),
    nat_type: meta<string>(node, 'nat_type'),
    exposure_mode: meta<string>(node, 'exposure_mode'),
    region: rec.region,
  }
  const tail = {
    available: rec.available,
    load: rec.load,
    active_jobs: rec.active_jobs,
    max_concurrent: rec.max_concurrent,
    latency_estimate_ms: rec.observed_latency_ms === null ? null : Math.round(rec.observed_latency_ms),
    reputation_score: rec.reputation,
    reputation_model: 'outcome-v2',
    reputation_tier: reputationTier(rec, now),
    completed_tasks_count: rec.completed_tasks,
    relay_capable: rec.meta.relay_capable === true,
    relay_accept_port: meta<number>(node, 'relay_accept_port'),
    reachability_tier: reachabilityTier(node),
    route_evidence: routeEvidence(node),
    ...routeFacts(rec, reachabilityTier(node) === 'relay'),
    ...healthFacts(rec),
    address_family: addressFamily(rec.endpoint),
    transport: ['http'],
    cx_public_key: cx,
    key_ready: cx !== null,
    privacy_routing_status: cx !== null ? 'key_ready' : 'transitional',
    models: modelsOf(caps),
    input_modalities: modalities(caps),
    capabilities: caps,
    backend: meta<string>(node, 'backend'),
    sdk_language: meta<string>(node, 'sdk_language'),
    sdk_version: meta<string>(node, 'sdk_version'),
    sdk_compatibility_version: meta<string>(node, 'sdk_compatibility_version') ?? meta<string>(node, 'sdk_version'),
    implementation_name: meta<string>(node, 'implementation_name'),
    implementation_version: meta<string>(node, 'implementation_version'),
    cip_policy: meta<Record<string, unknown>>(node, 'policy') ?? CIP_POLICY_DEFAULT,
    // S.12 §5.2 as the reference directory reads it: a node taking remote inference is a CIP provider.
    cip_conformance_level: allowsRemoteInference(rec) ? 'CIP-Provider' : 'CIP-None',
    pricing: pricing(rec),
    node_policy_manifest: nodePolicyManifest(rec, now),
  }
  return [head, tail]
}

function publicSummary(node: LiveNode, intent: string, now: number): [Record<string, unknown>, Record<string, unknown>] {
  const rec = node.rec
  return [
    { node_id_prefix: rec.node_id.slice(0, 8), region: rec.region },
    {
      route_class: reachabilityTier(node),
      key_ready: rec.meta.cx_public_key != null,
      reputation_tier: reputationTier(rec, now),
      models: modelsOf(node.capabilitiesFor(intent)),
    },
  ]
}

function fragmentOf(parts: [Record<string, unknown>, Record<string, unknown>]): readonly [string, string] {
  const head = JSON.stringify(parts[0])
  const tail = JSON.stringify(parts[1])
  return [`${head.slice(0, -1)},"score":`, `,${tail.slice(1)}`]
}

/** The discover JSON for one node, cached per (view, intent) until the node changes. */
export function discoverFragment(node: LiveNode, intent: string, view: 'dispatch' | 'public', score: number, now: number): string {
  const key = view === 'public' ? `p${intent}` : `d${intent}`
  let frag = node.views?.get(key)
  if (!frag) {
    frag = fragmentOf(view === 'public' ? publicSummary(node, intent, now) : dispatchSummary(node, intent, now))
    ;(node.views ??= new Map()).set(key, frag)
  }
  return frag[0] + String(roundScore(score)) + frag[1]
}

/** The `route` object of a dispatch ticket response. */
export function ticketRoute(node: LiveNode, intent: string, score: number, now: number): Record<string, unknown> {
  const [head, tail] = dispatchSummary(node, intent, now)
  return { ...head, score: roundScore(score), ...tail }
}

function distinctStrings(caps: Array<Record<string, unknown>>, key: string): string[] {
  const set = new Set<string>()
  for (const c of caps) {
    const v = c[key]
    if (typeof v === 'string') set.add(v)
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') set.add(x)
  }
  return [...set]
}

/**
 * One node of `GET /v1/registry/nodes` (dir §3.4 "registry/*"; the redacted inventory of
 * node-observability-interfaces): the 8-character id prefix and presentation-safe facts only, never the
 * full node_id, endpoint, transport URLs, source address, keys or tokens.
 */
export function registryEntry(node: LiveNode, now: number): Record<string, unknown> {
  const rec = node.rec
  const caps = rec.capabilities
  return {
    node_id_prefix: rec.node_id.slice(0, 8),
    region: rec.region,
    reputation_score: Math.round(rec.reputation * 1000) / 1000,
    reputation_tier: reputationTier(rec, now),
    probation: rec.completed_tasks < 100,
    completed_tasks_count: rec.completed_tasks,
    intents: distinctStrings(caps, 'intent'),
    models: modelsOf(caps),
    input_modalities: modalities(caps),
    quantization: distinctStrings(caps, 'quantization'),
    inference_engine: distinctStrings(caps, 'inference_engine'),
    backend: meta<string>(node, 'backend'),
    route_class: reachabilityTier(node),
    key_ready: rec.meta.cx_public_key != null,
    relay_capable: rec.meta.relay_capable === true,
    credit_cost_multiplier: creditCostMultiplier(rec),
    pricing_model: pricingModel(rec),
    attested: false,
    cip_enabled: allowsRemoteInference(rec),
    sdk_language: meta<string>(node, 'sdk_language'),
    sdk_version: meta<string>(node, 'sdk_version'),
    last_seen: new Date(rec.last_seen).toISOString(),
  }
}

/** Health labels (ADR-044, dir §3.4/§3.9b), worst last. */
export const HEALTH_LABELS = ['healthy', 'degraded', 'impaired', 'critical', 'offline'] as const
export type HealthLabel = (typeof HEALTH_LABELS)[number]

/** Reachability evidence (1 when probed or HMAC-verified, else 0.5) times liveness, as an integer 0–100. */
export function healthScore(rec: NodeRecord, live: boolean): number {
  const liveness = live ? 1 : 0
  const reachability = rec.liveness_verified || rec.challenge_verified_at !== null ? 1 : 0.5
  return Math.round(100 * (0.7 * reachability * liveness + 0.3 * liveness))
}

/** The label of a 0–100 score: healthy ≥ 85, degraded ≥ 65, impaired ≥ 40, else critical (dir §3.9b). */
export function healthLabel(score: number, live: boolean): HealthLabel {
  return !live ? 'offline' : score >= 85 ? 'healthy' : score >= 65 ? 'degraded' : score >= 40 ? 'impaired' : 'critical'
}

/** `GET /v1/node/{id}` (dir §3.4, §3.6; cts DIR-NODE-01). */
export function nodeDetail(node: LiveNode, live: boolean, probation: boolean, now: number): Record<string, unknown> {
  const rec = node.rec
  const liveness = live ? 1 : 0
  const reachability = rec.liveness_verified || rec.challenge_verified_at !== null ? 1 : 0.5
  const scoreHealth = healthScore(rec, live)
  return {
    node_id: rec.node_id,
    endpoint: rec.endpoint,
    region: rec.region,
    status: live ? 'active' : 'dormant',
    available: rec.available && live,
    load: rec.load,
    active_jobs: rec.active_jobs,
    max_concurrent: rec.max_concurrent,
    last_seen: new Date(rec.last_seen).toISOString(),
    registered_at: new Date(rec.registered_at).toISOString(),
    reputation_score: rec.reputation,
    reputation_model: 'outcome-v2',
    reputation_tier: reputationTier(rec, now),
    probation,
    completed_tasks_count: rec.completed_tasks,
    observed_latency_ms: rec.observed_latency_ms,
    capabilities: rec.capabilities,
    models: modelsOf(rec.capabilities),
    transport_endpoint: meta<string>(node, 'transport_endpoint'),
    transport_method: meta<string>(node, 'transport_method'),
    relay_endpoint: meta<string>(node, 'relay_endpoint'),
    exposure_mode: meta<string>(node, 'exposure_mode'),
    relay_capable: rec.meta.relay_capable === true,
    relay_accept_port: meta<number>(node, 'relay_accept_port'),
    cx_public_key: meta<Record<string, unknown>>(node, 'cx_public_key'),
    // The Ed25519 gossip key (dir §3.6), not the CX key.
    public_key: meta<string>(node, 'public_key'),
    node_policy_manifest: nodePolicyManifest(rec, now),
    health: {
      score: scoreHealth,
      label: healthLabel(scoreHealth, live),
      observed: rec.liveness_verified,
      evidence_level: routeEvidence(node),
      components: { liveness, reachability },
      evaluated_at: new Date(now).toISOString(),
    },
  }
}
