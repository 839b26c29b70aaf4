/**
 * IICP-CX exactly as the reference Python SDK does it (reference-implementations §5.4), written here with
 * node:crypto and independently of @iicp/protocol, so tests can prove our client interoperates with it:
 * X25519 → HKDF-SHA256(salt = nonce, info = "IICP-CX-v1" + task_id + intent) → AES-256-GCM(aad = task_id|intent);
 * responses keyed with info "IICP-CX-RESP-v1" + task_id, aad task_id|resp, body in Python's json.dumps style.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, randomBytes } from 'node:crypto'

/** The fixture's node key pair (base64url raw X25519 keys). */
export interface PyNodeKey {
  readonly privateKey: string
  readonly publicKey: string
  readonly keyId: string
}

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url')
const unb64u = (s: string): Buffer => Buffer.from(s, 'base64url')

function sharedSecret(node: PyNodeKey, peerPublic: string): Buffer {
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: node.privateKey, x: node.publicKey }, format: 'jwk' })
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: peerPublic }, format: 'jwk' })
  return diffieHellman({ privateKey, publicKey })
}

/** Python's `json.dumps(value)` with default separators `", "` / `": "` and ensure_ascii. */
export function pythonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(value)
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  if (Array.isArray(value)) return `[${value.map(pythonDumps).join(', ')}]`
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
  return `{${entries.map(([k, v]) => `${pythonDumps(k)}: ${pythonDumps(v)}`).join(', ')}}`
}

/** What a node needs to answer an encrypted request. */
export interface PyRequestContext {
  readonly taskId: string
  readonly shared: Buffer
}

/** Decrypt an `iicp_conf` the Python way; returns the payload and the response context. */
export function pyDecryptRequest(node: PyNodeKey, conf: Record<string, unknown>, taskId: string, intent: string): { payload: unknown; ctx: PyRequestContext } {
  const shared = sharedSecret(node, String(conf.kem_ciphertext))
  const nonce = unb64u(String(conf.nonce))
  const key = Buffer.from(hkdfSync('sha256', shared, nonce, Buffer.from(`IICP-CX-v1${taskId}${intent}`, 'utf8'), 32))
  const body = unb64u(String(conf.encrypted_body))
  const decipher = createDecipheriv('aes-256-gcm', key, nonce)
  decipher.setAAD(Buffer.from(`${taskId}|${intent}`, 'utf8'))
  decipher.setAuthTag(body.subarray(body.length - 16))
  const plain = Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()])
  return { payload: JSON.parse(plain.toString('utf8')), ctx: { taskId, shared } }
}

/** Encrypt a whole response envelope the Python way. */
export function pyEncryptResponse(response: unknown, ctx: PyRequestContext): { version: 1; nonce: string; encrypted_body: string } {
  const nonce = randomBytes(12)
  const key = Buffer.from(hkdfSync('sha256', ctx.shared, nonce, Buffer.from(`IICP-CX-RESP-v1${ctx.taskId}`, 'utf8'), 32))
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(Buffer.from(`${ctx.taskId}|resp`, 'utf8'))
  const enc = Buffer.concat([cipher.update(Buffer.from(pythonDumps(response), 'utf8')), cipher.final(), cipher.getAuthTag()])
  return { version: 1, nonce: b64u(nonce), encrypted_body: b64u(enc) }
}
