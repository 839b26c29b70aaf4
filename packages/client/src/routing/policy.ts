/**
 * Routing policy profiles (dir §3.4.1; wire.md §1.5): prompt-safety rules applied after prompt-free discovery
 * and before any payload leaves. They read only directory metadata (region, CX key, `node_policy_manifest`); a
 * refusal names a low-entropy reason, never the prompt. When every candidate is refused the client fails with
 * `IICP-POLICY-ROUTING` and sends nothing.
 */
import { IicpError } from '@iicp/protocol'
import type { NodeSummary } from '@iicp/protocol'

/** The profile names of dir §3.4.1. */
export type RoutingPolicyName =
  | 'standard' | 'sensitive' | 'eu_restricted' | 'strict_policy' | 'operator_bound_policy' | 'allowed_regions_strict' | 'debug_override'

/** Every profile name accepted in config and `IICP_ROUTING_POLICY`. */
export const ROUTING_POLICY_NAMES: readonly RoutingPolicyName[] = Object.freeze([
  'standard', 'sensitive', 'eu_restricted', 'strict_policy', 'operator_bound_policy', 'allowed_regions_strict', 'debug_override',
])

/** A profile with its parameters. */
export interface RoutingPolicy {
  readonly profile: RoutingPolicyName
  /** `allowed_regions_strict` (required) and `eu_restricted` (defaults to the `eu-*` regions): the region allowlist. */
  readonly allowedRegions?: readonly string[]
  /** `allowed_regions_strict`: also require a signed-valid manifest whose jurisdiction is in `jurisdictionAllowlist`. */
  readonly requireSignedPolicyManifest?: boolean
  /** Jurisdictions accepted with `requireSignedPolicyManifest`. */
  readonly jurisdictionAllowlist?: readonly string[]
  /** `sensitive`: let key-ready nodes whose signed manifest says the executor cannot read the prompt through. @default false */
  readonly allowRemoteExecutor?: boolean
}

/** Why a node was refused by the routing policy (log-safe). */
export type PolicyRefusal =
  | 'not_key_ready' | 'remote_executor' | 'region_not_allowed' | 'manifest_unsigned' | 'manifest_retains_payload'
  | 'jurisdiction_not_allowed' | 'not_operator_bound'

/** Outcome of applying a policy. */
export interface PolicyVerdict {
  readonly allowed: readonly NodeSummary[]
  readonly refused: readonly { readonly nodeId: string; readonly reason: PolicyRefusal }[]
  /** The profile lets keyless nodes through (`debug_override`). */
  readonly allowPlaintext: boolean
}

/** Accept a profile name or object; throws `invalid_config` naming `routingPolicy`. */
export function parseRoutingPolicy(value: unknown): RoutingPolicy {
  const bad = (why: string): IicpError => new IicpError('invalid_config', `routingPolicy ${why}`, { fields: { routingPolicy: [why] } })
  const p = typeof value === 'string' ? { profile: value } : value
  if (typeof p !== 'object' || p === null) throw bad(`must be one of ${ROUTING_POLICY_NAMES.join(', ')} or an object with a profile`)
  const o = p as Record<string, unknown>
  if (typeof o.profile !== 'string' || !(ROUTING_POLICY_NAMES as readonly string[]).includes(o.profile)) {
    throw bad(`profile must be one of ${ROUTING_POLICY_NAMES.join(', ')}`)
  }
  const list = (k: string): readonly string[] | undefined => {
    const v = o[k]
    if (v === undefined) return undefined
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x.length > 0)) throw bad(`${k} must be a non-empty list of strings`)
    return Object.freeze([...(v as string[])])
  }
  const flag = (k: string): boolean | undefined => {
    const v = o[k]
    if (v !== undefined && typeof v !== 'boolean') throw bad(`${k} must be a boolean`)
    return v as boolean | undefined
  }
  const allowedRegions = list('allowedRegions')
  const jurisdictionAllowlist = list('jurisdictionAllowlist')
  const requireSignedPolicyManifest = flag('requireSignedPolicyManifest')
  const allowRemoteExecutor = flag('allowRemoteExecutor')
  if (o.profile === 'allowed_regions_strict' && !allowedRegions) throw bad('allowed_regions_strict needs allowedRegions')
  if (requireSignedPolicyManifest && !jurisdictionAllowlist) throw bad('requireSignedPolicyManifest needs jurisdictionAllowlist')
  return Object.freeze({
    profile: o.profile as RoutingPolicyName,
    ...(allowedRegions ? { allowedRegions } : {}),
    ...(jurisdictionAllowlist ? { jurisdictionAllowlist } : {}),
    ...(requireSignedPolicyManifest === undefined ? {} : { requireSignedPolicyManifest }),
    ...(allowRemoteExecutor === undefined ? {} : { allowRemoteExecutor }),
  })
}

function manifestOf(node: NodeSummary): Record<string, unknown> | undefined {
  const m = node.node_policy_manifest
  return m ? (m as Record<string, unknown>) : undefined
}

/** The directory verified the manifest's signature (nodelist.json `verification.status`, `evidence`, identity level). */
function signedValid(m: Record<string, unknown> | undefined): boolean {
  if (!m) return false
  const v = m.verification
  const status = typeof v === 'object' && v !== null ? (v as Record<string, unknown>).status : undefined
  if (status !== undefined) return status === 'signed_valid'
  return m.evidence === 'signed_verified' || m.manifest_identity_level === 'signed_valid' || m.manifest_identity_level === 'operator_bound'
}

function retainsPayload(m: Record<string, unknown> | undefined): boolean {
  const r = m?.retention
  // Only an explicit `none` counts as "no task-payload retention"; missing or other values are treated conservatively.
  return !(typeof r === 'object' && r !== null && (r as Record<string, unknown>).task_payload === 'none')
}

const keyReady = (n: NodeSummary): boolean => n.cx_public_key != null

function inRegions(region: string | null | undefined, allowed: readonly string[] | undefined): boolean {
  if (typeof region !== 'string') return false
  // Without a caller allowlist, eu_restricted accepts the `eu-*` region tags the mesh uses.
  if (!allowed) return region === 'eu' || region.startsWith('eu-')
  return allowed.includes(region)
}

/** Why `node` fails `policy`, or undefined when it may receive the task. */
export function policyRefusal(node: NodeSummary, policy: RoutingPolicy): PolicyRefusal | undefined {
  const m = manifestOf(node)
  switch (policy.profile) {
    case 'debug_override':
      return undefined
    case 'standard':
      // Key readiness is enforced by selection (cx_required) so the plaintext opt-in keeps working.
      return undefined
    case 'sensitive':
      if (!policy.allowRemoteExecutor) return 'remote_executor'
      if (!keyReady(node)) return 'not_key_ready'
      if (!signedValid(m)) return 'manifest_unsigned'
      return m?.remote_executor_can_read_prompt === false ? undefined : 'remote_executor'
    case 'eu_restricted':
    case 'allowed_regions_strict':
      if (!keyReady(node)) return 'not_key_ready'
      if (!inRegions(node.region, policy.allowedRegions)) return 'region_not_allowed'
      if (policy.requireSignedPolicyManifest) {
        if (!signedValid(m)) return 'manifest_unsigned'
        const j = m?.jurisdiction
        if (typeof j !== 'string' || !(policy.jurisdictionAllowlist ?? []).includes(j)) return 'jurisdiction_not_allowed'
      }
      return undefined
    case 'strict_policy':
      if (!keyReady(node)) return 'not_key_ready'
      if (!signedValid(m)) return 'manifest_unsigned'
      return retainsPayload(m) ? 'manifest_retains_payload' : undefined
    case 'operator_bound_policy':
      if (!keyReady(node)) return 'not_key_ready'
      return m?.manifest_identity_level === 'operator_bound' ? undefined : 'not_operator_bound'
  }
}

/** Apply a profile to discovered nodes, keeping directory order. */
export function applyRoutingPolicy(nodes: readonly NodeSummary[], policy: RoutingPolicy): PolicyVerdict {
  if (policy.profile === 'standard' || policy.profile === 'debug_override') {
    return { allowed: nodes, refused: [], allowPlaintext: policy.profile === 'debug_override' }
  }
  const allowed: NodeSummary[] = []
  const refused: { nodeId: string; reason: PolicyRefusal }[] = []
  for (const node of nodes) {
    const reason = policyRefusal(node, policy)
    if (reason === undefined) allowed.push(node)
    else refused.push({ nodeId: node.node_id ?? node.endpoint ?? '?', reason })
  }
  return { allowed, refused, allowPlaintext: false }
}

/** The error when a profile refused every candidate: names the profile and reasons, never a node or the prompt. */
export function policyRoutingError(policy: RoutingPolicy, refused: readonly { readonly reason: PolicyRefusal }[]): IicpError {
  const reasons = [...new Set(refused.map((r) => r.reason))].sort()
  return new IicpError('IICP-POLICY-ROUTING', `Routing policy ${policy.profile} refused every candidate (${reasons.join(', ')}); nothing was sent`, {
    extra: { routing_policy: policy.profile, refused_candidate_count: refused.length, reasons },
  })
}
