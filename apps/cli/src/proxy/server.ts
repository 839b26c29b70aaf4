/**
 * The compat proxy server (wire.md §6.5 port 9483): OpenAI (`routes.ts`), Ollama (`ollama.ts`) and Anthropic
 * (`anthropic.ts`) endpoints on one listener, and the only file touching `req`/`res`. It bounds and parses
 * bodies, dispatches through one route table, streams replies piece by piece, cancels the mesh call when the
 * caller hangs up, and renders every failure in the caller's ecosystem's error shape. One IicpClient (one
 * keep-alive pool) serves every request; `close()` is idempotent and leaves no socket behind.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { IicpClient, CHAT_INTENT } from '@iicp/client'
import type { ClientConfig } from '@iicp/client'
import { IicpError } from '@iicp/protocol'
import type { Qos } from '@iicp/protocol'
import { ModelCatalogue } from './model-catalogue.js'
import { ProxyError, toProxyError } from './openai-errors.js'
import { anthropicErrorBody, anthropicMessages } from './anthropic.js'
import { ollamaChat, ollamaErrorBody, ollamaTags, ollamaVersion } from './ollama.js'
import { chatCompletions, getModel, listModels } from './routes.js'
import type { ProxyContext, ProxyReply } from './routes.js'

/** Options of {@link startProxy}. */
export interface ProxyOptions {
  /** How the proxy reaches the mesh (directory, private endpoints, timeout …). */
  readonly client: ClientConfig
  /** Listen port; 0 = any free port. @default 9483 */
  readonly port?: number
  /** Listen address. @default '127.0.0.1' */
  readonly host?: string
  /** QoS class asked of every routed task. */
  readonly qos?: Qos
  /** How long the model list from discover is reused. @default 2000 */
  readonly modelsCacheMs?: number
  /** Model names that mean "any chat node". @default ['auto'] */
  readonly anyModel?: readonly string[]
  /** Largest accepted request body. @default 1048576 */
  readonly maxBodyBytes?: number
  /** Milliseconds since the epoch (model-cache expiry). @default Date.now */
  readonly clock?: () => number
  /** Called once per answered request (never with bodies, prompts or replies), e.g. for an access line. */
  readonly onRequest?: (entry: ProxyRequestLog) => void
}

/** One answered request, as `onRequest` sees it. */
export interface ProxyRequestLog {
  readonly method: string
  readonly path: string
  /** The status answered; 499 when the caller hung up before the answer (the mesh call is cancelled then). */
  readonly status: number
  /** The serving node, when a chat was routed. */
  readonly nodeId: string | undefined
  /** The error code, when the answer is an error. */
  readonly code: string | undefined
  readonly latencyMs: number
}

/** A listening proxy. */
export interface RunningProxy {
  /** `http://127.0.0.1:<port>`; OpenAI clients take `url + '/v1'` as their base URL. */
  readonly url: string
  readonly port: number
  /** Stop listening, drop connections, close the client. Idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

const CLOSE_GRACE_MS = 2000

/** The `Server` header the official SDKs' proxies send on every response (official-sdks.md §1). */
const SERVER_HEADER = 'iicp-proxy'

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        reject(new BodyTooLarge())
        req.resume()
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

/** Which ecosystem a path belongs to, so its errors leave in that ecosystem's shape. */
type Dialect = 'openai' | 'ollama' | 'anthropic'

function dialectOf(path: string): Dialect {
  if (path.startsWith('/api/')) return 'ollama'
  if (path === '/v1/messages' || path.startsWith('/v1/messages/')) return 'anthropic'
  return 'openai'
}

function errorReply(dialect: Dialect, err: ProxyError): ProxyReply {
  const body = dialect === 'ollama' ? ollamaErrorBody(err) : dialect === 'anthropic' ? anthropicErrorBody(err) : err.body()
  return { status: err.status, body, headers: err.code !== null ? { 'x-iicp-error-code': err.code } : {} }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

/** Write a reply: JSON at once, a stream piece by piece as it is produced (awaiting drain; stops when the caller hangs up). */
export async function writeReply(res: ServerResponse, reply: ProxyReply): Promise<void> {
  if ('stream' in reply) {
    res.writeHead(reply.status, { ...reply.headers, server: SERVER_HEADER, 'content-type': reply.contentType, 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
    // Breaking out of for-await returns the iterator, which cancels the mesh call behind it.
    for await (const piece of reply.stream) {
      if (res.destroyed) break
      if (!res.write(piece)) await drained(res)
    }
    res.end()
    return
  }
  const text = JSON.stringify(reply.body)
  res.writeHead(reply.status, { ...reply.headers, server: SERVER_HEADER, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** One route: its method and a handler taking the parsed JSON body (GET handlers ignore it). */
interface Route {
  readonly method: 'GET' | 'POST'
  readonly handle: (ctx: ProxyContext, body: unknown, signal: AbortSignal) => Promise<ProxyReply> | ProxyReply
}

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/v1/chat/completions', { method: 'POST', handle: chatCompletions }],
  ['/v1/models', { method: 'GET', handle: (ctx) => listModels(ctx) }],
  ['/v1/messages', { method: 'POST', handle: anthropicMessages }],
  ['/api/chat', { method: 'POST', handle: ollamaChat }],
  ['/api/tags', { method: 'GET', handle: (ctx) => ollamaTags(ctx) }],
  ['/api/version', { method: 'GET', handle: () => ollamaVersion() }],
])

async function readJson(req: IncomingMessage, maxBodyBytes: number): Promise<unknown> {
  let text: string
  try {
    text = await readBody(req, maxBodyBytes)
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new ProxyError(413, `Request body exceeds ${maxBodyBytes} bytes`, 'payload_too_large')
    throw err
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new ProxyError(400, 'The request body is not valid JSON', 'invalid_json')
  }
}

async function dispatch(ctx: ProxyContext, req: IncomingMessage, path: string, maxBodyBytes: number, signal: AbortSignal): Promise<ProxyReply> {
  const method = req.method ?? 'GET'
  const route = ROUTES.get(path)
  if (route === undefined && path.startsWith('/v1/models/')) {
    if (method !== 'GET') throw new ProxyError(405, `Method ${method} not allowed on ${path}; use GET`, 'method_not_allowed')
    return getModel(ctx, decodeURIComponent(path.slice('/v1/models/'.length)))
  }
  if (route === undefined) throw new ProxyError(404, `Unknown request URL: ${method} ${path || '/'}`, 'unknown_url')
  if (method !== route.method) throw new ProxyError(405, `Method ${method} not allowed on ${path}; use ${route.method}`, 'method_not_allowed')
  const body = route.method === 'POST' ? await readJson(req, maxBodyBytes) : undefined
  return route.handle(ctx, body, signal)
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new IicpError('invalid_config', `the proxy cannot listen on ${host}:${port} (${err.code ?? 'error'})`, { cause: err }))
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

function checkInt(value: unknown, option: string, min: number, max: number): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)) {
    throw new IicpError('invalid_config', `proxy option ${option} must be an integer from ${min} to ${max}`)
  }
}

/** Start the OpenAI-, Ollama- and Anthropic-compatible proxy. Throws IicpError `invalid_config` on bad options or a taken port. */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  checkInt(options.port, 'port', 0, 65535)
  checkInt(options.modelsCacheMs, 'modelsCacheMs', 0, 60_000)
  checkInt(options.maxBodyBytes, 'maxBodyBytes', 1024, 64 * 1024 * 1024)
  if (options.anyModel !== undefined && !options.anyModel.every((m) => typeof m === 'string' && m.length > 0)) {
    throw new IicpError('invalid_config', 'proxy option anyModel must list non-empty model names')
  }
  const client = new IicpClient(options.client)
  const clock = options.clock ?? Date.now
  const ctx: ProxyContext = {
    client,
    catalogue: new ModelCatalogue(client, CHAT_INTENT, options.modelsCacheMs ?? 2000, clock),
    anyModel: new Set(options.anyModel ?? ['auto']),
    qos: options.qos,
    clock,
    directoryUrl: options.client.directoryUrl ?? 'https://iicp.network/api',
  }
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024
  const onRequest = options.onRequest
  let draining = false
  const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => {
    const started = performance.now()
    const path = new URL(req.url ?? '/', 'http://proxy').pathname.replace(/\/+$/, '')
    // The caller hanging up cancels the mesh call behind its request.
    const hangUp = new AbortController()
    res.once('close', () => {
      if (!res.writableFinished) hangUp.abort(new IicpError('aborted', 'The proxy caller closed the connection'))
    })
    // Once closing, every answer ends its connection, so close() need not wait out the keep-alive.
    const finish = (reply: ProxyReply): Promise<void> => writeReply(res, draining ? { ...reply, headers: { ...reply.headers, connection: 'close' } } : reply)
    const log = (status: number, nodeId: string | undefined, code: string | undefined): void => {
      if (!onRequest) return
      onRequest({ method: req.method ?? 'GET', path: new URL(req.url ?? '/', 'http://proxy').pathname, status, nodeId, code, latencyMs: performance.now() - started })
    }
    const fail = (err: unknown): void => {
      if (hangUp.signal.aborted) {
        // Nobody is left to answer; the log says the caller went away (nginx's 499), not that the mesh failed.
        res.destroy()
        log(499, undefined, 'aborted')
        return
      }
      const e = toProxyError(err)
      if (res.headersSent) {
        res.destroy()
        return
      }
      void finish(errorReply(dialectOf(path), e))
      log(e.status, undefined, e.code ?? undefined)
    }
    dispatch(ctx, req, path, maxBodyBytes, hangUp.signal).then(
      (reply) => finish(reply).then(() => {
        const nodeId = ('servedBy' in reply ? reply.servedBy?.() : undefined) ?? reply.headers?.['x-iicp-node-id']
        if (hangUp.signal.aborted) log(499, nodeId, 'aborted')
        else log(reply.status, nodeId, undefined)
      }, fail),
      fail,
    )
  })
  const host = options.host ?? '127.0.0.1'
  try {
    await listen(server, options.port ?? 9483, host)
  } catch (err) {
    await client.close()
    throw err
  }
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      draining = true
      await new Promise<void>((resolve) => {
        // In-flight chats get a short grace to finish; idle keep-alive sockets go at once.
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS)
        server.close(() => {
          clearTimeout(force)
          resolve()
        })
        server.closeIdleConnections()
      })
      await client.close()
    })()
    return closing
  }
  const shown = host.includes(':') ? `[${host}]` : host
  return { url: `http://${shown}:${port}`, port, close, [Symbol.asyncDispose]: close }
}
