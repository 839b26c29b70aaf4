/**
 * CryptoBackend over Web Crypto (`globalThis.crypto`), which Node >= 20 and current browsers provide with
 * Ed25519, X25519, HKDF, AES-GCM, HMAC and SHA-256. No node: imports, so the package stays browser-safe.
 */
import { IicpError } from '../errors.js'
import type { CryptoBackend } from './backend.js'
import { concatBytes, fromBase64Url } from './encoding.js'

type Subtle = typeof globalThis.crypto.subtle
type Key = Awaited<ReturnType<Subtle['importKey']>>

// RFC 8410 PKCS#8 prefix for a bare 32-byte X25519 private key: Web Crypto cannot import raw private keys.
const X25519_PKCS8_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const KEY_CACHE_MAX = 16

function webCrypto(): typeof globalThis.crypto {
  const c = (globalThis as { crypto?: typeof globalThis.crypto }).crypto
  if (c?.subtle === undefined) throw new IicpError('crypto_error', 'Web Crypto (globalThis.crypto.subtle) is unavailable')
  return c
}

function bytes(buffer: ArrayBuffer): Uint8Array {
  return new Uint8Array(buffer)
}

function jwkBytes(value: string | undefined): Uint8Array {
  const out = value === undefined ? undefined : fromBase64Url(value)
  if (out?.length !== 32) throw new IicpError('crypto_error', 'key export returned an unexpected shape')
  return out
}

/**
 * Imported CryptoKeys keyed by their bytes, so hot paths (a directory signing a ticket per dispatch, a node
 * decrypting every task, a client verifying every ticket) import each long-lived key once. Bounded; a failed
 * import is dropped so it is retried.
 */
function keyCache(max: number): (material: Uint8Array, importer: () => Promise<Key>) => Promise<Key> {
  const cache = new Map<string, Promise<Key>>()
  return (material, importer) => {
    let id = ''
    for (const b of material) id += String.fromCharCode(b)
    let key = cache.get(id)
    if (key === undefined) {
      key = importer()
      key.catch(() => cache.delete(id))
      if (cache.size >= max) cache.delete(cache.keys().next().value as string)
      cache.set(id, key)
    }
    return key
  }
}

/** A CryptoBackend on Web Crypto. Long-lived asymmetric keys are imported once (see keyCache). */
export function webCryptoBackend(): CryptoBackend {
  const verifyKeys = keyCache(KEY_CACHE_MAX)
  const signKeys = keyCache(KEY_CACHE_MAX)
  const agreeKeys = keyCache(KEY_CACHE_MAX)

  function x25519PrivateKey(privateKey: Uint8Array): Promise<Key> {
    if (privateKey.length !== 32) return Promise.reject(new IicpError('crypto_error', 'X25519 private key must be 32 bytes'))
    return agreeKeys(privateKey, () =>
      webCrypto().subtle.importKey('pkcs8', concatBytes(X25519_PKCS8_PREFIX, privateKey), { name: 'X25519' }, true, ['deriveBits']))
  }

  async function x25519PublicKeyObject(publicKey: Uint8Array): Promise<Key> {
    if (publicKey.length !== 32) throw new IicpError('crypto_error', 'X25519 public key must be 32 bytes')
    return webCrypto().subtle.importKey('raw', publicKey, { name: 'X25519' }, false, [])
  }

  return {
    randomBytes(length) {
      const out = new Uint8Array(length)
      // getRandomValues fills at most 65536 bytes per call.
      for (let o = 0; o < length; o += 65536) webCrypto().getRandomValues(out.subarray(o, Math.min(length, o + 65536)))
      return out
    },
    async sha256(data) {
      return bytes(await webCrypto().subtle.digest('SHA-256', data))
    },
    async hmacSha256(key, data) {
      const subtle = webCrypto().subtle
      const k = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
      return bytes(await subtle.sign('HMAC', k, data))
    },
    async ed25519GenerateKeyPair() {
      const subtle = webCrypto().subtle
      const pair = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as { publicKey: Key; privateKey: Key }
      return {
        publicKey: bytes(await subtle.exportKey('raw', pair.publicKey)),
        privateKeyPkcs8: bytes(await subtle.exportKey('pkcs8', pair.privateKey)),
      }
    },
    async ed25519PublicKey(privateKeyPkcs8) {
      const subtle = webCrypto().subtle
      const k = await subtle.importKey('pkcs8', privateKeyPkcs8, { name: 'Ed25519' }, true, ['sign'])
      return jwkBytes((await subtle.exportKey('jwk', k)).x)
    },
    async ed25519Sign(privateKeyPkcs8, data) {
      const subtle = webCrypto().subtle
      const k = await signKeys(privateKeyPkcs8, () => subtle.importKey('pkcs8', privateKeyPkcs8, { name: 'Ed25519' }, false, ['sign']))
      return bytes(await subtle.sign({ name: 'Ed25519' }, k, data))
    },
    async ed25519Verify(publicKey, signature, data) {
      if (publicKey.length !== 32 || signature.length !== 64) return false
      try {
        return await webCrypto().subtle.verify({ name: 'Ed25519' }, await verifyKeys(publicKey, () => webCrypto().subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify'])), signature, data)
      } catch {
        // An unusable public key verifies nothing; the caller reports a bad signature.
        return false
      }
    },
    async x25519GenerateKeyPair() {
      const subtle = webCrypto().subtle
      const pair = (await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as { publicKey: Key; privateKey: Key }
      const jwk = await subtle.exportKey('jwk', pair.privateKey)
      return { publicKey: bytes(await subtle.exportKey('raw', pair.publicKey)), privateKey: jwkBytes(jwk.d) }
    },
    async x25519PublicKey(privateKey) {
      return jwkBytes((await webCrypto().subtle.exportKey('jwk', await x25519PrivateKey(privateKey))).x)
    },
    async x25519Ephemeral(peerPublicKey) {
      const subtle = webCrypto().subtle
      const peer = await x25519PublicKeyObject(peerPublicKey)
      const pair = (await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as { publicKey: Key; privateKey: Key }
      const sharedSecret = bytes(await subtle.deriveBits({ name: 'X25519', public: peer }, pair.privateKey, 256))
      return { publicKey: bytes(await subtle.exportKey('raw', pair.publicKey)), sharedSecret }
    },
    async x25519SharedSecret(privateKey, publicKey) {
      const peer = await x25519PublicKeyObject(publicKey)
      return bytes(await webCrypto().subtle.deriveBits({ name: 'X25519', public: peer }, await x25519PrivateKey(privateKey), 256))
    },
    async hkdfSha256(ikm, salt, info, length) {
      const subtle = webCrypto().subtle
      const k = await subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits'])
      return bytes(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, k, length * 8))
    },
    async aes256GcmEncrypt(key, nonce, plaintext, aad) {
      const subtle = webCrypto().subtle
      const k = await subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['encrypt'])
      return bytes(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, k, plaintext))
    },
    async aes256GcmDecrypt(key, nonce, ciphertextAndTag, aad) {
      const subtle = webCrypto().subtle
      const k = await subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['decrypt'])
      return bytes(await subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, k, ciphertextAndTag))
    },
  }
}
