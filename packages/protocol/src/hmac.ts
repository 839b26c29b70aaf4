/**
 * Heartbeat challenge HMAC and small hashing helpers (wire.md §1.3, reference-implementations §3.2),
 * over the crypto seam in ./crypto so they run in browsers too.
 */
import { IicpError } from './errors.js'
import { cryptoBackend } from './crypto/backend.js'
import { toHex, utf8 } from './crypto/encoding.js'

const MAX_RANDOM_BYTES = 1 << 20

/**
 * The heartbeat `challenge_response`: lowercase hex HMAC-SHA256 with key = `node_hmac_key` as UTF-8 and
 * message = the previous PONG's `challenge` as UTF-8 (wire.md §1.3; reference-implementations §3.2).
 */
export async function heartbeatChallengeResponse(hmacKey: string, challenge: string): Promise<string> {
  return toHex(await cryptoBackend().hmacSha256(utf8(hmacKey), utf8(challenge)))
}

/**
 * Directory side of wire.md §1.3: true when `response` is the HMAC of `challenge` under `hmacKey`.
 * Hex case is ignored; the comparison runs in constant time.
 */
export async function verifyChallengeResponse(hmacKey: string, challenge: string, response: string): Promise<boolean> {
  if (typeof response !== 'string') return false
  const expected = await heartbeatChallengeResponse(hmacKey, challenge)
  return timingSafeEqualHex(expected, response.toLowerCase())
}

/** Lowercase hex SHA-256 of bytes or of a string's UTF-8 (CX key ids, policy manifest digests: cx §3.1). */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  return toHex(await cryptoBackend().sha256(typeof data === 'string' ? utf8(data) : data))
}

/** `bytes` random bytes from a CSPRNG as lowercase hex (nonces, jti, metrics_batch_id). */
export function randomHex(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_RANDOM_BYTES) {
    throw new IicpError('invalid_config', `randomHex needs an integer byte count from 1 to ${MAX_RANDOM_BYTES}`)
  }
  return toHex(cryptoBackend().randomBytes(bytes))
}

/**
 * Constant-time equality of two hex/ASCII strings (false on length mismatch). The time depends only on
 * the length, never on where the strings differ, so it is safe for MACs and tokens.
 */
export function timingSafeEqualHex(a: string, b: string): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}
