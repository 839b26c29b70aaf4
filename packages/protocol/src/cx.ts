/**
 * IICP-CX payload encryption (wire.md §2.7; reference-implementations §5.4), interoperable with the Python SDK:
 * request = ephemeral X25519 → HKDF-SHA256(salt = nonce, info = "IICP-CX-v1" + task_id + intent) → AES-256-GCM
 * with AAD `task_id|intent`; response = HKDF(info = "IICP-CX-RESP-v1" + task_id) with AAD `task_id|resp`.
 * Keys, shared secrets and plaintexts never appear in error messages.
 */
import { IicpError } from './errors.js'
import { cryptoBackend } from './crypto/backend.js'
import { constantTimeEqual, fromBase64Url, fromUtf8, toBase64Url, toHex, utf8 } from './crypto/encoding.js'
import type { CxPublicKey, IicpConf, IicpConfResp, TaskRequestWrite } from './schemas/index.js'

/** A node's X25519 CX key (cx §3.1). */
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
/** encryptRequest's result: the `iicp_conf` block and the context for the reply (cx §4). */
export interface EncryptedRequest {
  /** Exactly the fields the strict write schema allows, so it goes into a task body as is. */
  readonly iicpConf: NonNullable<TaskRequestWrite['iicp_conf']>
  readonly responseContext: CxResponseContext
}
/** decryptRequest's result: the task payload and the context for encrypting the reply (cx §4). */
export interface DecryptedRequest {
  readonly payload: unknown
  readonly responseContext: CxResponseContext
}

const KEY_BYTES = 32
const NONCE_BYTES = 12
const TAG_BYTES = 16
const REQUEST_INFO = 'IICP-CX-v1'
const RESPONSE_INFO = 'IICP-CX-RESP-v1'

/** `cx-` + first 16 hex of sha256(raw public key) (reference-implementations §5.4). */
export async function cxKeyId(publicKey: Uint8Array): Promise<string> {
  return 'cx-' + toHex(await cryptoBackend().sha256(publicKey)).slice(0, 16)
}

/** Create a node's CX key pair (cx §3.1). */
export async function generateCxKeyPair(): Promise<CxKeyPair> {
  const { publicKey, privateKey } = await cryptoBackend().x25519GenerateKeyPair()
  return { publicKey: toBase64Url(publicKey), privateKey: toBase64Url(privateKey), keyId: await cxKeyId(publicKey) }
}

/** The `cx_public_key` object a node advertises. */
export function cxPublicKeyDescriptor(pair: Pick<CxKeyPair, 'publicKey' | 'keyId'>, features: string[] = ['response_encryption_v1']): CxPublicKey {
  return { algorithm: 'X25519', encoding: 'base64url', key: pair.publicKey, key_id: pair.keyId, features }
}

/** Rebuild a CxKeyPair from its persisted 32-byte base64url private key. Throws IicpError `invalid_config`. */
export async function importCxPrivateKey(privateKey: string): Promise<CxKeyPair> {
  const raw = typeof privateKey === 'string' ? fromBase64Url(privateKey.trim()) : undefined
  if (raw?.length !== KEY_BYTES) throw new IicpError('invalid_config', 'CX private key must be 32 bytes of base64url')
  let publicKey: Uint8Array
  try {
    publicKey = await cryptoBackend().x25519PublicKey(raw)
  } catch (cause) {
    throw new IicpError('invalid_config', 'CX private key is not a usable X25519 key', { cause })
  }
  return { publicKey: toBase64Url(publicKey), privateKey: toBase64Url(raw), keyId: await cxKeyId(publicKey) }
}

/** The persistable private key of a pair (base64url). */
export function exportCxPrivateKey(pair: CxKeyPair): string {
  return pair.privateKey
}

// A low-order peer key yields an all-zero secret: refuse it rather than encrypt under a publicly known key.
function assertContributory(secret: Uint8Array): Uint8Array {
  if (secret.every((b) => b === 0)) throw new Error('degenerate X25519 shared secret')
  return secret
}

function requestAad(taskId: string, intent: string): Uint8Array {
  return utf8(`${taskId}|${intent}`)
}

function serialize(value: unknown, what: string): Uint8Array {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (cause) {
    throw new IicpError('validation_error', `${what} is not JSON-serialisable`, { cause })
  }
  if (json === undefined) throw new IicpError('validation_error', `${what} is not JSON-serialisable`)
  return utf8(json)
}

function parseJson(plaintext: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  const text = fromUtf8(plaintext)
  if (text === undefined) return { ok: false }
  try {
    // JSON.parse reads both compact JSON and Python's json.dumps default `", "` / `": "` separators.
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

/**
 * Encrypt a task payload to a node's advertised key (reference-implementations §5.4). `payloadJson`, when given, is
 * the payload already serialised by the caller (a client checks serialisability once, before any attempt) and is
 * encrypted as is; otherwise `payload` is serialised here.
 */
export async function encryptRequest(args: { payload?: unknown; payloadJson?: string; taskId: string; intent: string; recipient: CxPublicKey }): Promise<EncryptedRequest> {
  const { payload, payloadJson, taskId, intent, recipient } = args
  if (typeof taskId !== 'string' || taskId.length === 0 || typeof intent !== 'string' || intent.length === 0) {
    throw new IicpError('validation_error', 'encryptRequest needs a task id and an intent')
  }
  const nodeKey = recipient?.algorithm === 'X25519' && recipient.encoding === 'base64url' ? fromBase64Url(recipient.key) : undefined
  if (nodeKey?.length !== KEY_BYTES || typeof recipient.key_id !== 'string' || recipient.key_id.length === 0) {
    // Another node may advertise a usable key, so the caller may fail over.
    throw new IicpError('crypto_error', "node's cx_public_key is not a 32-byte base64url X25519 key", { retryable: true })
  }
  const plaintext = typeof payloadJson === 'string' ? utf8(payloadJson) : serialize(payload, 'task payload')
  const backend = cryptoBackend()
  try {
    const ephemeral = await backend.x25519Ephemeral(nodeKey)
    const secret = assertContributory(ephemeral.sharedSecret)
    const nonce = backend.randomBytes(NONCE_BYTES)
    const key = await backend.hkdfSha256(secret, nonce, utf8(REQUEST_INFO + taskId + intent), KEY_BYTES)
    const aad = requestAad(taskId, intent)
    const body = await backend.aes256GcmEncrypt(key, nonce, plaintext, aad)
    return {
      iicpConf: {
        version: 1,
        recipient_key_id: recipient.key_id,
        kem_ciphertext: toBase64Url(ephemeral.publicKey),
        encrypted_body: toBase64Url(body),
        nonce: toBase64Url(nonce),
        aad: toBase64Url(aad),
        plaintext_size: plaintext.length,
      },
      responseContext: { taskId, sharedSecret: secret },
    }
  } catch (cause) {
    throw new IicpError('crypto_error', 'iicp_conf encryption failed', { cause, retryable: true })
  }
}

function cxDecryptFailed(reason: string, cause?: unknown): IicpError {
  return new IicpError('IICP-CX-02', `iicp_conf decrypt failed: ${reason}`, cause === undefined ? {} : { cause })
}

/**
 * Node side: decrypt `iicp_conf` with the node's key pair (reference-implementations §5.4). The AAD is rebuilt
 * from the envelope's task_id and intent, so a body moved to another task fails. Throws IicpError `IICP-CX-02`.
 */
export async function decryptRequest(args: { iicpConf: IicpConf; taskId: string; intent: string; keyPair: CxKeyPair }): Promise<DecryptedRequest> {
  const { iicpConf: conf, taskId, intent, keyPair } = args
  if (typeof conf !== 'object' || conf === null || conf.version !== 1) throw cxDecryptFailed('unsupported iicp_conf version')
  if (typeof taskId !== 'string' || typeof intent !== 'string') throw cxDecryptFailed('task_id and intent are required')
  if (conf.recipient_key_id !== keyPair.keyId) throw cxDecryptFailed('recipient_key_id does not name this node key')
  const privateKey = fromBase64Url(keyPair.privateKey)
  const ephemeral = typeof conf.kem_ciphertext === 'string' ? fromBase64Url(conf.kem_ciphertext) : undefined
  const nonce = typeof conf.nonce === 'string' ? fromBase64Url(conf.nonce) : undefined
  const body = typeof conf.encrypted_body === 'string' ? fromBase64Url(conf.encrypted_body) : undefined
  if (privateKey?.length !== KEY_BYTES) throw cxDecryptFailed('node key is unusable')
  if (ephemeral?.length !== KEY_BYTES) throw cxDecryptFailed('kem_ciphertext is not a 32-byte X25519 key')
  if (nonce?.length !== NONCE_BYTES) throw cxDecryptFailed('nonce is not 12 bytes')
  if (body === undefined || body.length < TAG_BYTES) throw cxDecryptFailed('encrypted_body is malformed')
  const aad = requestAad(taskId, intent)
  if (conf.aad !== undefined) {
    const declared = typeof conf.aad === 'string' ? fromBase64Url(conf.aad) : undefined
    if (declared === undefined || !constantTimeEqual(declared, aad)) throw cxDecryptFailed('aad does not match task_id and intent')
  }
  const backend = cryptoBackend()
  let secret: Uint8Array
  let plaintext: Uint8Array
  try {
    secret = assertContributory(await backend.x25519SharedSecret(privateKey, ephemeral))
    const key = await backend.hkdfSha256(secret, nonce, utf8(REQUEST_INFO + taskId + intent), KEY_BYTES)
    plaintext = await backend.aes256GcmDecrypt(key, nonce, body, aad)
  } catch (cause) {
    throw cxDecryptFailed('authentication failed (wrong key, tampered body or wrong task)', cause)
  }
  const parsed = parseJson(plaintext)
  if (!parsed.ok) throw cxDecryptFailed('plaintext is not JSON')
  return { payload: parsed.value, responseContext: { taskId, sharedSecret: secret } }
}

/** Node side: encrypt the full response envelope for `cx_response_encryption: "required"` (reference-implementations §5.4). */
export async function encryptResponse(response: unknown, ctx: CxResponseContext): Promise<IicpConfResp> {
  const plaintext = serialize(response, 'response envelope')
  const backend = cryptoBackend()
  try {
    const nonce = backend.randomBytes(NONCE_BYTES)
    const key = await backend.hkdfSha256(ctx.sharedSecret, nonce, utf8(RESPONSE_INFO + ctx.taskId), KEY_BYTES)
    const body = await backend.aes256GcmEncrypt(key, nonce, plaintext, utf8(`${ctx.taskId}|resp`))
    return { version: 1, nonce: toBase64Url(nonce), encrypted_body: toBase64Url(body) }
  } catch (cause) {
    throw new IicpError('crypto_error', 'iicp_conf_resp encryption failed', { cause })
  }
}

function respDecryptFailed(reason: string, cause?: unknown): IicpError {
  return new IicpError('invalid_response', `iicp_conf_resp decrypt failed: ${reason}`, cause === undefined ? {} : { cause })
}

/**
 * Consumer side: decrypt `iicp_conf_resp` into the response envelope (unparsed JSON value). Reads both our
 * compact JSON and Python's `json.dumps` spacing. Throws IicpError `invalid_response` when it does not decrypt.
 */
export async function decryptResponse(resp: IicpConfResp, ctx: CxResponseContext): Promise<unknown> {
  if (typeof resp !== 'object' || resp === null || resp.version !== 1) throw respDecryptFailed('unsupported iicp_conf_resp version')
  const nonce = typeof resp.nonce === 'string' ? fromBase64Url(resp.nonce) : undefined
  const body = typeof resp.encrypted_body === 'string' ? fromBase64Url(resp.encrypted_body) : undefined
  if (nonce?.length !== NONCE_BYTES) throw respDecryptFailed('nonce is not 12 bytes')
  if (body === undefined || body.length < TAG_BYTES) throw respDecryptFailed('encrypted_body is malformed')
  const backend = cryptoBackend()
  let plaintext: Uint8Array
  try {
    const key = await backend.hkdfSha256(ctx.sharedSecret, nonce, utf8(RESPONSE_INFO + ctx.taskId), KEY_BYTES)
    plaintext = await backend.aes256GcmDecrypt(key, nonce, body, utf8(`${ctx.taskId}|resp`))
  } catch (cause) {
    throw respDecryptFailed('authentication failed (wrong key, tampered body or wrong task)', cause)
  }
  const parsed = parseJson(plaintext)
  if (!parsed.ok) throw respDecryptFailed('plaintext is not JSON')
  return parsed.value
}

