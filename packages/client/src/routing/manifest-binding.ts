/**
 * Policy-manifest binding of dispatch tickets (dir §3.1 signed manifests, §3.4 `verification.canonical_sha256`,
 * §3.4 ticketed dispatch; wire.md §1.6 optional claim `policy_manifest_sha256`). The directory signs into a ticket
 * the SHA-256 of the canonical form (`canonicalPolicyManifest` of @iicp/protocol) of the node's registered
 * `policy_manifest`: the manifest with only
 * `signature.signature` removed (the whole `signature` key when it is not an object), object keys sorted
 * recursively, arrays in order, compact JSON with `/` and non-ASCII left unescaped. That is the same payload the
 * manifest's Ed25519 signature covers (dir §3.1), and the value the reference directory echoes as
 * `node_policy_manifest.verification.canonical_sha256`.
 *
 * A route is bound when the manifest it carries hashes to the claim. The reference directory echoes a projection,
 * not the registered manifest (defaults filled in, the signature block replaced by `verification`), which cannot be
 * hashed again; for such a projection the directory's own `canonical_sha256` must equal the claim. A manifest that
 * still carries its `signature` block is the registered form and must hash to the claim itself.
 */
import { createHash } from 'node:crypto'
import { IicpError, canonicalPolicyManifest } from '@iicp/protocol'

/** The canonical form lives in @iicp/protocol so the directory that signs the hash and this verifier share it. */
export { canonicalPolicyManifest }

/** Keys a directory adds when it echoes a manifest (dir §3.4 `node_policy_manifest`); a registered manifest has none. */
const DIRECTORY_ECHO_KEYS: ReadonlySet<string> = new Set([
  'verification', 'evidence', 'manifest_identity_level', 'operator_fingerprint', 'policy_key_fingerprint',
  'revoked_at', 'rotation_epoch', 'revocation_reason_class', 'operator_governance',
])

const SHA256_HEX = /^[0-9a-f]{64}$/

/** How a route's manifest relates to its ticket's `policy_manifest_sha256`. */
export type ManifestBinding =
  /** The ticket binds no manifest. */
  | 'unbound'
  /** The manifest the route carries hashes to the claim. */
  | 'recomputed'
  /** The route carries the directory's projection, whose `verification.canonical_sha256` equals the claim. */
  | 'directory_verified'
  /** The ticket binds a manifest the route does not carry. */
  | 'manifest_missing'
  /** The manifest, or the directory's hash of it, is not the one the ticket binds. */
  | 'hash_mismatch'

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** SHA-256 (lower-case hex) of {@link canonicalPolicyManifest}: the value of a ticket's `policy_manifest_sha256`. */
export function policyManifestSha256(manifest: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(canonicalPolicyManifest(manifest), 'utf8').digest('hex')
}

/** Judge a route's `node_policy_manifest` against its ticket's `policy_manifest_sha256` claim. */
export function policyManifestBinding(claim: string | undefined, routeManifest: unknown): ManifestBinding {
  if (claim === undefined) return 'unbound'
  if (!isObject(routeManifest)) return 'manifest_missing'
  const registered = Object.fromEntries(Object.entries(routeManifest).filter(([key]) => !DIRECTORY_ECHO_KEYS.has(key)))
  const expected = claim.toLowerCase()
  if (policyManifestSha256(registered) === expected) return 'recomputed'
  // A manifest with its signature block is the registered form: its own hash decides, whatever the echo says.
  if (isObject(registered.signature)) return 'hash_mismatch'
  const verification = routeManifest.verification
  const echoed = isObject(verification) ? verification.canonical_sha256 : undefined
  if (typeof echoed === 'string' && SHA256_HEX.test(echoed.toLowerCase()) && echoed.toLowerCase() === expected) return 'directory_verified'
  return 'hash_mismatch'
}

/**
 * Throw `IICP-POLICY-MANIFEST-BINDING-MISMATCH` unless the route's manifest is the one its ticket binds. The
 * message names the reason only, never the manifest, the ticket or the node.
 */
export function assertPolicyManifestBinding(claim: string | undefined, routeManifest: unknown): void {
  const binding = policyManifestBinding(claim, routeManifest)
  if (binding === 'manifest_missing' || binding === 'hash_mismatch') {
    throw new IicpError('IICP-POLICY-MANIFEST-BINDING-MISMATCH', `Dispatch ticket does not match the route policy manifest (${binding})`, {
      extra: { reason: binding },
    })
  }
}
