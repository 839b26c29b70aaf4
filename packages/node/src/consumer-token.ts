/**
 * Consumer-token check (dir §3.12, wire.md §1.8): `<base64url payload>.<hex Ed25519 signature>` signed
 * over `"iicp:consumer-token:v1\n" + payload`, by the directory key from `GET /v1/directory-key`.
 * Implemented here because @iicp/protocol has no consumer-token verifier.
 */
import { createPublicKey, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

/** Signing context prefixed to the base64url payload. */
export const CONSUMER_TOKEN_CONTEXT = 'iicp:consumer-token:v1\n'

/** Seconds of clock skew tolerated on `exp` (dir §3.12). */
export const CONSUMER_TOKEN_GRACE_S = 10

/** The claims a consumer token carries. */
export interface ConsumerTokenClaims {
  readonly v: 1
  readonly iss?: string
  /** Caller node id. */
  readonly sub: string
  /** Target node id. */
  readonly aud: string
  /** Intent URN or `*`. */
  readonly intent: string
  readonly iat: number
  readonly exp: number
}

/** Ok with claims, or a reason safe to log (never the token). */
export type ConsumerTokenResult = { ok: true; claims: ConsumerTokenClaims } | { ok: false; reason: string }

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** Import a 64-hex raw Ed25519 public key (the directory-key format). */
export function importDirectoryKey(publicKeyHex: string): KeyObject {
  if (!/^[0-9a-fA-F]{64}$/.test(publicKeyHex)) throw new TypeError('directory key must be 64 hex characters')
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' })
}

/** Verify a consumer token for this node and intent at `nowSeconds`. */
export function verifyConsumerToken(
  token: string,
  opts: { key: KeyObject; nodeId: string; intent: string; nowSeconds: number },
): ConsumerTokenResult {
  const dot = token.indexOf('.')
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return { ok: false, reason: 'malformed' }
  const payloadB64 = token.slice(0, dot)
  const sigHex = token.slice(dot + 1)
  if (!/^[A-Za-z0-9_-]+$/.test(payloadB64) || !/^[0-9a-fA-F]{128}$/.test(sigHex)) return { ok: false, reason: 'malformed' }
  const signed = Buffer.from(CONSUMER_TOKEN_CONTEXT + payloadB64, 'utf8')
  if (!verify(null, signed, opts.key, Buffer.from(sigHex, 'hex'))) return { ok: false, reason: 'bad_signature' }
  let claims: unknown
  try {
    claims = JSON.parse(Buffer.from(payloadB64, 'base64url').toString('utf8'))
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  if (typeof claims !== 'object' || claims === null) return { ok: false, reason: 'malformed' }
  const c = claims as Record<string, unknown>
  if (c.v !== 1 || typeof c.sub !== 'string' || typeof c.aud !== 'string' || typeof c.intent !== 'string' || typeof c.exp !== 'number' || typeof c.iat !== 'number') {
    return { ok: false, reason: 'malformed' }
  }
  if (opts.nowSeconds > c.exp + CONSUMER_TOKEN_GRACE_S) return { ok: false, reason: 'expired' }
  if (c.aud !== opts.nodeId) return { ok: false, reason: 'wrong_audience' }
  if (c.intent !== '*' && c.intent !== opts.intent) return { ok: false, reason: 'wrong_intent' }
  return { ok: true, claims: c as unknown as ConsumerTokenClaims }
}
