/**
 * Node policy manifests (dir §3.1 signed manifests, §3.4 `node_policy_manifest.verification`; wire.md §1.2, §1.5,
 * §1.6). One canonical form serves three readers: the Ed25519 signature a node puts on its manifest covers it, a
 * directory hashes it into dispatch tickets as `policy_manifest_sha256`, and a client recomputes that hash from the
 * route it is handed. Keeping the serialiser here means directory and client cannot drift apart.
 *
 * Canonical form: the manifest with only `signature.signature` removed (the whole `signature` key when it is not an
 * object), object keys sorted recursively by UTF-16 code unit, arrays in order, compact JSON with `/` and non-ASCII
 * left unescaped (Python's `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).
 */
import { cryptoBackend } from './crypto/backend.js'
import { fromBase64, toHex, utf8 } from './crypto/encoding.js'

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Compact JSON with object keys sorted at every depth. Written out by hand rather than by JSON.stringify of a
 * re-keyed object: JS objects put integer-like keys ("2", "10") first in numeric order whatever the insertion order,
 * and a `__proto__` key would become a prototype instead of a member.
 */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : sortedJson(v))).join(',')}]`
  if (isObject(value)) {
    // Code-unit order: Python's sort_keys order for every key outside the astral planes.
    const members = Object.keys(value).sort().filter((k) => value[k] !== undefined)
    return `{${members.map((k) => `${JSON.stringify(k)}:${sortedJson(value[k])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/**
 * The canonical form of a registered policy manifest (dir §3.1): what its signature covers and what
 * `policy_manifest_sha256` hashes. A number with a zero fraction (`7.0`) cannot be told from `7` once parsed,
 * so it is written as `7`, where PHP and Python keep `7.0`; manifests carry integers only.
 */
export function canonicalPolicyManifest(manifest: Readonly<Record<string, unknown>>): string {
  const copy: Record<string, unknown> = { ...manifest }
  const signature = copy.signature
  if (isObject(signature)) {
    const rest: Record<string, unknown> = { ...signature }
    delete rest.signature
    copy.signature = rest
  } else {
    delete copy.signature
  }
  return sortedJson(copy)
}

/** Verification statuses of nodelist.json `NodePolicyManifest.verification.status` this module decides. */
export type PolicyManifestStatus = 'self_attested' | 'signed_valid' | 'signed_invalid' | 'signed_expired'

/** nodelist.json `NodePolicyManifest.verification`: what a directory found when it checked a manifest. */
export interface PolicyManifestVerification {
  status: PolicyManifestStatus
  algorithm: string | null
  key_id: string | null
  signed_at: string | null
  expires_at: string | null
  /** SHA-256 (hex) of {@link canonicalPolicyManifest}: a ticket's `policy_manifest_sha256`. */
  canonical_sha256: string
  /** SHA-256 (hex) of the raw 32-byte signing key; null when unsigned or the key is unreadable. */
  public_key_sha256: string | null
  /** Why a signed manifest failed; null otherwise. Names the defect, never echoes key or signature bytes. */
  error: string | null
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null
}

/**
 * Check a manifest's Ed25519 signature (dir §3.1): `signature.public_key` and `signature.signature` are base64 (32
 * and 64 bytes) and the signature covers {@link canonicalPolicyManifest}; an `expires_at` (RFC 3339) at or before
 * `nowMs` makes it `signed_expired`. A manifest without a `signature` object is `self_attested`.
 */
export async function verifyPolicyManifest(manifest: Readonly<Record<string, unknown>>, nowMs: number): Promise<PolicyManifestVerification> {
  const canonical = canonicalPolicyManifest(manifest)
  const backend = cryptoBackend()
  const canonical_sha256 = toHex(await backend.sha256(utf8(canonical)))
  const sig = manifest.signature
  if (!isObject(sig)) {
    return { status: 'self_attested', algorithm: null, key_id: null, signed_at: null, expires_at: null, canonical_sha256, public_key_sha256: null, error: null }
  }
  const base = {
    algorithm: str(sig.algorithm), key_id: str(sig.key_id), signed_at: str(sig.signed_at), expires_at: str(sig.expires_at), canonical_sha256,
  }
  const invalid = (error: string, public_key_sha256: string | null = null): PolicyManifestVerification => ({ status: 'signed_invalid', ...base, public_key_sha256, error })
  if (typeof sig.algorithm !== 'string' || sig.algorithm.toLowerCase() !== 'ed25519') return invalid('unsupported_algorithm')
  const key = typeof sig.public_key === 'string' ? fromBase64(sig.public_key) : undefined
  if (!key || key.length !== 32) return invalid('malformed_public_key')
  const public_key_sha256 = toHex(await backend.sha256(key))
  const signature = typeof sig.signature === 'string' ? fromBase64(sig.signature) : undefined
  if (!signature || signature.length !== 64) return invalid('malformed_signature', public_key_sha256)
  const expires = sig.expires_at === undefined || sig.expires_at === null ? undefined
    : typeof sig.expires_at === 'string' ? Date.parse(sig.expires_at) : Number.NaN
  if (expires !== undefined && !Number.isFinite(expires)) return invalid('malformed_expires_at', public_key_sha256)
  let valid = false
  try {
    valid = await backend.ed25519Verify(key, signature, utf8(canonical))
  } catch {
    valid = false
  }
  if (!valid) return invalid('signature_mismatch', public_key_sha256)
  if (expires !== undefined && expires <= nowMs) return { status: 'signed_expired', ...base, public_key_sha256, error: 'expired' }
  return { status: 'signed_valid', ...base, public_key_sha256, error: null }
}
