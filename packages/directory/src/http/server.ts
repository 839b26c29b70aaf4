/**
 * The only file touching req/res: route matching, body cap (413), JSON parsing (400 invalid_json),
 * 404/405 as JSON, and writing replies. Everything else works on RequestContext and Reply.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { IicpError } from '@iicp/protocol'
import type { Logger } from '@iicp/protocol'
import { renderError } from './render-error.js'
import type { Handler, Reply, RequestContext, Route } from './route-table.js'

/** What the listener needs besides the routes. */
export interface ListenerOptions {
  readonly maxBodyBytes: number
  readonly trustProxy: boolean
  /** Fixed origin for tickets and ACKs; undefined = derive from the Host header. */
  readonly publicOrigin: string | undefined
  readonly logger: Logger
}

const EMPTY_QUERY = new URLSearchParams()
const JSON_TYPE = 'application/json; charset=utf-8'
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    // DIR-ADDR-05: CF-Connecting-IP, else the first X-Forwarded-For hop, else the socket.
    const cf = req.headers['cf-connecting-ip']
    if (typeof cf === 'string' && cf.trim()) return cf.trim()
    const fwd = req.headers['x-forwarded-for']
    const first = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(',')[0]?.trim()
    if (first) return first
  }
  const addr = req.socket.remoteAddress ?? ''
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr
}

function requestOrigin(req: IncomingMessage, fixed: string | undefined): string {
  if (fixed) return fixed
  const host = req.headers.host ?? `${req.socket.localAddress ?? '127.0.0.1'}:${req.socket.localPort ?? 0}`
  const tls = (req.socket as { encrypted?: boolean }).encrypted === true
  return `${tls ? 'https' : 'http'}://${host}`
}

function send(res: ServerResponse, reply: Reply, close = false): void {
  const text = reply.raw ?? (reply.body === undefined ? '' : JSON.stringify(reply.body))
  const headers: Record<string, string | number> = {
    'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), 'access-control-allow-origin': '*',
  }
  if (reply.headers) for (const [k, v] of Object.entries(reply.headers)) headers[k] = v
  if (close) headers.connection = 'close'
  res.writeHead(reply.status, headers)
  res.end(text)
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > max) {
      reject(new IicpError('payload_too_large', `Request body exceeds ${max} bytes`))
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > max) {
        req.removeAllListeners('data')
        req.pause()
        reject(new IicpError('payload_too_large', `Request body exceeds ${max} bytes`))
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function parseJson(buf: Buffer): unknown {
  if (buf.length === 0) return {}
  try {
    return JSON.parse(buf.toString('utf8')) as unknown
  } catch {
    throw new IicpError('invalid_json')
  }
}

/** Status line and error for each kind of malformed request node:http's parser reports. */
function clientErrorAnswer(code: string | undefined): { status: number; reason: string; error: IicpError } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, reason: 'Request Header Fields Too Large', error: new IicpError('validation_error', 'Request headers too large', { status: 431 }) }
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { status: 408, reason: 'Request Timeout', error: new IicpError('validation_error', 'Request not completed in time', { status: 408 }) }
  }
  return { status: 400, reason: 'Bad Request', error: new IicpError('validation_error', 'Malformed HTTP request', { status: 400 }) }
}

/**
 * node:http `clientError` listener: a request the parser rejects (a garbage request line, a non-numeric
 * Content-Length, oversized headers, a timed-out request) gets a JSON error and the connection is closed,
 * instead of node's bare-text `400 Bad Request`.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // node:http's own default checks the same internal field: bytes of another answer already went out on
  // this connection (pipelining), so a second status line would corrupt it.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight) {
    socket.destroy()
    return
  }
  const { status, reason, error } = clientErrorAnswer(err.code)
  const body = JSON.stringify(renderError(error).body)
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`
    + `access-control-allow-origin: *\r\nconnection: close\r\n\r\n${body}`)
}

/** Build a node:http request listener over a route table. */
export function createRequestListener(routes: readonly Route[], opts: ListenerOptions): RequestListener {
  const exact = new Map<string, Map<string, Handler>>()
  const prefixes: Array<{ prefix: string; methods: Map<string, Handler> }> = []
  for (const r of routes) {
    if (r.prefix) {
      let entry = prefixes.find((p) => p.prefix === r.path)
      if (!entry) prefixes.push((entry = { prefix: r.path, methods: new Map() }))
      entry.methods.set(r.method, r.handler)
    } else {
      let m = exact.get(r.path)
      if (!m) exact.set(r.path, (m = new Map()))
      m.set(r.method, r.handler)
    }
  }
  const log = opts.logger

  async function run(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    let methods = exact.get(path)
    let param = ''
    if (!methods) {
      for (const p of prefixes) {
        if (path.startsWith(p.prefix) && path.length > p.prefix.length && !path.includes('/', p.prefix.length)) {
          methods = p.methods
          try {
            param = decodeURIComponent(path.slice(p.prefix.length))
          } catch {
            param = path.slice(p.prefix.length)
          }
          break
        }
      }
    }
    const method = req.method ?? 'GET'
    if (method === 'OPTIONS' && methods) {
      // CORS preflight: browser SDKs read the directory cross-origin, as they do the reference one.
      res.writeHead(204, {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': [...methods.keys(), 'OPTIONS'].join(', '),
        'access-control-allow-headers': 'content-type, authorization, x-node-id, traceparent, tracestate, x-iicp-version',
        'access-control-max-age': '86400',
      })
      res.end()
      return
    }
    const handler = methods?.get(method === 'HEAD' ? 'GET' : method)
    if (!methods || !handler) {
      const reply = renderError(methods ? new IicpError('method_not_allowed') : new IicpError('not_found'))
      const allow: Record<string, string> = methods ? { allow: [...methods.keys()].join(', ') } : {}
      // Unread request bodies would poison a keep-alive connection; close it instead.
      send(res, { ...reply, headers: { ...reply.headers, ...allow } }, !req.complete)
      return
    }
    let body: unknown = {}
    if (BODY_METHODS.has(method)) {
      try {
        body = parseJson(await readBody(req, opts.maxBodyBytes))
      } catch (err) {
        send(res, renderError(err), !req.complete)
        return
      }
    }
    const ctx: RequestContext = {
      method,
      path,
      query: q === -1 ? EMPTY_QUERY : new URLSearchParams(url.slice(q + 1)),
      headers: req.headers,
      body,
      ip: clientIp(req, opts.trustProxy),
      origin: requestOrigin(req, opts.publicOrigin),
      param,
    }
    let reply: Reply
    try {
      reply = await handler(ctx)
    } catch (err) {
      reply = renderError(err)
      if (reply.status >= 500) log.error({ err: err instanceof Error ? err.message : String(err), path }, 'directory handler failed')
    }
    send(res, reply)
  }

  return (req, res) => {
    run(req, res).catch((err: unknown) => {
      // Last resort: a failure while writing; answer once if nothing went out yet.
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'directory request failed')
      if (!res.headersSent) send(res, renderError(err), true)
      else res.destroy()
    })
  }
}
