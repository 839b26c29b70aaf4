/**
 * Building blocks shared by several wire messages (wire.md §1.2, §1.5, §7; cx §3.1; ncf §2–§9).
 * Read schemas are loose objects: unknown fields pass through, because the mesh adds fields faster
 * than the spec names them. Every schema is built once at module load.
 */
import { z } from 'zod'

/**
 * Intent URN grammar used on the wire: the registry regex (wire.md §3.2), the only one that accepts
 * every registered URN (`translate:v1`, `mcp:tools/call:v1`) and `x.` vendor URNs. `+modifier`
 * URNs are refused here because official SDKs reject any `+` (sem §1.5).
 */
export const INTENT_URN_PATTERN = /^urn:iicp:intent:[a-z0-9_.-]+(?::[a-z0-9_./-]+)*:v[1-9][0-9]*$/

/** Intent URN (wire.md §3.1–§3.2); risk and registry rules live in intents.ts. */
export const IntentUrnSchema = z.string().max(255).regex(INTENT_URN_PATTERN, 'Invalid intent URN')

/** `implementation_name` grammar (dir §3.1; fixtures/directory-implementation-metadata-v1.json). */
export const IMPLEMENTATION_NAME_PATTERN = /^[A-Za-z0-9@][A-Za-z0-9._/@+-]{0,63}$/
/** `implementation_version` and `sdk_compatibility_version` grammar (dir §3.1). */
export const METADATA_VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,31}$/

/** Input modalities a capability accepts (wire.md §1.2; ncf §2). */
export const ModalitySchema = z.enum(['text', 'image', 'audio', 'video'])
export type Modality = z.infer<typeof ModalitySchema>

/** IICP-CX X25519 public key descriptor (cx §3.1; nodelist.json `CxPublicKey`). */
export const CxPublicKeySchema = z.looseObject({
  /** cx §3.1: always `X25519` in Tier 1. */
  algorithm: z.literal('X25519'),
  /** cx §3.1: always `base64url` (no padding). */
  encoding: z.literal('base64url'),
  /** cx §3.1: 32-byte public key, base64url. */
  key: z.string().min(1),
  /** cx §3.1: key id, `cx-` + 16 hex in the reference SDK. */
  key_id: z.string().min(1),
  /** cx §3.1: expiry (ISO date-time; some writers send unix seconds). */
  not_after: z.union([z.string(), z.number()]).nullish(),
  /** cx §3.1: reserved for a hybrid PQ KEM, null today. */
  hybrid_pq: z.unknown().optional(),
  /** cx §5a.3: e.g. `response_encryption_v1`. */
  features: z.array(z.string()).optional(),
})
export type CxPublicKey = z.infer<typeof CxPublicKeySchema>

/** Optional per-capability admission block (adm §2). */
export const CapabilityAdmissionSchema = z.looseObject({
  /** adm §2 */
  availability: z.enum(['ready', 'draining', 'unavailable']).optional(),
  /** adm §2 */
  capacity_class: z.enum(['limited', 'standard', 'high']).optional(),
  /** adm §2 */
  deadline_support: z.unknown().optional(),
  /** adm §2 */
  supported_profiles: z.array(z.string()).optional(),
  /** adm §2 */
  observed_at: z.union([z.string(), z.number()]).optional(),
  /** adm §2: at most 300 s after observed_at. */
  valid_until: z.union([z.string(), z.number()]).optional(),
  /** adm §2: 100–300000 when unavailable. */
  retry_after_ms: z.number().int().min(100).max(300_000).optional(),
})
export type CapabilityAdmission = z.infer<typeof CapabilityAdmissionSchema>

/** One advertised capability (wire.md §1.2, §7; ncf §2–§3). Unknown fields are ignorable (ncf §7). */
export const CapabilitySchema = z.looseObject({
  /** ncf §2: intent URN (MUST). */
  intent: IntentUrnSchema,
  /** ncf §3: served models; ≥ 1 in the legacy projection (core §2.1). */
  models: z.array(z.string().min(1)).optional(),
  /** ncf §3: max tokens, > 0 (core §2.1). */
  max_tokens: z.number().int().positive().optional(),
  /** ncf §2: default `["text"]`. */
  input_modalities: z.array(ModalitySchema).optional(),
  /** ncf §2 */
  output_modalities: z.array(z.string()).optional(),
  /** ncf §2: default "1". */
  version: z.string().optional(),
  /** ncf §2: default 1. */
  phase: z.number().int().optional(),
  /** ncf §7: `(intent, variant_id)` is unique. */
  variant_id: z.string().optional(),
  /** ncf §2: e.g. `structured_output`, `tool_calling`. */
  features: z.array(z.string()).optional(),
  /** ncf §2 */
  execution_capabilities: z.array(z.string()).optional(),
  /** ncf §2 */
  supported_profiles: z.array(z.string()).optional(),
  /** ncf §3 */
  context_length: z.number().int().positive().optional(),
  /** ncf §3: default false. */
  supports_streaming: z.boolean().optional(),
  /** ncf §3: advisory; unknown values MUST NOT be rejected (dir §3.1). */
  quantization: z.string().optional(),
  /** ncf §3: advisory; unknown values MUST NOT be rejected (dir §3.1). */
  inference_engine: z.string().optional(),
  /** ncf §3: `cuda|metal|cpu|rocm`, advisory. */
  hardware: z.string().optional(),
  /** ncf §3 */
  avg_tokens_per_second: z.number().min(0).optional(),
  /** adm §2 */
  admission: CapabilityAdmissionSchema.optional(),
})
export type Capability = z.infer<typeof CapabilitySchema>

/** Node limits (wire.md §1.2): dir §3.1 makes `tokens_per_min` optional, core requires it. */
export const LimitsSchema = z.looseObject({
  /** core §2.1: 1–256. */
  max_concurrent: z.number().int().min(1).max(256),
  /** core §2.1: > 0. */
  tokens_per_min: z.number().int().positive().optional(),
})
export type Limits = z.infer<typeof LimitsSchema>

/** QoS levels (sem §2.1); task.json omits `realtime`, core and cbor include it. */
export const QosSchema = z.enum(['realtime', 'interactive', 'batch', 'best-effort'])
export type Qos = z.infer<typeof QosSchema>

/** Reachability method (wire.md §1.2 `transport_method`). */
export const TransportMethodSchema = z.enum(['direct', 'upnp_mapped', 'stun_hole_punch', 'turn_relay', 'external_tunnel', 'webrtc_datachannel'])
export type TransportMethod = z.infer<typeof TransportMethodSchema>

/** Detected NAT topology, observability only (wire.md §1.2 `nat_type`). */
export const NatTypeSchema = z.enum(['full_cone', 'restricted_cone', 'port_restricted', 'symmetric', 'unknown'])
export type NatType = z.infer<typeof NatTypeSchema>

/** ICE-style transport candidate (wire.md §1.2; RFC 8445 §5.1.2.1 priority). */
export const TransportCandidateSchema = z.looseObject({
  /** wire.md §1.2: `host | srflx | relay`. */
  type: z.enum(['host', 'srflx', 'relay']),
  /** wire.md §1.2 */
  address: z.string().min(1),
  /** wire.md §1.2 */
  port: z.number().int().min(1).max(65535),
  /** wire.md §1.2: RFC 8445 priority. */
  priority: z.number().int().min(0),
  /** wire.md §1.2: base address for srflx/relay. */
  base: z.string().optional(),
})
export type TransportCandidate = z.infer<typeof TransportCandidateSchema>

const HHMM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/
/** Declared UTC availability window (p1 §2.2; sem §4). */
export const AvailabilityWindowSchema = z.looseObject({
  /** p1 §2.2: `HH:MM` UTC. */
  start: z.string().regex(HHMM),
  /** p1 §2.2: `HH:MM` UTC. */
  end: z.string().regex(HHMM),
  /** p1 §2.2: share of capacity 0..1. */
  share: z.number().min(0).max(1).optional(),
})
export type AvailabilityWindow = z.infer<typeof AvailabilityWindowSchema>

/** REGISTER `policy_manifest`, read loosely (wire.md §1.2; nodelist.json `NodePolicyManifest`). */
export const PolicyManifestSchema = z.looseObject({
  /** dir §3.1 */
  version: z.string().nullish(),
  /** dir §3.1 */
  jurisdiction: z.string().nullish(),
  /** dir §3.1 */
  policy_url: z.string().nullish(),
  /** dir §3.1 */
  contact_url: z.string().nullish(),
  /** dir §3.1: default true. */
  remote_executor_can_read_prompt: z.boolean().optional(),
  /** dir §3.1 */
  training_use: z.enum(['none', 'opt_in', 'provider_defined']).nullish(),
  /** dir §3.1 */
  retention: z.looseObject({
    task_payload: z.enum(['none', 'transient', 'provider_defined']).nullish(),
    logs_days: z.number().int().min(0).nullish(),
  }).nullish(),
  /** dir §3.1 */
  subprocessors: z.array(z.string()).nullish(),
  /** dir §3.1 */
  unsupported_intents: z.array(z.string()).nullish(),
  /** dir §3.1 */
  signed_statement: z.string().nullish(),
  /** dir §3.1: `{algorithm:"Ed25519", key_id, public_key, signature, signed_at, expires_at}`. */
  signature: z.looseObject({}).nullish(),
  /** nodelist.json: directory-computed verification block (discover echo only). */
  verification: z.looseObject({}).nullish(),
  /** nodelist.json: evidence level (discover echo only). */
  evidence: z.string().nullish(),
})
export type PolicyManifest = z.infer<typeof PolicyManifestSchema>

/** Operator delegation (wire.md §1.2): invalid → still registered, operator-unverified. */
export const OperatorDelegationSchema = z.looseObject({
  /** dir §3.1 */
  node_id: z.string().min(1),
  /** dir §3.1: base64 32-byte Ed25519 key. */
  operator_pub: z.string().min(1),
  /** dir §3.1: unix seconds. */
  not_after: z.number().int(),
  /** dir §3.1: signature over key-sorted compact JSON. */
  sig: z.string().min(1),
})
export type OperatorDelegation = z.infer<typeof OperatorDelegationSchema>

/** Provider CIP policy block (ncf §9). */
export const ProviderPolicySchema = z.looseObject({
  /** ncf §9: default false. */
  allow_remote_inference: z.boolean().optional(),
  /** ncf §9: default false. */
  allow_tool_execution: z.boolean().optional(),
  /** ncf §9: default false. */
  allow_file_access: z.boolean().optional(),
  /** ncf §9: default false. */
  allow_shell_execution: z.boolean().optional(),
  /** ncf §9: default false. */
  allow_browser_automation: z.boolean().optional(),
  /** ncf §9: default false. */
  allow_private_memory_access: z.boolean().optional(),
  /** ncf §9: default 0.0. */
  minimum_caller_reputation: z.number().min(0).max(1).optional(),
  /** ncf §9: default false. */
  require_credits: z.boolean().optional(),
  /** ncf §9: default 0.0. */
  minimum_reputation: z.number().min(0).max(1).optional(),
  /** ncf §9: default 2. */
  max_concurrent_remote: z.number().int().min(0).optional(),
})
export type ProviderPolicy = z.infer<typeof ProviderPolicySchema>

/** SDK updater evidence carried on REGISTER and HEARTBEAT (wire.md §1.2, §1.3). */
export const UpdaterEvidenceShape = {
  /** dir §3.1 */
  auto_update_enabled: z.boolean().nullish(),
  /** dir §3.14: ≥ 300 s; 3600 default. */
  auto_update_interval_s: z.number().int().min(0).nullish(),
  /** dir §3.1 */
  sdk_latest_seen: z.string().nullish(),
  /** dir §3.1 */
  sdk_update_last_checked_at: z.string().nullish(),
  /** dir §3.1 */
  sdk_update_error_class: z.string().nullish(),
}

/** Backend stability summary (reference-implementations §3.2, §3.4). */
export const BackendStabilitySchema = z.looseObject({
  /** reference-implementations §3.2 */
  backend_state: z.string(),
  /** reference-implementations §3.2 */
  reason_class: z.string().nullish(),
  /** reference-implementations §3.2 */
  retry_after_s: z.number().nullish(),
  /** reference-implementations §3.2 */
  drain_until: z.union([z.string(), z.number()]).nullish(),
})
export type BackendStability = z.infer<typeof BackendStabilitySchema>

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto: unknown = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * A string-keyed object checked in place and returned as received. `z.record` copies its input and
 * silently drops a `__proto__` key (which `JSON.parse` and the CBOR decoder keep as an own key), so a
 * payload or metadata map would lose data on the way through. Values are checked with `values`, which
 * must not transform them.
 */
export function recordOf<V>(values: z.ZodType<V>): z.ZodType<Record<string, V>> {
  return z.custom<Record<string, V>>(isPlainObject, 'expected an object').superRefine((record, ctx) => {
    for (const key of Object.keys(record)) {
      const checked = values.safeParse(record[key])
      if (checked.success) continue
      for (const issue of checked.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: [key, ...issue.path] })
    }
  })
}

/** An object of any fields, returned as received (see {@link recordOf}). */
export const AnyRecordSchema: z.ZodType<Record<string, unknown>> = z.custom<Record<string, unknown>>(isPlainObject, 'expected an object')
