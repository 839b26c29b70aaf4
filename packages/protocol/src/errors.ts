/**
 * The error catalogue and IicpError (wire.md §1.13 directory codes, §2.4 node and client codes; IICP-core §7).
 * Every code has the HTTP status a server answers with, whether a client may retry it (on another node),
 * a default message, and whether it crosses the wire (`false` = raised only inside an SDK).
 */
export interface ErrorSpec {
  /** HTTP status a server answers with. */
  readonly status: number
  /** Whether a client may retry (on another node). */
  readonly retryable: boolean
  /** Default human message. */
  readonly message: string
  /** true when the code crosses the wire; false for SDK-local codes. */
  readonly wire: boolean
}

/**
 * Every error code the SDK raises or may receive, with its spec status (wire.md §1.13, §2.4).
 * Where the spec gives two statuses for one code (e.g. `IICP-E039` 503/429) the first is listed and the
 * other is noted beside it; the status a peer actually sent always wins in {@link errorFromResponse}.
 */
export const ERROR_CATALOGUE = {
  // Phase-1 slug codes (core §7; p1 §8; dir §5).
  validation_error: { status: 422, retryable: false, message: 'Input validation failed', wire: true },
  invalid_json: { status: 400, retryable: false, message: 'Request body is not valid JSON', wire: true },
  payload_too_large: { status: 413, retryable: false, message: 'Request body too large', wire: true },
  unauthorized: { status: 401, retryable: false, message: 'Missing or invalid credentials', wire: true },
  forbidden: { status: 403, retryable: false, message: 'Forbidden', wire: true },
  not_found: { status: 404, retryable: false, message: 'Resource not found', wire: true },
  method_not_allowed: { status: 405, retryable: false, message: 'Method not allowed', wire: true },
  // A body that is not JSON by its Content-Type (RFC 9110 §15.5.16; wire.md §0.2 JSON on all messages).
  unsupported_media_type: { status: 415, retryable: false, message: 'Content-Type must be application/json', wire: true },
  conflict: { status: 409, retryable: false, message: 'Conflict', wire: true },
  rate_limited: { status: 429, retryable: true, message: 'Too many requests', wire: true },
  capacity_exceeded: { status: 429, retryable: true, message: 'Node at capacity', wire: true },
  // cts NODE-CONC-01 names the same condition `overloaded` (wire.md §9 item 11).
  overloaded: { status: 429, retryable: true, message: 'Node overloaded', wire: true },
  unknown_intent: { status: 422, retryable: false, message: 'Intent not served by this node', wire: true },
  task_timeout: { status: 504, retryable: true, message: 'Task exceeded its timeout', wire: true },
  backend_error: { status: 502, retryable: true, message: 'Backend failed', wire: true },
  no_consensus: { status: 502, retryable: false, message: 'Consensus mode reached no majority', wire: true },
  server_error: { status: 500, retryable: true, message: 'An internal error occurred', wire: true },
  service_unavailable: { status: 503, retryable: true, message: 'Service unavailable', wire: true },
  liveness_failed: { status: 422, retryable: false, message: 'Endpoint liveness probe failed', wire: true },
  // Other slug codes named by the spec (wire.md §2.4 "Other string codes seen").
  private_address: { status: 422, retryable: false, message: 'Probe target is a private address', wire: true },
  invalid_target: { status: 422, retryable: false, message: 'Audit report target is invalid', wire: true },
  unsupported_profile: { status: 422, retryable: false, message: 'Required profile is not supported', wire: true },
  // adm §3 allows 408 or 504; 504 matches task_timeout so clients treat both alike.
  deadline_unachievable: { status: 504, retryable: true, message: 'Deadline cannot be met', wire: true },
  temporarily_unavailable: { status: 503, retryable: true, message: 'Temporarily unavailable', wire: true },
  policy_rejected: { status: 403, retryable: false, message: 'Rejected by provider policy', wire: true },
  tool_execution_denied: { status: 403, retryable: false, message: 'Tool execution denied by node policy', wire: true },
  reputation_too_low: { status: 403, retryable: false, message: 'Caller reputation too low', wire: true },
  insufficient_credits: { status: 402, retryable: false, message: 'Insufficient credits', wire: true },
  relay_bind_rate_limited: { status: 429, retryable: true, message: 'Relay bind rate limited', wire: true },
  attestation_unavailable: { status: 503, retryable: true, message: 'Attestation unavailable', wire: true },
  no_probe_data: { status: 503, retryable: true, message: 'No probe data available', wire: true },
  // Codes the PHP reference directory sends (reference-implementations.md §3).
  token_expired: { status: 401, retryable: false, message: 'Credential expired', wire: true },
  no_route_available: { status: 404, retryable: false, message: 'No eligible route matched the intent', wire: true },
  not_configured: { status: 503, retryable: false, message: 'Directory feature not configured', wire: true },
  ambiguous_node_prefix: { status: 409, retryable: false, message: 'Node id prefix matches more than one node', wire: true },
  // Numeric codes. E001..E012 are legacy reference-SDK codes the spec names without a table
  // (cts SDK-ERR-02 requires E004/E005/E008 to be retryable; wire.md §2.4).
  'IICP-E001': { status: 400, retryable: false, message: 'Intent URN is invalid', wire: false },
  'IICP-E003': { status: 504, retryable: true, message: 'Request timed out', wire: false },
  'IICP-E004': { status: 503, retryable: true, message: 'Network error', wire: false },
  'IICP-E005': { status: 503, retryable: true, message: 'Node overloaded', wire: true },
  'IICP-E006': { status: 503, retryable: false, message: 'No nodes available for intent', wire: false },
  'IICP-E008': { status: 503, retryable: true, message: 'Transient failure', wire: true },
  'IICP-E011': { status: 409, retryable: false, message: 'Replay detected', wire: true },
  'IICP-E012': { status: 401, retryable: false, message: 'Invalid peer signature', wire: true },
  // Federation sync errors a replica emits locally (fed §5.3); they have no HTTP status of their own.
  'IICP-E013': { status: 502, retryable: false, message: 'Federation event signature invalid', wire: false },
  'IICP-E014': { status: 502, retryable: false, message: 'Federation event sequence gap', wire: false },
  // CIP (core §7).
  'IICP-E020': { status: 403, retryable: false, message: 'Coordinator reputation below worker minimum', wire: true },
  'IICP-E021': { status: 503, retryable: true, message: 'Worker at max_concurrent_remote', wire: true },
  'IICP-E022': { status: 503, retryable: false, message: 'No CIP-eligible workers', wire: true },
  'IICP-E023': { status: 429, retryable: true, message: 'Worker policy-evaluation rate limit', wire: true },
  'IICP-E024': { status: 504, retryable: true, message: 'All dispatched workers timed out', wire: true },
  'IICP-E025': { status: 422, retryable: false, message: 'majority_vote replicas must be odd and at least 3', wire: true },
  'IICP-E026': { status: 422, retryable: false, message: 'Incomplete map-reduce split', wire: true },
  'IICP-E027': { status: 422, retryable: false, message: 'CIP receipt rejected', wire: true },
  'IICP-E028': { status: 422, retryable: false, message: 'Invalid CIP field', wire: true },
  'IICP-E029': { status: 404, retryable: false, message: 'Model not registered on this node', wire: true },
  // Relay and telemetry (core §7; dir §7.3).
  'IICP-E030': { status: 404, retryable: false, message: 'Relay target not found', wire: true },
  'IICP-E031': { status: 502, retryable: true, message: 'Relay forwarding failed', wire: true },
  'IICP-E032': { status: 401, retryable: false, message: 'Telemetry requires a valid proxy_token', wire: true },
  'IICP-E033': { status: 503, retryable: false, message: 'No nodes available for intent', wire: true },
  'IICP-E034': { status: 429, retryable: true, message: 'Too many registration attempts', wire: true },
  'IICP-E035': { status: 422, retryable: false, message: 'Endpoint host is not routable', wire: true },
  'IICP-E036': { status: 402, retryable: false, message: 'Insufficient credits', wire: true },
  // The Python relay answers an alive-worker rebind with 409 IICP-E038 (fixtures/interop native capture).
  'IICP-E038': { status: 409, retryable: false, message: 'Relay worker already bound', wire: true },
  // dir §7.3: 503 at the session cap, 429 (reason relay_bind_rate_limited) when binds are rate limited.
  'IICP-E039': { status: 503, retryable: true, message: 'Relay unavailable', wire: true },
  // Federation (fed §5.3, §5.5, §7.1).
  // Also used by the official relays for a refused bind ticket (401) or a replayed one (409) (official-sdks §5);
  // that use sets its status explicitly.
  'IICP-E040': { status: 422, retryable: false, message: 'DID does not resolve to a valid DID document', wire: true },
  'IICP-E041': { status: 422, retryable: false, message: 'DID document has no Ed25519 verification method', wire: true },
  'IICP-E042': { status: 422, retryable: false, message: 'Replica endpoint health check failed', wire: true },
  'IICP-E043': { status: 422, retryable: false, message: 'Replica endpoint is not https or is private', wire: true },
  'IICP-E044': { status: 422, retryable: false, message: 'Requested trust tier is not allowed', wire: true },
  'IICP-E045': { status: 422, retryable: false, message: 'Snapshot required', wire: true },
  'IICP-E046': { status: 422, retryable: true, message: 'Snapshot generation timed out', wire: true },
  'IICP-E047': { status: 503, retryable: false, message: 'Replica mode misconfigured', wire: true },
  'IICP-E048': { status: 503, retryable: false, message: 'Replica signing misconfigured', wire: true },
  // cx §6 uses E049 as a 422 (wire.md §9 item 26); the directory's 403 is what clients meet.
  'IICP-E049': { status: 403, retryable: false, message: 'CX key change requires current_node_token', wire: true },
  'IICP-E050': { status: 403, retryable: false, message: 'Routing-field change requires ownership proof', wire: true },
  'IICP-E053': { status: 413, retryable: false, message: 'Signaling message too large', wire: true },
  // IICP-CX target error model (cx §6).
  'IICP-E060': { status: 422, retryable: false, message: 'CX recipient key not found', wire: true },
  'IICP-E061': { status: 422, retryable: false, message: 'CX envelope version not supported', wire: true },
  'IICP-E062': { status: 400, retryable: false, message: 'CX decryption failed', wire: true },
  'IICP-E063': { status: 422, retryable: false, message: 'CX key expired', wire: true },
  'IICP-E064': { status: 422, retryable: false, message: 'Node does not support CX', wire: true },
  'IICP-E065': { status: 502, retryable: false, message: 'Operator key-binding signature invalid', wire: false },
  'IICP-POLICY-001': { status: 403, retryable: false, message: 'Intent refused by risk policy', wire: true },
  'IICP-POLICY-ROUTING': { status: 403, retryable: false, message: 'Every candidate refused by routing policy', wire: false },
  'IICP-CX-REQUIRED': { status: 400, retryable: false, message: 'Confidentiality required but node has no CX key', wire: false },
  'IICP-CX-RESP-REQUIRED': { status: 502, retryable: true, message: 'Node answered in plaintext though it advertised response encryption', wire: false },
  'IICP-CX-02': { status: 400, retryable: false, message: 'iicp_conf decrypt failed', wire: true },
  'IICP-CX-03': { status: 400, retryable: false, message: 'Encrypted response requested without an encrypted request', wire: true },
  // Native transport (frm §9.6 CLOSE reasons): decoders return these as values; sockets surface them as IicpError.
  invalid_magic: { status: 400, retryable: false, message: 'Not an IICP frame', wire: true },
  invalid_version: { status: 400, retryable: false, message: 'Unsupported framing version', wire: true },
  version_mismatch: { status: 400, retryable: false, message: 'Framing version mismatch', wire: true },
  frame_too_large: { status: 413, retryable: false, message: 'Frame exceeds the 16 MiB cap', wire: true },
  truncated_header: { status: 400, retryable: false, message: 'Frame header truncated', wire: true },
  truncated_payload: { status: 400, retryable: false, message: 'Frame payload truncated', wire: true },
  invalid_frame: { status: 400, retryable: false, message: 'Malformed frame', wire: true },
  invalid_type: { status: 400, retryable: false, message: 'Invalid frame type', wire: true },
  unknown_type: { status: 400, retryable: false, message: 'Unknown frame type', wire: true },
  unsupported_extension: { status: 400, retryable: false, message: 'Unsupported framing extension', wire: true },
  cbor_decode_error: { status: 400, retryable: false, message: 'CBOR payload could not be decoded', wire: true },
  invalid_payload: { status: 400, retryable: false, message: 'Frame payload is invalid for its type', wire: true },
  protocol_error: { status: 400, retryable: false, message: 'Native protocol error', wire: true },
  fragment_timeout: { status: 408, retryable: true, message: 'Fragmented message not completed in time', wire: true },
  fragment_limit_exceeded: { status: 413, retryable: false, message: 'Too many fragments', wire: true },
  upgrade_required: { status: 426, retryable: false, message: 'This path needs a WebSocket upgrade', wire: true },
  relay_backpressure_exceeded: { status: 503, retryable: true, message: 'Relay stream buffer overflowed', wire: true },
  // Consumer routing codes shared with the official SDKs (official-sdks §2.3, §2.5); `IICP-DISPATCH-TICKET-<status>`
  // carries the directory's HTTP status in its name and is built at run time.
  'IICP-DISPATCH-TICKET-UNVERIFIED': { status: 401, retryable: false, message: 'Dispatch ticket failed verification', wire: false },
  'IICP-DISPATCH-TICKET-UNAVAILABLE': { status: 503, retryable: false, message: 'Directory offers no ticketed dispatch', wire: false },
  'IICP-POLICY-MANIFEST-BINDING-MISMATCH': { status: 502, retryable: false, message: 'Dispatch ticket does not match the route policy manifest', wire: false },
  'IICP-CONSUMER-AUTH-REQUIRED': { status: 401, retryable: false, message: 'The target node requires a consumer token, and none could be obtained', wire: false },
  'IICP-CANDIDATE-RANKER-REFUSED': { status: 502, retryable: false, message: 'The external ranker failed or picked no known candidate', wire: false },
  'IICP-SEC-REPLICA-01': { status: 502, retryable: false, message: 'Replica answer failed signature verification', wire: false },
  // SDK-local codes (cts §5, §10; SDK-04).
  invalid_intent: { status: 400, retryable: false, message: 'Intent URN is malformed', wire: false },
  invalid_config: { status: 400, retryable: false, message: 'Invalid configuration', wire: false },
  invalid_response: { status: 502, retryable: true, message: 'Peer answered with an invalid message', wire: false },
  invalid_ticket: { status: 401, retryable: false, message: 'Ticket failed verification', wire: false },
  connection_failed: { status: 503, retryable: true, message: 'Could not connect', wire: false },
  timeout: { status: 504, retryable: false, message: 'Deadline exceeded', wire: false },
  aborted: { status: 499, retryable: false, message: 'Aborted by caller', wire: false },
  no_available_node: { status: 503, retryable: false, message: 'Every candidate node failed', wire: false },
  crypto_error: { status: 500, retryable: false, message: 'Cryptographic operation failed', wire: false },
} as const satisfies Record<string, ErrorSpec>

/** A catalogue code. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE

export interface IicpErrorOptions {
  status?: number
  retryable?: boolean
  cause?: unknown
  /** Field-level validation details: dotted path → messages. */
  fields?: Record<string, string[]>
  /** Server hint for when to retry (Retry-After / retry_after_ms). */
  retryAfterMs?: number
  /** Extra wire fields to render (e.g. qos_class). Never tokens or payloads. */
  extra?: Record<string, unknown>
}

const BRAND = Symbol.for('@iicp/protocol.IicpError')
const CATALOGUE: Readonly<Record<string, ErrorSpec | undefined>> = ERROR_CATALOGUE

const REDACTED = '[REDACTED]'
// Names whose values are credentials wherever they appear as `name=value`, `name: value` or `"name":"value"`.
const SECRET_NAMES =
  'node_token|current_node_token|proxy_token|jwt_token|auth_token|consumer_token|replica_token|session_token|' +
  'access_token|refresh_token|id_token|api_key|apikey|node_hmac_key|hmac_key|private_key|secret|password|token|' +
  'x-iicp-consumer-token|authorization'
const NAMED_SECRET = new RegExp(
  `((?:${SECRET_NAMES})["']?\\s*[:=]\\s*["']?)(?!\\[REDACTED\\]|(?:Bearer|Basic|Token)\\s)[^\\s"'&,;}\\]]+`,
  'gi',
)
const AUTH_SCHEME = /\b(Bearer|Basic|Token)(\s+)(?!\[REDACTED\])([^\s"',;}\]]+)/gi
// After `Bearer`/`Basic`/`Token` in prose ("must be a Bearer token", "Token expired."), a short lowercase word is
// the sentence going on, not a credential. Anything with a digit, capital or symbol, or eight characters and
// longer, is still taken for one, and so is every run after a credential's name (`Authorization: Bearer …`).
const PROSE_WORD = /^[a-z]{1,7}[.:)!?]?$/
const NAMED_BEFORE = new RegExp(`(?:${SECRET_NAMES})["']?\\s*[:=]\\s*["']?$`, 'i')
// Opaque secrets: long runs of base64url/hex characters (40-char PHP tokens, 64-hex HMAC keys, JWT parts).
const LONG_RUN = /[A-Za-z0-9_-]{32,}={0,2}/g
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
const HEX_ONLY = /^[0-9a-fA-F]+$/
const SECRET_KEY = new RegExp(`^(?:${SECRET_NAMES})$`, 'i')
// A value named as a public key (`public_key`, `node_public_key`, `directory_public_key_hex`) is published on the
// wire, not a secret; a 64-hex run elsewhere may be an HMAC key and is still redacted.
const PUBLIC_KEY_NAME = /^[a-z_]*public_?key(?:_hex|_b64|_b64url)?$/i
const PUBLIC_KEY_BEFORE = /\b[a-z_]*public_?key(?:_hex|_b64|_b64url)?["']?\s*[:=]\s*["']?$/i
// A DNS label ahead of `.domain` (a quick tunnel's `seasonal-deck-3d-organisms.trycloudflare.com`): lowercase
// letters, digits and hyphens with at least one hyphen. Base64url secrets are mixed case and hex keys have no
// hyphen, so neither passes as one.
const HOST_LABEL = /^(?=.*[g-z])[a-z0-9]+(?:-[a-z0-9]+)+$/
const FOLLOWED_BY_DOMAIN = /^\.[a-z]/

function looksSecret(run: string): boolean {
  if (UUID.test(run)) return false
  // A 32-hex run is a W3C trace id, which is useful in an error and not a credential.
  if (HEX_ONLY.test(run)) return run.length >= 40
  const hasDigit = /[0-9]/.test(run)
  const hasUpper = /[A-Z]/.test(run)
  const hasLower = /[a-z]/.test(run)
  // Hyphenated lowercase words (`eu-ai-act-social-scoring`) are prose, not secrets.
  return (hasDigit && (hasUpper || hasLower)) || (hasUpper && hasLower)
}

/**
 * Remove credentials from text before it reaches a message, log line or error body (SDK-06; frm §4.3
 * LOG-FORBIDDEN): `Bearer …`, `node_token=…`, `"proxy_token":"…"`, and long opaque base64url/hex runs.
 */
export function redactSecrets(text: string): string {
  if (text.length < 8) return text
  return text
    .replace(AUTH_SCHEME, (match: string, scheme: string, gap: string, run: string, offset: number, whole: string) =>
      PROSE_WORD.test(run) && !NAMED_BEFORE.test(whole.slice(Math.max(0, offset - 32), offset))
        ? match
        : `${scheme}${gap}${REDACTED}`,
    )
    .replace(NAMED_SECRET, `$1${REDACTED}`)
    .replace(LONG_RUN, (run: string, offset: number, whole: string) => {
      if (!looksSecret(run)) return run
      if (run.length <= 63 && HOST_LABEL.test(run) && FOLLOWED_BY_DOMAIN.test(whole.slice(offset + run.length, offset + run.length + 2))) return run
      if (PUBLIC_KEY_BEFORE.test(whole.slice(Math.max(0, offset - 40), offset))) return run
      return REDACTED
    })
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactSecrets(value)
  if (depth > 4 || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) ? REDACTED : PUBLIC_KEY_NAME.test(k) && typeof v === 'string' ? v : redactValue(v, depth + 1)
  }
  return out
}

function redactFields(fields: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [k, msgs] of Object.entries(fields)) out[k] = msgs.map((m) => redactSecrets(String(m)))
  return out
}

/** The one error type every @iicp package throws (SDK-ERR-01). Users match on `code`. */
export class IicpError extends Error {
  readonly code: string
  readonly status: number | undefined
  readonly retryable: boolean
  readonly fields: Record<string, string[]> | undefined
  readonly retryAfterMs: number | undefined
  readonly extra: Record<string, unknown> | undefined
  declare readonly [BRAND]: true

  constructor(code: ErrorCode | (string & {}), message?: string, options: IicpErrorOptions = {}) {
    const spec = CATALOGUE[code]
    // Redact before super(): the stack trace captures the message at construction.
    super(redactSecrets(message ?? spec?.message ?? code), options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'IicpError'
    this.code = code
    this.status = options.status ?? spec?.status
    this.retryable = options.retryable ?? spec?.retryable ?? false
    this.fields = options.fields ? redactFields(options.fields) : undefined
    this.retryAfterMs = options.retryAfterMs
    this.extra = options.extra ? (redactValue(options.extra, 0) as Record<string, unknown>) : undefined
    Object.defineProperty(this, BRAND, { value: true })
  }

  /** The wire form `{error:{code,message,...}}`. */
  toJSON(): { error: Record<string, unknown> } {
    return errorBody(this)
  }
}

/** instanceof that survives duplicate copies of the package. */
export function isIicpError(value: unknown): value is IicpError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true
}

/** The catalogue status for a code (500 when unknown). */
export function statusOf(code: string): number {
  return CATALOGUE[code]?.status ?? 500
}

/** Render any error as the wire envelope; unknown errors become a bare server_error (no stack, no message leak). */
export function errorBody(err: unknown): { error: Record<string, unknown> } {
  if (!isIicpError(err)) return { error: { code: 'server_error', message: ERROR_CATALOGUE.server_error.message } }
  const body: Record<string, unknown> = { code: err.code, message: err.message }
  if (err.fields) body.fields = err.fields
  if (err.retryAfterMs !== undefined) body.retry_after_ms = err.retryAfterMs
  if (err.extra) Object.assign(body, err.extra)
  return { error: body }
}

type HeaderMap = Record<string, string | string[] | undefined>

/** A code a peer sent is kept only when it has the shape of a code; anything else might be prose or markup. */
const CODE_SHAPE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/
/** Extra keys worth carrying from a peer's error body (core §7 capacity_exceeded; dir §7.3 E039 reason). */
const EXTRA_KEYS = ['qos_class', 'reason'] as const
const MAX_MESSAGE = 300
const MAX_RETRY_AFTER_MS = 86_400_000
const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'validation_error',
  401: 'unauthorized',
  402: 'insufficient_credits',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'validation_error',
  429: 'rate_limited',
  500: 'server_error',
  502: 'backend_error',
  503: 'service_unavailable',
  504: 'task_timeout',
}
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504])

function headerValue(headers: HeaderMap, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== name) continue
    const first = Array.isArray(v) ? v[0] : v
    if (typeof first === 'string') return first
  }
  return undefined
}

function fallbackCode(status: number): ErrorCode {
  return STATUS_CODES[status] ?? (status >= 500 ? 'server_error' : 'invalid_response')
}

function clampMs(ms: number): number | undefined {
  if (!Number.isFinite(ms) || ms < 0) return undefined
  return Math.min(Math.round(ms), MAX_RETRY_AFTER_MS)
}

/** `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
function parseRetryAfterHeader(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  if (/^\d+(\.\d+)?$/.test(v)) return clampMs(Number(v) * 1000)
  const at = Date.parse(v)
  if (Number.isNaN(at)) return undefined
  return clampMs(Math.max(0, at - now))
}

function numberField(obj: Record<string, unknown>, key: string): number | undefined {
  const v = obj[key]
  if (typeof v === 'number') return v
  if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim())) return Number(v)
  return undefined
}

function cleanMessage(text: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
  return flat.length > MAX_MESSAGE ? `${flat.slice(0, MAX_MESSAGE)}…` : flat
}

function readFields(value: unknown): Record<string, string[]> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const out: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(value)) {
    const msgs = (Array.isArray(v) ? v : [v]).filter((m): m is string => typeof m === 'string').map(cleanMessage)
    if (msgs.length > 0) out[k.slice(0, 200)] = msgs
  }
  return Object.keys(out).length > 0 ? out : undefined
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function parseJsonObject(body: string): Record<string, unknown> | 'not_json' | 'not_object' {
  const text = body.trim()
  if (!text.startsWith('{') && !text.startsWith('[')) return 'not_json'
  try {
    const value: unknown = JSON.parse(text)
    return isRecord(value) ? value : 'not_object'
  } catch {
    return 'not_json'
  }
}

/**
 * Turn a non-2xx HTTP answer into an IicpError, whatever its shape (core §7; reference-implementations.md §3.0):
 * nested `{error:{code,message,fields,retry_after_ms,…}}`, flat `{error:"IICP-E034",message,retry_after}`,
 * `{code,message}`, `{error_code,error_message}`, HTML, text or empty bodies. A non-JSON body is never echoed.
 * `retryAfterMs` comes from `retry_after_ms`, then `retry_after` (s), then the `Retry-After` header.
 * `retryable` comes from the catalogue for known codes, else from the status (429/502/503/504).
 * `now` (ms since epoch) resolves an HTTP-date `Retry-After`.
 */
export function errorFromResponse(
  status: number,
  body: string,
  headers: Record<string, string | string[] | undefined> = {},
  now: number = Date.now(),
): IicpError {
  const parsed = parseJsonObject(body)
  let code: string | undefined
  let message: string | undefined
  let fields: Record<string, string[]> | undefined
  let retryAfterMs: number | undefined
  let extra: Record<string, unknown> | undefined

  if (typeof parsed === 'object') {
    const nested = isRecord(parsed.error) ? parsed.error : undefined
    const src = nested ?? parsed
    const rawCode =
      nested?.code ?? (typeof parsed.error === 'string' ? parsed.error : undefined) ?? parsed.code ?? parsed.error_code
    const rawMessage = src.message ?? parsed.message ?? parsed.error_message ?? parsed.detail
    if (typeof rawCode === 'string' && CODE_SHAPE.test(rawCode)) code = rawCode
    // A flat `error` string that is prose rather than a code is the message.
    else if (typeof parsed.error === 'string' && rawMessage === undefined) message = cleanMessage(parsed.error)
    if (typeof rawMessage === 'string' && rawMessage.trim() !== '') message = cleanMessage(rawMessage)
    fields = readFields(src.fields ?? parsed.fields)
    const ms = numberField(src, 'retry_after_ms') ?? numberField(parsed, 'retry_after_ms')
    const s = numberField(src, 'retry_after') ?? numberField(parsed, 'retry_after')
    retryAfterMs = ms !== undefined ? clampMs(ms) : s !== undefined ? clampMs(s * 1000) : undefined
    for (const key of EXTRA_KEYS) {
      const v = src[key]
      if (typeof v === 'string' && CODE_SHAPE.test(v)) (extra ??= {})[key] = v
    }
    if (message === undefined && code === undefined) message = `HTTP ${status} with an unrecognised JSON body`
  } else if (parsed === 'not_object') {
    message = `HTTP ${status} with an unrecognised JSON body`
  } else {
    message = body.trim() === '' ? `HTTP ${status} with an empty body` : `HTTP ${status} with a non-JSON body`
  }

  retryAfterMs ??= parseRetryAfterHeader(headerValue(headers, 'retry-after'), now)
  const finalCode = code ?? fallbackCode(status)
  const spec = CATALOGUE[finalCode]
  const retryable = spec ? spec.retryable : RETRYABLE_STATUSES.has(status)
  const options: IicpErrorOptions = { status, retryable }
  if (fields) options.fields = fields
  if (retryAfterMs !== undefined) options.retryAfterMs = retryAfterMs
  if (extra) options.extra = extra
  return new IicpError(finalCode, message ?? spec?.message ?? `HTTP ${status}`, options)
}
