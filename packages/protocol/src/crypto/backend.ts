/**
 * The one seam between @iicp/protocol and a cryptography provider. Everything in hmac.ts, tickets.ts and
 * cx.ts goes through `cryptoBackend()`, so a node:crypto (or native) implementation can replace Web Crypto
 * with `setCryptoBackend()` without touching the wire code. Bytes in, bytes out: no key objects leak.
 */
import { webCryptoBackend } from './web-crypto.js'

/** Primitive operations the IICP wire needs (HMAC heartbeat, Ed25519 tickets, IICP-CX). */
export interface CryptoBackend {
  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array
  sha256(data: Uint8Array): Promise<Uint8Array>
  hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array>
  /** New Ed25519 key: raw 32-byte public key and PKCS#8 DER private key. */
  ed25519GenerateKeyPair(): Promise<{ publicKey: Uint8Array; privateKeyPkcs8: Uint8Array }>
  /** Raw public key of a PKCS#8 Ed25519 private key. Rejects on a malformed key. */
  ed25519PublicKey(privateKeyPkcs8: Uint8Array): Promise<Uint8Array>
  ed25519Sign(privateKeyPkcs8: Uint8Array, data: Uint8Array): Promise<Uint8Array>
  /** false (never a rejection) for a bad signature or an unusable public key. */
  ed25519Verify(publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array): Promise<boolean>
  /** New X25519 key as raw 32-byte public and private keys. */
  x25519GenerateKeyPair(): Promise<{ publicKey: Uint8Array; privateKey: Uint8Array }>
  x25519PublicKey(privateKey: Uint8Array): Promise<Uint8Array>
  /**
   * Fresh ephemeral X25519 key agreed with `peerPublicKey`: returns the ephemeral public key and the shared
   * secret; the ephemeral private key never leaves the backend. Rejects on a malformed peer key.
   */
  x25519Ephemeral(peerPublicKey: Uint8Array): Promise<{ publicKey: Uint8Array; sharedSecret: Uint8Array }>
  /** Raw X25519 shared secret (32 bytes) of a long-lived private key and a peer key. Rejects on malformed keys. */
  x25519SharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Promise<Uint8Array>
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array>
  /** AES-256-GCM with a 16-byte tag appended to the ciphertext. */
  aes256GcmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array>
  /** Inverse of aes256GcmEncrypt; rejects when the tag does not verify. */
  aes256GcmDecrypt(key: Uint8Array, nonce: Uint8Array, ciphertextAndTag: Uint8Array, aad: Uint8Array): Promise<Uint8Array>
}

let active: CryptoBackend = webCryptoBackend()

/** The backend every protocol crypto call uses (Web Crypto unless replaced). */
export function cryptoBackend(): CryptoBackend {
  return active
}

/** Replace the backend process-wide; returns the previous one so callers can restore it. */
export function setCryptoBackend(backend: CryptoBackend): CryptoBackend {
  const previous = active
  active = backend
  return previous
}
