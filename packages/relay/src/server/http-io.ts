/**
 * The only relay-server code that touches req/res: body limits, JSON replies, CORS, error rendering
 * (core §7: every error is `{"error":{"code","message"}}`, never HTML, never a stack).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { IicpError, errorBody, isIicpError, statusOf } from '@iicp/protocol'

/** The reference relay sends these on every reply (reference capture, official-sdks.md §5.4). */
export const CORS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Authorization, traceparent, tracestate, X-IICP-Version, X-IICP-Consumer-Token',
})

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'content-length', 'x-forwarded-for', 'forwarded', 'x-real-ip',
])

/** Request headers worth carrying to the worker: everything but hop-by-hop and client-address headers. */
export function forwardableHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {}
  const raw = req.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase()
    if (HOP_BY_HOP.has(name)) continue
    const value = raw[i + 1] as string
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`
  }
  return out
}

/** Headers from a worker that may reach the consumer. */
export function responseHeaders(headers: Record<string, string> | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...CORS_HEADERS }
  if (headers) for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k.toLowerCase())) out[k.toLowerCase()] = v
  out['content-type'] ??= 'application/json'
  return out
}

/** Read the whole body, refusing more than `maxBytes` with 413 `payload_too_large`. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    readBodyThen(req, maxBytes, (err, body) => {
      if (err) reject(err)
      else resolve(body as Buffer)
    })
  })
}

/** {@link readBody} with a callback (no promise per request on the relay's task path); `done` runs once. */
export function readBodyThen(req: IncomingMessage, maxBytes: number, done: (err: IicpError | undefined, body: Buffer | undefined) => void): void {
  const declared = Number(req.headers['content-length'] ?? -1)
  if (declared > maxBytes) {
    done(tooLarge(maxBytes), undefined)
    return
  }
  let first: Buffer | undefined
  let chunks: Buffer[] | undefined
  let size = 0
  const onData = (chunk: Buffer): void => {
    size += chunk.length
    if (size > maxBytes) {
      cleanup()
      done(tooLarge(maxBytes), undefined)
      return
    }
    if (first === undefined) first = chunk
    else (chunks ??= [first]).push(chunk)
  }
  const onEnd = (): void => {
    cleanup()
    done(undefined, chunks !== undefined ? Buffer.concat(chunks, size) : first ?? Buffer.alloc(0))
  }
  const onError = (cause: Error): void => {
    cleanup()
    done(new IicpError('aborted', 'request body was cut off', { cause }), undefined)
  }
  const cleanup = (): void => {
    req.off('data', onData)
    req.off('end', onEnd)
    req.off('error', onError)
  }
  req.on('data', onData)
  req.on('end', onEnd)
  req.on('error', onError)
}

function tooLarge(maxBytes: number): IicpError {
  return new IicpError('payload_too_large', `request body exceeds ${maxBytes} bytes`)
}

/** Parse a JSON body into an object, or throw 400 `invalid_json`. */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch (cause) {
    throw new IicpError('invalid_json', undefined, { cause })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new IicpError('invalid_json', 'request body must be a JSON object')
  }
  return value as Record<string, unknown>
}

/** Send a JSON body (already encoded, or a value to encode). */
export function sendJson(res: ServerResponse, status: number, body: string | Buffer | object, headers?: OutgoingHttpHeaders): void {
  if (res.headersSent || res.destroyed) return
  const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
  res.writeHead(status, { ...CORS_HEADERS, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers })
  res.end(payload)
}

/** Send 204 with CORS headers. */
export function sendNoContent(res: ServerResponse): void {
  if (res.headersSent || res.destroyed) return
  res.writeHead(204, CORS_HEADERS)
  res.end()
}

/** Render any error as the wire envelope with its status; unknown errors become a bare 500 `server_error`. */
export function sendError(res: ServerResponse, err: unknown): void {
  const status = isIicpError(err) ? err.status ?? statusOf(err.code) : 500
  const headers: OutgoingHttpHeaders = {}
  if (isIicpError(err) && err.retryAfterMs !== undefined) headers['retry-after'] = String(Math.ceil(err.retryAfterMs / 1000))
  // A 413 leaves unread bytes on the socket; closing is cheaper than draining them.
  if (status === 413) headers.connection = 'close'
  sendJson(res, status, errorBody(err), headers)
}

/** The bearer token of a request, if any. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization
  if (!auth || !auth.startsWith('Bearer ')) return undefined
  const token = auth.slice(7).trim()
  return token.length > 0 ? token : undefined
}
