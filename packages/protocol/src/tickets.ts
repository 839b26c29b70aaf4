/**
 * Signed route and relay-bind tickets (wire.md §1.6, reference-implementations §3.8):
 * `<base64url(JSON claims)>.<hex Ed25519 signature>` over `context + base64url part`.
 * CONTRACT STUB: implemented by the protocol-crypto helper.
 */
export const DISPATCH_TICKET_CONTEXT = 'iicp:dispatch-route-ticket:v1\n'
export const RELAY_BIND_TICKET_CONTEXT = 'iicp:relay-bind-ticket:v1\n'

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
export interface TicketVerifyOptions {
  /** 64-hex raw Ed25519 public key. */
  publicKeyHex: string
  /** Expected `iss` (exact string compare). */
  issuer?: string
  audience?: string
  nodeId?: string
  intent?: string
  /** Worker id for relay-bind tickets (`sub`). */
  subject?: string
  /** Unix seconds; defaults to now. */
  nowSeconds?: number
  /** Allowed clock skew in seconds. @default 30 */
  skewSeconds?: number
}
export type TicketVerifyResult<C> = { ok: true; claims: C } | { ok: false; reason: string }

export async function generateSigningKeyPair(): Promise<SigningKeyPair> {
  throw new Error('not implemented')
}
export async function signDispatchTicket(claims: DispatchTicketClaims, key: SigningKeyPair): Promise<string> {
  void claims
  void key
  throw new Error('not implemented')
}
export async function verifyDispatchTicket(ticket: string, opts: TicketVerifyOptions): Promise<TicketVerifyResult<DispatchTicketClaims>> {
  void ticket
  void opts
  throw new Error('not implemented')
}
export async function signRelayBindTicket(claims: RelayBindTicketClaims, key: SigningKeyPair): Promise<string> {
  void claims
  void key
  throw new Error('not implemented')
}
export async function verifyRelayBindTicket(ticket: string, opts: TicketVerifyOptions): Promise<TicketVerifyResult<RelayBindTicketClaims>> {
  void ticket
  void opts
  throw new Error('not implemented')
}
