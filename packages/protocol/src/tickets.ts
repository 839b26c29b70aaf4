/**
 * Signed route and relay-bind tickets (wire.md §1.6, §1.10; reference-implementations §3.5, §3.8):
 * `<base64url(JSON claims)>.<128-hex Ed25519 signature>`, signed over `context + base64url part` (ASCII).
 * Verification never throws on bad input: it answers `{ ok: false, reason }` with a reason from
 * TICKET_REJECT_REASONS.
 */
import { IicpError } from './errors.js'
import { cryptoBackend } from './crypto/backend.js'
import { fromBase64, fromBase64Url, fromHex, fromUtf8, toBase64, toBase64Url, toHex, utf8 } from './crypto/encoding.js'

/** Domain-separation prefix of dispatch-route tickets (wire.md §1.6). */
export const DISPATCH_TICKET_CONTEXT = 'iicp:dispatch-route-ticket:v1\n'
/** Domain-separation prefix of relay-bind tickets (reference-implementations §3.8). */
export const RELAY_BIND_TICKET_CONTEXT = 'iicp:relay-bind-ticket:v1\n'
/** The fixed `aud` of dispatch-route tickets (wire.md §1.6). */
export const DISPATCH_TICKET_AUDIENCE = 'iicp.directory.dispatch'

/** Claims of a dispatch-route ticket v1 (wire.md §1.6). */
export interface DispatchTicketClaims {
  v: 1
  typ: 'dispatch-route-ticket'
  iss: string
  aud: string
  jti: string
  node_id: string
  intent: string
  iat: number
  exp: number
  policy_manifest_sha256?: string
}
/** Claims of a relay-bind ticket v1 (wire.md §1.10; reference-implementations §3.8). */
export interface RelayBindTicketClaims {
  v: 1
  typ: 'relay-bind-ticket'
  jti: string
  iss: string
  /** Worker node id. */
  sub: string
  /** Relay node id or `*`. */
  aud: string
  iat: number
  exp: number
}
/** Ed25519 key pair; `publicKeyHex` is the 64-hex raw key served by `GET /v1/directory-key`. */
export interface SigningKeyPair {
  readonly publicKeyHex: string
  /** PKCS#8 DER of the private key, base64 (persistable). */
  readonly privateKeyPkcs8: string
}
/** What a verifier checks besides the signature (wire.md §1.6). Omitted fields are not compared. */
export interface TicketVerifyOptions {
  /** 64-hex raw Ed25519 public key. */
  publicKeyHex: string
  /** Expected `iss` (exact string compare). */
  issuer?: string
  /** Dispatch: expected `aud` (default `iicp.directory.dispatch`). Relay-bind: this relay's node id (`*` also matches). */
  audience?: string
  nodeId?: string
  intent?: string
  /** Worker id for relay-bind tickets (`sub`). */
  subject?: string
  /** Unix seconds; defaults to now. */
  nowSeconds?: number
  /** Allowed clock skew in seconds for a future `iat`; `exp` is strict, as in the conformance verifier. @default 30 */
  skewSeconds?: number
}
/** Verification outcome; `reason` is one of TICKET_REJECT_REASONS. */
export type TicketVerifyResult<C> = { ok: true; claims: C } | { ok: false; reason: string }

/** Every reason a ticket can be rejected for; the first eight match the spec fixture's case names. */
export const TICKET_REJECT_REASONS = [
  'malformed_token',
  'bad_signature',
  'expired',
  'wrong_issuer',
  'wrong_audience',
  'wrong_node',
  'wrong_intent',
  'wrong_subject',
  'wrong_type',
  'wrong_version',
  'malformed_claims',
  'not_yet_valid',
  'invalid_public_key',
] as const
/** A ticket rejection reason. */
export type TicketRejectReason = (typeof TICKET_REJECT_REASONS)[number]

const MAX_TICKET_CHARS = 8192
const B64URL_PART = /^[A-Za-z0-9_-]+$/
const SIGNATURE_HEX = /^[0-9a-fA-F]{128}$/
const PUBLIC_KEY_HEX = /^[0-9a-fA-F]{64}$/
const DISPATCH_JTI = /^[0-9a-f]{24}$/
// dir §7.4 asks for >= 128 random bits; the PHP directory sends 32 hex.
const RELAY_JTI = /^[0-9a-f]{32,64}$/
const SHA256_HEX = /^[0-9a-f]{64}$/
const DEFAULT_SKEW_SECONDS = 30

type Reject = { ok: false; reason: TicketRejectReason }
const reject = (reason: TicketRejectReason): Reject => ({ ok: false, reason })

/** Create a fresh Ed25519 signing key (a directory's ticket key; dir §3.12). */
export async function generateSigningKeyPair(): Promise<SigningKeyPair> {
  const { publicKey, privateKeyPkcs8 } = await cryptoBackend().ed25519GenerateKeyPair()
  return { publicKeyHex: toHex(publicKey), privateKeyPkcs8: toBase64(privateKeyPkcs8) }
}

/** Rebuild a SigningKeyPair from its persisted PKCS#8 base64 form (derives `publicKeyHex`). */
export async function signingKeyPairFromPkcs8(privateKeyPkcs8: string): Promise<SigningKeyPair> {
  const der = fromBase64(privateKeyPkcs8.trim())
  if (der === undefined) throw new IicpError('invalid_config', 'signing key is not base64 PKCS#8')
  try {
    const publicKey = await cryptoBackend().ed25519PublicKey(der)
    return { publicKeyHex: toHex(publicKey), privateKeyPkcs8: toBase64(der) }
  } catch (cause) {
    throw new IicpError('invalid_config', 'signing key is not an Ed25519 PKCS#8 private key', { cause })
  }
}

async function signTicket(context: string, claims: object, key: SigningKeyPair): Promise<string> {
  const der = fromBase64(key.privateKeyPkcs8)
  if (der === undefined) throw new IicpError('invalid_config', 'signing key is not base64 PKCS#8')
  const payload = toBase64Url(utf8(JSON.stringify(claims)))
  let signature: Uint8Array
  try {
    signature = await cryptoBackend().ed25519Sign(der, utf8(context + payload))
  } catch (cause) {
    throw new IicpError('crypto_error', 'ticket signing failed', { cause })
  }
  return `${payload}.${toHex(signature)}`
}

/** Split, check the signature, decode the claims object. Only claims under a valid signature are returned. */
async function openTicket(context: string, ticket: unknown, publicKeyHex: string): Promise<Reject | { ok: true; claims: Record<string, unknown> }> {
  if (typeof publicKeyHex !== 'string' || !PUBLIC_KEY_HEX.test(publicKeyHex)) return reject('invalid_public_key')
  if (typeof ticket !== 'string' || ticket.length > MAX_TICKET_CHARS) return reject('malformed_token')
  const dot = ticket.indexOf('.')
  if (dot <= 0 || dot !== ticket.lastIndexOf('.')) return reject('malformed_token')
  const payload = ticket.slice(0, dot)
  const signatureHex = ticket.slice(dot + 1)
  if (!B64URL_PART.test(payload) || signatureHex.length === 0) return reject('malformed_token')
  if (!SIGNATURE_HEX.test(signatureHex)) return reject('bad_signature')
  const publicKey = fromHex(publicKeyHex)
  const signature = fromHex(signatureHex)
  if (publicKey === undefined || signature === undefined) return reject('malformed_token')
  let valid: boolean
  try {
    valid = await cryptoBackend().ed25519Verify(publicKey, signature, utf8(context + payload))
  } catch {
    // A backend failure must read as a rejection, never as an accepted ticket or a thrown error.
    valid = false
  }
  if (!valid) return reject('bad_signature')
  const json = fromBase64Url(payload)
  const text = json === undefined ? undefined : fromUtf8(json)
  if (text === undefined) return reject('malformed_token')
  let claims: unknown
  try {
    claims = JSON.parse(text)
  } catch {
    return reject('malformed_token')
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return reject('malformed_token')
  return { ok: true, claims: claims as Record<string, unknown> }
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0

function checkTimes(c: Record<string, unknown>, opts: TicketVerifyOptions): TicketRejectReason | undefined {
  if (!isInt(c.iat) || !isInt(c.exp) || c.exp < c.iat) return 'malformed_claims'
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000)
  const skew = opts.skewSeconds ?? DEFAULT_SKEW_SECONDS
  if (c.iat > now + skew) return 'not_yet_valid'
  if (c.exp <= now) return 'expired'
  return undefined
}

function dispatchClaimsProblem(c: Record<string, unknown>): TicketRejectReason | undefined {
  if (c.v !== 1) return 'wrong_version'
  if (c.typ !== 'dispatch-route-ticket') return 'wrong_type'
  if (!isText(c.iss) || !isText(c.aud) || !isText(c.node_id) || !isText(c.intent)) return 'malformed_claims'
  if (typeof c.jti !== 'string' || !DISPATCH_JTI.test(c.jti)) return 'malformed_claims'
  if (c.policy_manifest_sha256 !== undefined && (typeof c.policy_manifest_sha256 !== 'string' || !SHA256_HEX.test(c.policy_manifest_sha256))) return 'malformed_claims'
  if (!isInt(c.iat) || !isInt(c.exp) || c.exp < c.iat) return 'malformed_claims'
  return undefined
}

function relayClaimsProblem(c: Record<string, unknown>): TicketRejectReason | undefined {
  if (c.v !== 1) return 'wrong_version'
  if (c.typ !== 'relay-bind-ticket') return 'wrong_type'
  if (!isText(c.iss) || !isText(c.sub) || !isText(c.aud)) return 'malformed_claims'
  if (typeof c.jti !== 'string' || !RELAY_JTI.test(c.jti)) return 'malformed_claims'
  if (!isInt(c.iat) || !isInt(c.exp) || c.exp < c.iat) return 'malformed_claims'
  return undefined
}

function claimsError(problem: string): IicpError {
  return new IicpError('invalid_ticket', `refusing to sign malformed ticket claims (${problem})`)
}

/** Sign dispatch-route ticket claims with the directory key (wire.md §1.6). Throws IicpError on malformed claims. */
export async function signDispatchTicket(claims: DispatchTicketClaims, key: SigningKeyPair): Promise<string> {
  const problem = dispatchClaimsProblem(claims as unknown as Record<string, unknown>)
  if (problem !== undefined) throw claimsError(problem)
  // Field order follows the PHP directory so our tickets look like the mesh's.
  const body: DispatchTicketClaims = {
    v: 1, typ: 'dispatch-route-ticket', iss: claims.iss, aud: claims.aud, jti: claims.jti,
    node_id: claims.node_id, intent: claims.intent, iat: claims.iat, exp: claims.exp,
  }
  if (claims.policy_manifest_sha256 !== undefined) body.policy_manifest_sha256 = claims.policy_manifest_sha256
  return signTicket(DISPATCH_TICKET_CONTEXT, body, key)
}

/**
 * Verify a dispatch-route ticket (wire.md §1.6): signature, `v`, `typ`, `iss` (exact), `aud`, `node_id`,
 * `intent`, `iat`/`exp` and the `jti` format. Never throws.
 */
export async function verifyDispatchTicket(ticket: string, opts: TicketVerifyOptions): Promise<TicketVerifyResult<DispatchTicketClaims>> {
  try {
    const opened = await openTicket(DISPATCH_TICKET_CONTEXT, ticket, opts.publicKeyHex)
    if (!opened.ok) return opened
    const c = opened.claims
    const problem = dispatchClaimsProblem(c)
    if (problem !== undefined) return reject(problem)
    if (opts.issuer !== undefined && c.iss !== opts.issuer) return reject('wrong_issuer')
    if (c.aud !== (opts.audience ?? DISPATCH_TICKET_AUDIENCE)) return reject('wrong_audience')
    if (opts.nodeId !== undefined && c.node_id !== opts.nodeId) return reject('wrong_node')
    if (opts.intent !== undefined && c.intent !== opts.intent) return reject('wrong_intent')
    const time = checkTimes(c, opts)
    if (time !== undefined) return reject(time)
    return { ok: true, claims: c as unknown as DispatchTicketClaims }
  } catch {
    // Bad input of any shape (e.g. opts not an object) is a rejection, never an exception.
    return reject('malformed_token')
  }
}

/** Sign relay-bind ticket claims with the directory key (wire.md §1.10). Throws IicpError on malformed claims. */
export async function signRelayBindTicket(claims: RelayBindTicketClaims, key: SigningKeyPair): Promise<string> {
  const problem = relayClaimsProblem(claims as unknown as Record<string, unknown>)
  if (problem !== undefined) throw claimsError(problem)
  const body: RelayBindTicketClaims = {
    v: 1, typ: 'relay-bind-ticket', jti: claims.jti, iss: claims.iss, sub: claims.sub, aud: claims.aud,
    iat: claims.iat, exp: claims.exp,
  }
  return signTicket(RELAY_BIND_TICKET_CONTEXT, body, key)
}

/**
 * Verify a relay-bind ticket (wire.md §1.10; reference-implementations §3.8): signature, `v`, `typ`, `iss`,
 * `sub` against `subject`, `aud` against `audience` (a `*` ticket binds to any relay), times and `jti`. Never throws.
 */
export async function verifyRelayBindTicket(ticket: string, opts: TicketVerifyOptions): Promise<TicketVerifyResult<RelayBindTicketClaims>> {
  try {
    const opened = await openTicket(RELAY_BIND_TICKET_CONTEXT, ticket, opts.publicKeyHex)
    if (!opened.ok) return opened
    const c = opened.claims
    const problem = relayClaimsProblem(c)
    if (problem !== undefined) return reject(problem)
    if (opts.issuer !== undefined && c.iss !== opts.issuer) return reject('wrong_issuer')
    if (opts.audience !== undefined && c.aud !== opts.audience && c.aud !== '*') return reject('wrong_audience')
    if (opts.subject !== undefined && c.sub !== opts.subject) return reject('wrong_subject')
    const time = checkTimes(c, opts)
    if (time !== undefined) return reject(time)
    return { ok: true, claims: c as unknown as RelayBindTicketClaims }
  } catch {
    // Bad input of any shape is a rejection, never an exception.
    return reject('malformed_token')
  }
}
