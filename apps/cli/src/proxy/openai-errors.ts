/**
 * OpenAI-shaped errors for the proxy (`{"error":{"message","type","param","code"}}`, the shape the `openai`
 * package parses into APIError): every failure, IICP ones included, leaves in that shape with a fitting
 * status. Messages come from IicpError (redacted at construction); never a stack, token or payload.
 */
import { isIicpError } from '@iicp/protocol'

/** The OpenAI error envelope. */
export interface OpenAiErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly param: string | null; readonly code: string | null }
}

/** An HTTP error the proxy answers with. */
export class ProxyError extends Error {
  readonly status: number
  readonly type: string
  readonly param: string | null
  readonly code: string | null
  constructor(status: number, message: string, code: string | null, param: string | null = null, type = typeFor(status)) {
    super(message)
    this.name = 'ProxyError'
    this.status = status
    this.type = type
    this.param = param
    this.code = code
  }

  /** The OpenAI error body. */
  body(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

/** OpenAI's error `type` for a status. */
export function typeFor(status: number): string {
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 429) return 'rate_limit_error'
  if (status >= 500) return 'server_error'
  return 'invalid_request_error'
}

/** Map anything a handler threw to a ProxyError (unknown errors become a bare 500). */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err
  if (isIicpError(err)) {
    let status = err.status ?? 500
    // OpenAI reports invalid input as 400; a caller's own abort (499) cannot be answered, 504 says why.
    if (status === 422) status = 400
    if (status === 499) status = 504
    const param = err.fields ? Object.keys(err.fields)[0] ?? null : null
    return new ProxyError(status, err.message, err.code, param)
  }
  return new ProxyError(500, 'The proxy failed unexpectedly', 'server_error')
}
