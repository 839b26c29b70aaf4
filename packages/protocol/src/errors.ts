/**
 * The error catalogue and IicpError (wire.md §1.13, §2.4). CONTRACT STUB: the protocol-errors
 * helper completes the catalogue and implementations; names and signatures are fixed.
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

export const ERROR_CATALOGUE = {
  validation_error: { status: 422, retryable: false, message: 'Input validation failed', wire: true },
  invalid_json: { status: 400, retryable: false, message: 'Request body is not valid JSON', wire: true },
  payload_too_large: { status: 413, retryable: false, message: 'Request body too large', wire: true },
  unauthorized: { status: 401, retryable: false, message: 'Missing or invalid credentials', wire: true },
  forbidden: { status: 403, retryable: false, message: 'Forbidden', wire: true },
  not_found: { status: 404, retryable: false, message: 'Resource not found', wire: true },
  method_not_allowed: { status: 405, retryable: false, message: 'Method not allowed', wire: true },
  conflict: { status: 409, retryable: false, message: 'Conflict', wire: true },
  rate_limited: { status: 429, retryable: true, message: 'Too many requests', wire: true },
  capacity_exceeded: { status: 429, retryable: true, message: 'Node at capacity', wire: true },
  unknown_intent: { status: 422, retryable: false, message: 'Intent not served by this node', wire: true },
  task_timeout: { status: 504, retryable: true, message: 'Task exceeded its timeout', wire: true },
  backend_error: { status: 502, retryable: true, message: 'Backend failed', wire: true },
  server_error: { status: 500, retryable: true, message: 'An internal error occurred', wire: true },
  service_unavailable: { status: 503, retryable: true, message: 'Service unavailable', wire: true },
  liveness_failed: { status: 422, retryable: false, message: 'Endpoint liveness probe failed', wire: true },
  'IICP-E033': { status: 503, retryable: false, message: 'No nodes available for intent', wire: true },
  'IICP-E034': { status: 429, retryable: true, message: 'Too many registration attempts', wire: true },
  'IICP-E035': { status: 422, retryable: false, message: 'Endpoint host is not routable', wire: true },
  'IICP-E039': { status: 503, retryable: true, message: 'Relay unavailable', wire: true },
  'IICP-E049': { status: 403, retryable: false, message: 'CX key change requires current_node_token', wire: true },
  'IICP-E050': { status: 403, retryable: false, message: 'Routing-field change requires ownership proof', wire: true },
  'IICP-POLICY-001': { status: 403, retryable: false, message: 'Intent refused by risk policy', wire: true },
  'IICP-POLICY-ROUTING': { status: 403, retryable: false, message: 'Every candidate refused by routing policy', wire: false },
  'IICP-CX-REQUIRED': { status: 400, retryable: false, message: 'Confidentiality required but node has no CX key', wire: false },
  'IICP-CX-RESP-REQUIRED': { status: 502, retryable: true, message: 'Node answered in plaintext though it advertised response encryption', wire: false },
  'IICP-CX-02': { status: 400, retryable: false, message: 'iicp_conf decrypt failed', wire: true },
  'IICP-CX-03': { status: 400, retryable: false, message: 'Encrypted response requested without an encrypted request', wire: true },
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

/** The one error type every @iicp package throws. Users match on `code`. */
export class IicpError extends Error {
  readonly code: string
  readonly status: number | undefined
  readonly retryable: boolean
  readonly fields: Record<string, string[]> | undefined
  readonly retryAfterMs: number | undefined
  readonly extra: Record<string, unknown> | undefined
  declare readonly [BRAND]: true

  constructor(code: ErrorCode | (string & {}), message?: string, options: IicpErrorOptions = {}) {
    const spec = (ERROR_CATALOGUE as Record<string, ErrorSpec | undefined>)[code]
    super(message ?? spec?.message ?? code, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'IicpError'
    this.code = code
    this.status = options.status ?? spec?.status
    this.retryable = options.retryable ?? spec?.retryable ?? false
    this.fields = options.fields
    this.retryAfterMs = options.retryAfterMs
    this.extra = options.extra
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
  return (ERROR_CATALOGUE as Record<string, ErrorSpec | undefined>)[code]?.status ?? 500
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

/**
 * Turn a non-2xx HTTP answer into an IicpError, whatever its shape: nested `{error:{code,message}}`,
 * flat `{error:"CODE",message}`, `{code,message}`, HTML or empty bodies. Reads Retry-After.
 * CONTRACT STUB — implemented by the protocol-errors helper.
 */
export function errorFromResponse(status: number, body: string, headers: Record<string, string | string[] | undefined> = {}): IicpError {
  void body
  void headers
  return new IicpError(status === 429 ? 'rate_limited' : status >= 500 ? 'server_error' : 'validation_error', `HTTP ${status}`, { status })
}
