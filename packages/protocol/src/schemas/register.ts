/** REGISTER / ACK / DEREGISTER and `GET /v1/me` (wire.md §1.2, §1.4, §1.7; reference-implementations §3.1, §3.3). */
import { z } from 'zod'
import type { IicpError } from '../errors.js'
import { safeParseWire } from '../parse.js'
import {
  AvailabilityWindowSchema, CapabilitySchema, CxPublicKeySchema, IMPLEMENTATION_NAME_PATTERN, LimitsSchema,
  METADATA_VERSION_PATTERN, NatTypeSchema, OperatorDelegationSchema, PolicyManifestSchema, ProviderPolicySchema,
  TransportCandidateSchema, TransportMethodSchema, UpdaterEvidenceShape,
} from './common.js'

/** PHP directory `node_id` rule: ≤ 36 chars (reference-implementations §3.1). */
const NODE_ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9._:-]*$/
/** PHP directory region rule (reference-implementations §3.1); core §2.1 caps it at 64 chars. */
const REGION_PATTERN = /^[a-zA-Z][a-zA-Z0-9\-_]*$/

/** A node id as directories accept it (wire.md §1.2: UUID v4 by default, ≤ 36 chars). */
export const NodeIdSchema = z.string().min(1).max(36).regex(NODE_ID_PATTERN, 'Invalid node_id')

/** Implementation/SDK metadata fields with their grammars (dir §3.1; directory-implementation-metadata-v1.json). */
export const ImplementationMetadataShape = {
  /** dir §3.1: e.g. `typescript`. */
  sdk_language: z.string().min(1).max(32).nullish(),
  /** dir §3.1: legacy alias of sdk_compatibility_version. */
  sdk_version: z.string().regex(METADATA_VERSION_PATTERN, 'Invalid sdk_version').nullish(),
  /** dir §3.1: preferred SDK behaviour baseline. */
  sdk_compatibility_version: z.string().regex(METADATA_VERSION_PATTERN, 'Invalid sdk_compatibility_version').nullish(),
  /** dir §3.1: self-reported software identity; no paths, hosts or accounts. */
  implementation_name: z.string().regex(IMPLEMENTATION_NAME_PATTERN, 'Invalid implementation_name').nullish(),
  /** dir §3.1: the implementation's own release version. */
  implementation_version: z.string().regex(METADATA_VERSION_PATTERN, 'Invalid implementation_version').nullish(),
}

function checkSdkVersionsAgree(
  v: { sdk_version?: string | null | undefined; sdk_compatibility_version?: string | null | undefined },
  ctx: z.core.$RefinementCtx,
): void {
  if (v.sdk_version != null && v.sdk_compatibility_version != null && v.sdk_version !== v.sdk_compatibility_version) {
    ctx.addIssue({ code: 'custom', path: ['sdk_compatibility_version'], message: 'sdk_compatibility_version conflicts with sdk_version' })
  }
}

/** The metadata block alone, with the conflicting-versions rule (dir §3.1: conflict → 422). */
export const ImplementationMetadataSchema = z.looseObject(ImplementationMetadataShape).superRefine(checkSdkVersionsAgree)
export type ImplementationMetadata = z.infer<typeof ImplementationMetadataSchema>

/** REGISTER body (wire.md §1.2; dir §3.1; core §2.1; what the Python SDK sends, reference-implementations §3.1). */
export const RegisterRequestSchema = z.looseObject({
  /** core §2.1: routable control-plane URL (health, heartbeat, HTTP task transport). */
  endpoint: z.string().min(1).max(2048),
  /** core §2.1: IANA-style region tag, ≤ 64 chars. */
  region: z.string().min(1).max(64).regex(REGION_PATTERN, 'Invalid region'),
  /** core §2.1: ≥ 1 capability. */
  capabilities: z.array(CapabilitySchema).min(1),
  /** core §2.1: concurrency and token budget. */
  limits: LimitsSchema,
  /** dir §3.1: message tag in directory examples. */
  message_type: z.literal('REGISTER').optional(),
  /** core §2.1: assigned by the directory when absent (DIR-REG-06). */
  node_id: NodeIdSchema.optional(),
  /** dir §5: prior token, ownership proof for re-registration (E049/E050). */
  current_node_token: z.string().min(1).optional(),
  /** core §2.1: base64 Ed25519 gossip key (Phase 2). */
  public_key: z.string().nullish(),
  /** p1 §2.2: UTC availability windows. */
  availability: z.array(AvailabilityWindowSchema).optional(),
  /** dir §3.1: `iicp://` or `iicpsec://` host:port; never probed. */
  transport_endpoint: z.string().nullish(),
  /** dir §3.1 */
  transport_method: TransportMethodSchema.nullish(),
  /** dir §3.1: ICE-style candidates. */
  transport_candidates: z.array(TransportCandidateSchema).nullish(),
  /** dir §3.1: only with `transport_method=turn_relay`. */
  relay_endpoint: z.string().nullish(),
  /** dir §7: node can act as a relay. */
  relay_capable: z.boolean().optional(),
  /** official-sdks §5: TCP relay accept port. */
  relay_accept_port: z.number().int().min(1).max(65535).optional(),
  /** dir §3.1: observability only; declared with transport_method it skips the PHP probe. */
  nat_type: NatTypeSchema.nullish(),
  /** ADR-043 exposure class, e.g. `ipv4_public_direct`. */
  exposure_mode: z.string().nullish(),
  /** dir §3.1: `{webrtc:{…}}` (draft). */
  transport_metadata: z.looseObject({}).nullish(),
  /** dir §3.1: self-attested backend family. */
  backend: z.string().nullish(),
  /** dir §3.1 */
  operator_delegation: OperatorDelegationSchema.nullish(),
  /** dir §3.1: read loosely; signed+invalid is the directory's call. */
  policy_manifest: PolicyManifestSchema.nullish(),
  /** cx §3.1 */
  cx_public_key: CxPublicKeySchema.nullish(),
  /** ncf §9: CIP provider policy. */
  policy: ProviderPolicySchema.nullish(),
  /** ncf §9: CIP pricing. */
  pricing: z.looseObject({}).nullish(),
  ...ImplementationMetadataShape,
  ...UpdaterEvidenceShape,
}).superRefine(checkSdkVersionsAgree)
export type RegisterRequest = z.infer<typeof RegisterRequestSchema>

/** Some directories name the token `token` (official-sdks §10.1): read it as `node_token`. */
function liftTokenAlias(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return v
  const o = v as Record<string, unknown>
  return o.node_token === undefined && typeof o.token === 'string' ? { ...o, node_token: o.token } : v
}

/** ACK, HTTP 201 (wire.md §1.2; reference-implementations §3.1); a `token` alias is read as `node_token`. */
export const RegisterAckSchema = z.preprocess(liftTokenAlias, z.looseObject({
  /** core §2.2 */
  node_id: z.string().min(1),
  /** core §2.2: opaque, returned once; never log. */
  node_token: z.string().min(1),
  /** cts CIP-TC9C: key for the heartbeat challenge HMAC. */
  node_hmac_key: z.string().nullish(),
  /** tel §3: token for `POST /v1/telemetry`. */
  proxy_token: z.string().nullish(),
  /** core §2.2: null in examples. */
  expires_at: z.union([z.string(), z.number()]).nullish(),
  /** reference-implementations §3.1: HS256 JWT alternative bearer. */
  jwt_token: z.string().nullish(),
  /** reference-implementations §3.1 */
  jwt_expires_at: z.string().nullish(),
  /** core §2.2: directory origin. */
  directory: z.string().nullish(),
  /** core §11 DIR-ADDR-02: MUST be present; read leniently. */
  observed_source_ip: z.string().nullish(),
  /** dir §3.1: `ACK`. */
  message_type: z.string().optional(),
  /** reference-implementations §3.1 */
  recovered: z.boolean().optional(),
  /** reference-implementations §3.1 */
  lifetime_jobs: z.number().optional(),
}))
export type RegisterAck = z.infer<typeof RegisterAckSchema>

/** Deregister body, `DELETE /v1/register` (wire.md §1.4; directory-lifecycle-v1 DIR-LIFECYCLE-06). */
export const DeregisterRequestSchema = z.looseObject({
  /** wire.md §1.4 */
  node_id: z.string().min(1),
})
export type DeregisterRequest = z.infer<typeof DeregisterRequestSchema>

/** Deregister answer `{"deregistered": true}` (wire.md §1.4). */
export const DeregisterResponseSchema = z.looseObject({
  /** wire.md §1.4 */
  deregistered: z.boolean(),
})
export type DeregisterResponse = z.infer<typeof DeregisterResponseSchema>

/** `GET /v1/me` answer (core §11.1 DIR-ADDR-04). */
export const MeResponseSchema = z.looseObject({
  /** core §11.1 */
  node_id: z.string().min(1),
  /** core §11.1: CF-Connecting-IP, else first X-Forwarded-For, else socket. */
  observed_source_ip: z.string().min(1),
  /** core §11.1 */
  endpoint: z.string().nullish(),
})
export type MeResponse = z.infer<typeof MeResponseSchema>

/** The effective SDK compatibility version: `sdk_compatibility_version ?? sdk_version` (dir §3.1). */
export function effectiveSdkCompatibilityVersion(meta: {
  sdk_version?: string | null | undefined
  sdk_compatibility_version?: string | null | undefined
}): string | undefined {
  return meta.sdk_compatibility_version ?? meta.sdk_version ?? undefined
}

/**
 * Check REGISTER implementation metadata (dir §3.1): grammars and the sdk_version conflict rule.
 * Returns a 422 `validation_error` IicpError naming the fields, or undefined when accepted.
 */
export function validateImplementationMetadata(input: unknown): IicpError | undefined {
  const r = safeParseWire(ImplementationMetadataSchema, input)
  return r.ok ? undefined : r.error
}
