/**
 * What a node declared about CIP and pricing at REGISTER (ncf §9 `policy`; ADR-019 `pricing`, dir §3.4), read
 * the same way by discover filters (dir §3.3 `cip_capable`, `max_multiplier`), scoring (sem §3.1 price term)
 * and the wire views.
 */
import type { NodeRecord } from './store/types.js'

/** Pricing models a REGISTER `pricing.pricing_model` may name (the reference directory's list). */
export const PRICING_MODELS: ReadonlySet<string> = new Set(['per_token', 'per_request', 'flat'])
/** Largest `pricing.credit_cost_multiplier` accepted at REGISTER (the reference directory's bound). */
export const MAX_CREDIT_MULTIPLIER = 1000

function field(rec: NodeRecord, block: 'policy' | 'pricing', key: string): unknown {
  const b = rec.meta[block]
  return typeof b === 'object' && b !== null ? (b as Record<string, unknown>)[key] : undefined
}

/** `pricing.credit_cost_multiplier`, 1.0 when undeclared (dir §3.4). */
export function creditCostMultiplier(rec: NodeRecord): number {
  const m = field(rec, 'pricing', 'credit_cost_multiplier')
  return typeof m === 'number' && Number.isFinite(m) && m >= 0 ? m : 1
}

/** `pricing.pricing_model`, `per_token` when undeclared (dir §3.4). */
export function pricingModel(rec: NodeRecord): string {
  const m = field(rec, 'pricing', 'pricing_model')
  return typeof m === 'string' ? m : 'per_token'
}

/** Whether the node accepts CIP remote inference (`policy.allow_remote_inference`, default false; ncf §9). */
export function allowsRemoteInference(rec: NodeRecord): boolean {
  return field(rec, 'policy', 'allow_remote_inference') === true
}

/**
 * sem §3.1 `price_score`, the normalised inverse of the node's multiplier: 1.0 for the cheapest node among
 * the candidates (`cheapest` = their lowest multiplier), `cheapest / multiplier` for the others.
 */
export function priceScore(multiplier: number, cheapest: number): number {
  if (multiplier <= cheapest) return 1
  return cheapest / multiplier
}

/**
 * Keys a directory adds when it echoes a policy manifest (dir §3.4 `node_policy_manifest`; nodelist.json). A node
 * may not register them: they are the directory's verdict, and the ticket hash covers only what the node signed.
 */
export const MANIFEST_ECHO_KEYS: ReadonlySet<string> = new Set([
  'verification', 'evidence', 'manifest_identity_level', 'operator_fingerprint', 'policy_key_fingerprint',
  'revoked_at', 'rotation_epoch', 'revocation_reason_class', 'operator_governance',
])

/** The verification block stored at REGISTER (see routes/register.ts), or undefined when no manifest. */
function storedVerification(rec: NodeRecord): Record<string, unknown> | undefined {
  const v = rec.meta.policy_manifest_verification
  return typeof v === 'object' && v !== null && typeof rec.meta.policy_manifest === 'object' && rec.meta.policy_manifest !== null
    ? (v as Record<string, unknown>)
    : undefined
}

/** The registered manifest's canonical SHA-256, bound into dispatch tickets as `policy_manifest_sha256` (wire.md §1.6). */
export function policyManifestSha256(rec: NodeRecord): string | undefined {
  const h = storedVerification(rec)?.canonical_sha256
  return typeof h === 'string' ? h : undefined
}

/**
 * dir §3.4 `node_policy_manifest`: the registered manifest as signed, plus `verification`, `evidence` and
 * `manifest_identity_level`; null when the node registered none (as the PHP directory sends). A signature that was
 * valid at REGISTER and has since passed its `expires_at` is reported `signed_expired` from `now` on (views are
 * rebuilt on every heartbeat, so within one heartbeat interval).
 */
export function nodePolicyManifest(rec: NodeRecord, now: number): Record<string, unknown> | null {
  const stored = storedVerification(rec)
  if (!stored) return null
  let verification = stored
  if (stored.status === 'signed_valid' && typeof stored.expires_at === 'string' && Date.parse(stored.expires_at) <= now) {
    verification = { ...stored, status: 'signed_expired', error: 'expired' }
  }
  const status = verification.status
  const evidence = status === 'signed_valid' ? 'signed_verified' : status === 'signed_expired' ? 'signed_expired' : 'self_attested'
  return {
    ...(rec.meta.policy_manifest as Record<string, unknown>),
    verification,
    evidence,
    manifest_identity_level: status === 'signed_valid' ? 'signed_valid' : 'self_attested',
  }
}
