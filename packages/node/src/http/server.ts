/**
 * The only file touching node:http's req/res: route lookup, body limit, the body's media type, CORS preflight,
 * error rendering, and connection tracking so close() can drop idle keep-alive sockets.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { IicpError } from '@iicp/protocol'
import { PREFLIGHT_HEADERS } from './routes.js'
import type { Route, RouteRequest, RouteTable } from './routes.js'
import { JSON_CONTENT_TYPE, JSON_HEADERS, renderError } from './render-error.js'
import type { HttpReply } from './render-error.js'

function send(res: ServerResponse, reply: HttpReply): void {
  if (res.headersSent || res.destroyed) return
  // An explicit length keeps node:http from falling back to chunked encoding. It travels in the object handed
  // to writeHead: a setHeader() first would send writeHead down node's slower merging path on every request.
  const length = Buffer.byteLength(reply.body)
  let headers: Record<string, string | number>
  if (reply.headers === JSON_HEADERS) {
    headers = { 'content-type': JSON_CONTENT_TYPE, 'access-control-allow-origin': '*', 'content-length': length }
  } else {
    // Object.assign, not `{ ...reply.headers, 'content-length': length }`: on Node 20 that spread takes V8's slow
    // clone path (about 4 µs and its garbage per traced task); assign copies the same own keys in the same order.
    headers = Object.assign({}, reply.headers)
    headers['content-length'] = length
  }
  res.writeHead(reply.status, headers)
  res.end(reply.body)
}

/** Send a route's reply: at once when it is ready, else when its promise settles. */
function answer(res: ServerResponse, route: Route, req: RouteRequest): void {
  let reply: HttpReply | Promise<HttpReply>
  try {
    reply = route.handle(req)
  } catch (err) {
    send(res, renderError(err))
    return
  }
  if (reply instanceof Promise) reply.then((r) => send(res, r), (err: unknown) => send(res, renderError(err)))
  else send(res, reply)
}

function refuse(req: IncomingMessage, res: ServerResponse, err: IicpError): void {
  // Discard whatever body is left so the client reads our answer instead of a reset.
  req.resume()
  res.shouldKeepAlive = false
  send(res, renderError(err))
}

const JSON_TYPE = 'application/json'
// RFC 6838 §4.2 restricted-name characters before a `+json` structured-syntax suffix (RFC 6839 §3.1).
const JSON_SUFFIX_TYPE = /^application\/[a-z0-9][a-z0-9!#$&^_.+-]*\+json$/

/**
 * Whether a request body may be read as JSON by its Content-Type (wire.md §0.2; RFC 8259 §8.1): `application/json`
 * or a `+json` type, in any case, with any parameters, but a charset only if it is UTF-8. No header at all is
 * accepted too: the reference node reads every body as JSON whatever the header says, and clients that leave it
 * out are not sending anything else.
 */
export function isJsonMediaType(header: string | undefined): boolean {
  if (header === undefined || header === JSON_TYPE || header === JSON_CONTENT_TYPE) return true
  const [type = '', ...params] = header.split(';')
  const essence = type.trim().toLowerCase()
  if (essence === '') return params.length === 0
  if (essence !== JSON_TYPE && !JSON_SUFFIX_TYPE.test(essence)) return false
  for (const param of params) {
    const eq = param.indexOf('=')
    if (eq === -1 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue
    const charset = param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase()
    if (charset !== 'utf-8' && charset !== 'utf8') return false
  }
  return true
}

/** A request listener serving a route table, with a body limit in bytes. */
export function createRequestListener(routes: RouteTable, maxBodyBytes: number): RequestListener {
  return (req, res) => {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const methods = routes.get(path)
    const method = req.method ?? 'GET'
    if (methods === undefined) {
      refuse(req, res, new IicpError('not_found', 'No such route'))
      return
    }
    if (method === 'OPTIONS') {
      req.resume()
      res.writeHead(204, PREFLIGHT_HEADERS)
      res.end()
      return
    }
    const route = methods.get(method)
    if (route === undefined) {
      res.setHeader('allow', [...methods.keys(), 'OPTIONS'].join(', '))
      refuse(req, res, new IicpError('method_not_allowed'))
      return
    }
    if (!route.readsBody) {
      req.resume()
      answer(res, route, { headers: req.headers, body: undefined })
      return
    }
    if (!isJsonMediaType(req.headers['content-type'])) {
      refuse(req, res, new IicpError('unsupported_media_type', 'Content-Type must be application/json (UTF-8)'))
      return
    }
    const declared = req.headers['content-length']
    if (declared !== undefined && Number(declared) > maxBodyBytes) {
      refuse(req, res, new IicpError('payload_too_large', `Request body exceeds ${maxBodyBytes} bytes`))
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = false
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return
      size += chunk.length
      if (size > maxBodyBytes) {
        tooLarge = true
        chunks.length = 0
        refuse(req, res, new IicpError('payload_too_large', `Request body exceeds ${maxBodyBytes} bytes`))
        return
      }
      chunks.push(chunk)
    })
    // No 'error' listener: a request destroyed mid-body (the client vanished) never emits 'end', so it gets no
    // answer, and node:http emits the error only to listeners, so none costs nothing per request.
    req.on('end', () => {
      if (tooLarge) return
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)
      answer(res, route, { headers: req.headers, body })
    })
  }
}

/** A node:http server for a route table (or a listener composed around it, e.g. with relay routes in front). */
export function createNodeServer(routes: RouteTable, maxBodyBytes: number, listener: RequestListener = createRequestListener(routes, maxBodyBytes)): Server {
  const server = createServer(listener)
  // A client may half-close after its request (shutdown(SHUT_WR), `nc -N`, some HTTP/1.0 stacks): node:http would
  // then drop the request still being served and close. Keep the write side open so the answer still goes out;
  // node:http ends the socket after that last answer. The single-port front listener accepts sockets with
  // allowHalfOpen off (right for native sessions), so HTTP turns it on per socket; node reads it when the FIN arrives.
  // `httpAllowHalfOpen` is node:http's own switch for this (untyped, present since Node 0.x); a test pins the result.
  ;(server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true
  server.prependListener('connection', (socket: Socket) => {
    socket.allowHalfOpen = true
  })
  server.on('clientError', answerClientError)
  return server
}

/** Status line and error for what node:http's parser refused: oversized headers are 431, anything else 400. */
function clientErrorAnswer(code: string | undefined): { status: number; reason: string; error: IicpError } {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, reason: 'Request Header Fields Too Large', error: new IicpError('validation_error', 'Request headers too large', { status: 431 }) }
  }
  return { status: 400, reason: 'Bad Request', error: new IicpError('validation_error', 'Malformed HTTP request', { status: 400 }) }
}

/** Malformed HTTP gets a JSON error instead of node's bare text answer, then the connection closes. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  // Part of an earlier answer already went out on this connection (pipelining): a second status line would corrupt it.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
  if (!socket.writable || err.code === 'ECONNRESET' || inFlight) {
    socket.destroy()
    return
  }
  const { status, reason, error } = clientErrorAnswer(err.code)
  const body = renderError(error).body
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${JSON_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`
    + `access-control-allow-origin: *\r\nconnection: close\r\n\r\n${body}`)
}
