/**
 * IICP-CX payload encryption (reference-implementations §5.4): X25519 + HKDF-SHA256 + AES-256-GCM.
 * CONTRACT STUB: implemented by the protocol-crypto helper.
 */
import type { CxPublicKey, IicpConf, IicpConfResp } from './schemas/index.js'

export interface CxKeyPair {
  /** 32-byte raw public key, base64url. */
  readonly publicKey: string
  /** 32-byte raw private key, base64url (persist it with care). */
  readonly privateKey: string
  /** `cx-` + first 16 hex of sha256(public key). */
  readonly keyId: string
}
/** What the consumer keeps to decrypt the node's encrypted response. Never log it. */
export interface CxResponseContext {
  readonly taskId: string
  /** X25519 shared secret (raw bytes). */
  readonly sharedSecret: Uint8Array
}
export interface EncryptedRequest {
  readonly iicpConf: IicpConf
  readonly responseContext: CxResponseContext
}
export interface DecryptedRequest {
  readonly payload: unknown
  readonly responseContext: CxResponseContext
}

export async function generateCxKeyPair(): Promise<CxKeyPair> {
  throw new Error('not implemented')
}
/** The `cx_public_key` object a node advertises. */
export function cxPublicKeyDescriptor(pair: Pick<CxKeyPair, 'publicKey' | 'keyId'>, features: string[] = ['response_encryption_v1']): CxPublicKey {
  return { algorithm: 'X25519', encoding: 'base64url', key: pair.publicKey, key_id: pair.keyId, features }
}
export async function importCxPrivateKey(privateKey: string): Promise<CxKeyPair> {
  void privateKey
  throw new Error('not implemented')
}
export function exportCxPrivateKey(pair: CxKeyPair): string {
  return pair.privateKey
}
/** Encrypt a task payload to a node's advertised key. */
export async function encryptRequest(args: { payload: unknown; taskId: string; intent: string; recipient: CxPublicKey }): Promise<EncryptedRequest> {
  void args
  throw new Error('not implemented')
}
/** Node side: decrypt `iicp_conf` with the node's key pair. Throws IicpError `IICP-CX-02` on failure. */
export async function decryptRequest(args: { iicpConf: IicpConf; taskId: string; intent: string; keyPair: CxKeyPair }): Promise<DecryptedRequest> {
  void args
  throw new Error('not implemented')
}
/** Node side: encrypt the full response envelope. */
export async function encryptResponse(response: unknown, ctx: CxResponseContext): Promise<IicpConfResp> {
  void response
  void ctx
  throw new Error('not implemented')
}
/** Consumer side: decrypt `iicp_conf_resp` into the response envelope (unparsed JSON value). */
export async function decryptResponse(resp: IicpConfResp, ctx: CxResponseContext): Promise<unknown> {
  void resp
  void ctx
  throw new Error('not implemented')
}
