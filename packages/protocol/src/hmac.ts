/** Heartbeat challenge HMAC and small hashing helpers, over Web Crypto. CONTRACT STUB: protocol-crypto helper. */
/** hex HMAC-SHA256(key = hmacKey as UTF-8, msg = challenge) (reference-implementations §3.2). */
export async function heartbeatChallengeResponse(hmacKey: string, challenge: string): Promise<string> {
  void hmacKey
  void challenge
  throw new Error('not implemented')
}
/** Constant-time check of a challenge response. */
export async function verifyChallengeResponse(hmacKey: string, challenge: string, response: string): Promise<boolean> {
  void hmacKey
  void challenge
  void response
  throw new Error('not implemented')
}
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  void data
  throw new Error('not implemented')
}
export function randomHex(bytes: number): string {
  void bytes
  throw new Error('not implemented')
}
/** Constant-time equality of two hex/ASCII strings (false on length mismatch). */
export function timingSafeEqualHex(a: string, b: string): boolean {
  void a
  void b
  throw new Error('not implemented')
}
