/**
 * The relay server half (IICP-DIR §7; official-sdks.md §5.3–§5.4): mounts on any node:http server through
 * `handleRequest` and `handleUpgrade`, keeps one session table for every worker transport, and forwards
 * consumers' `/v1/relay-for/{worker_id}/v1/task` (and the mesh route `POST /v1/relay`) to the bound worker.
 */
import { EventEmitter } from 'node:events'
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { RawData, WebSocket } from 'ws'
import { IicpError } from '@iicp/protocol'
import { resolveServerOptions } from '../options.js'
import type { RelayServerOptions, ResolvedRelayServerOptions } from '../options.js'
import { isValidWorkerId, parseRelayBindRequest, parseRelayResultRequest } from '../schemas.js'
import type { RelayBindRequest, RelayBindResponse, RelayForHealthResponse } from '../schemas.js'
import { sourceTag } from '../source-tag.js'
import { FRAME_RESULT, FRAMES_MEDIA_TYPE, MAX_RESULT_BATCH_BYTES, decodeFrame, parseControl, splitFrames } from '../ws-frames.js'
import type { ResultFrameHeader, WsBoundMessage, WsRefusedMessage } from '../ws-frames.js'
import { BindRateLimiter, JtiCache, checkTicket, expectedIssuer, refusals, ticketKeySource } from './bind-gate.js'
import type { TicketKeySource } from './bind-gate.js'
import {
  CORS_HEADERS, bearerToken, forwardableHeaders, parseJsonObject, readBody, readBodyThen, responseHeaders, sendError, sendJson, sendNoContent,
} from './http-io.js'
import { LongPollLink } from './long-poll-link.js'
import { MESH_RELAY_PATH, serveMeshRelay } from './mesh-relay.js'
import { RelaySession, RelaySessionTable, workerGone } from './relay-session.js'
import type { RelayCall, RelayCallResponse, RelayLink, RelayTransportKind } from './relay-session.js'
import { WsLink } from './ws-link.js'
import { forwardStreamAsSse, isStreamingLink, wantsEventStream } from '../tcp/relay-stream.js'

const RELAY_FOR_PREFIX = '/v1/relay-for/'
/** A pull that asks for binary CALL frames (offered as `frames: true` at bind). */
const FRAMES_QUERY = /[?&]frames=1(?:&|$)/
/** Most calls one long-poll pull may carry. */
const MAX_PULL_BATCH = 32

/**
 * Call ids are one random UUID per relay with a counter in its last twelve hex digits: unique within the relay and
 * UUID-shaped like the reference relay's (official-sdks.md §5.2), without a random draw per task. A result is only
 * matched within the session that got the call, so nothing relies on a call id being unguessable.
 */
const CALL_ID_PREFIX = randomUUID().slice(0, 24)
let callCounter = 0

function nextCallId(): string {
  callCounter = (callCounter + 1) % 0x1000000000000
  return CALL_ID_PREFIX + callCounter.toString(16).padStart(12, '0')
}

/** What `bound` and `unbound` events carry. */
export interface RelaySessionEvent {
  workerId: string
  transport: RelayTransportKind
  /** Why the session ended (`unbound` only): `unbind`, `socket_closed`, `pong_timeout`, `liveness_expired`, `rebind`, `relay_closing`. */
  reason?: string
}

/** Events of a relay server. */
export interface RelayServerEvents {
  bound: [RelaySessionEvent]
  unbound: [RelaySessionEvent]
}

/** A relay server you mount on your own node:http server (IICP-DIR §7). */
export interface RelayServer {
  /** Serve a relay path (`/v1/relay/*`, `/v1/relay-for/*`); false when the path is not the relay's. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean
  /** Take a WebSocket upgrade on the relay's path; false when the path is not the relay's. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean
  /** Every bound worker, whatever its transport. */
  readonly sessions: RelaySessionTable
  /**
   * Admit a bind and register the session (for further transports such as native TCP): runs every
   * DIR-RELAY check and throws IicpError on refusal. `makeLink` runs only once the bind is admitted.
   */
  bindSession(request: RelayBindRequest, source: string, makeLink: () => RelayLink): Promise<RelaySession>
  /** End a session; its pending calls fail with 502 `IICP-E031`. */
  dropSession(session: RelaySession, reason: string): void
  on<E extends keyof RelayServerEvents>(event: E, listener: (...args: RelayServerEvents[E]) => void): this
  off<E extends keyof RelayServerEvents>(event: E, listener: (...args: RelayServerEvents[E]) => void): this
  once<E extends keyof RelayServerEvents>(event: E, listener: (...args: RelayServerEvents[E]) => void): this
  /** Drop every session and socket and stop timers. Idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Create a relay server (IICP-DIR §7.1–§7.5). Throws `invalid_config` on bad options. */
export function createRelayServer(options: RelayServerOptions = {}): RelayServer {
  return new RelayServerImpl(resolveServerOptions(options))
}

class RelayServerImpl extends EventEmitter implements RelayServer {
  readonly sessions = new RelaySessionTable()
  readonly #o: ResolvedRelayServerOptions
  readonly #keys: TicketKeySource
  readonly #issuer: string | undefined
  readonly #limiter: BindRateLimiter
  readonly #jtis = new JtiCache()
  readonly #byToken = new Map<string, RelaySession>()
  readonly #wss: WebSocketServer | undefined
  readonly #sweep: NodeJS.Timeout
  #closing: Promise<void> | undefined

  constructor(o: ResolvedRelayServerOptions) {
    super()
    this.#o = o
    this.#keys = ticketKeySource({ directoryKeyHex: o.directoryKeyHex, directoryUrl: o.directoryUrl, now: o.now })
    this.#issuer = expectedIssuer(o.ticketIssuer, o.directoryUrl)
    this.#limiter = new BindRateLimiter(o.bindRateLimit)
    this.#wss = o.transports.has('ws')
      ? new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: o.maxBodyBytes + 64 * 1024 })
      : undefined
    // Long-poll sessions die silently; sweeping frees their slots and fails their calls without waiting for a consumer.
    this.#sweep = setInterval(() => this.#sweepDead(), Math.min(o.sessionLivenessMs, 30_000))
    this.#sweep.unref()
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q < 0 ? url : url.slice(0, q)
    if (path.startsWith(RELAY_FOR_PREFIX)) {
      this.#relayFor(req, res, path)
      return true
    }
    if (path === MESH_RELAY_PATH) {
      serveMeshRelay(req, res, {
        sessions: this.sessions, maxBodyBytes: this.#o.maxBodyBytes, now: this.#o.now,
        drop: (session) => this.dropSession(session, 'liveness_expired'),
        forward: (session, body) => this.#forwardTask(req, res, session, body),
      })
      return true
    }
    const route = ROUTES[path]
    if (route === undefined) {
      if (path !== this.#o.wsPath || this.#wss === undefined) return false
      if (req.method === 'OPTIONS') return this.#preflight(res)
      sendJson(res, 426, { error: { code: 'upgrade_required', message: 'this path takes a WebSocket upgrade' } }, { upgrade: 'websocket' })
      return true
    }
    if (req.method === 'OPTIONS') return this.#preflight(res)
    if (!this.#o.transports.has('http')) {
      sendError(res, new IicpError('not_found', 'this relay offers no HTTP long-poll transport'))
      return true
    }
    if (!route.methods.includes(req.method ?? '')) {
      sendError(res, new IicpError('method_not_allowed', `${path} takes ${route.methods.join(' or ')}`))
      return true
    }
    if (this.#closing) {
      sendError(res, new IicpError('service_unavailable', 'relay is shutting down'))
      return true
    }
    route.handle(this, req, res).catch((err: unknown) => sendError(res, err))
    return true
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    if ((q < 0 ? url : url.slice(0, q)) !== this.#o.wsPath || this.#wss === undefined) return false
    if (this.#closing) {
      socket.destroy()
      return true
    }
    const source = req.socket.remoteAddress ?? 'unknown'
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onWebSocket(ws, source, socket))
    return true
  }

  async bindSession(request: RelayBindRequest, source: string, makeLink: () => RelayLink): Promise<RelaySession> {
    try {
      return await this.#admit(request, source, makeLink)
    } catch (err) {
      this.#o.logger.info({
        worker_id: request.worker_id, source: sourceTag(source), code: err instanceof IicpError ? err.code : 'server_error',
      }, 'relay bind refused')
      throw err
    }
  }

  async #admit(request: RelayBindRequest, source: string, makeLink: () => RelayLink): Promise<RelaySession> {
    const o = this.#o
    const { claims } = await checkTicket(request.bind_ticket, request.worker_id, {
      keys: this.#keys, allowUnsignedBinds: o.allowUnsignedBinds, nodeId: o.nodeId, issuer: this.#issuer, nowMs: o.now(),
    })
    if (this.#closing) throw new IicpError('service_unavailable', 'relay is shutting down')
    // From here to the insert nothing awaits, so two binds for one worker cannot both pass the alive check.
    const now = o.now()
    const existing = this.sessions.get(request.worker_id)
    if (existing && !existing.closed && existing.link.isAlive(now)) throw refusals.alive()
    if (existing === undefined) {
      const waitMs = this.#limiter.take(source, now)
      if (waitMs > 0) {
        o.logger.warn({ source: sourceTag(source) }, 'relay bind rate limited')
        throw refusals.rateLimited(waitMs)
      }
      if (this.sessions.size >= o.maxSessions) this.#sweepDead()
      if (this.sessions.size >= o.maxSessions) throw refusals.capacity()
    }
    if (claims) {
      const nowS = Math.floor(now / 1000)
      if (this.#jtis.has(claims.jti, nowS)) throw refusals.ticketReplayed()
      this.#jtis.add(claims.jti, claims.exp, nowS)
    } else {
      o.logger.warn({ worker_id: request.worker_id }, 'relay accepted an unsigned bind')
    }
    if (existing) this.dropSession(existing, 'rebind')
    const link = makeLink()
    const session = new RelaySession({ workerId: request.worker_id, intent: request.intent, models: request.models, link, boundAtMs: now })
    this.sessions.set(session)
    if (link instanceof LongPollLink) {
      link.attach(session)
      this.#byToken.set(link.token, session)
    }
    o.logger.info({ worker_id: session.workerId, transport: link.transport, source: sourceTag(source), ticketed: claims !== undefined }, 'relay session bound')
    this.emit('bound', { workerId: session.workerId, transport: link.transport })
    return session
  }

  dropSession(session: RelaySession, reason: string, err?: IicpError): void {
    if (session.closed) return
    this.sessions.delete(session)
    if (session.link instanceof LongPollLink) this.#byToken.delete(session.link.token)
    session.close(reason, err)
    this.#o.logger.info({ worker_id: session.workerId, transport: session.link.transport, reason }, 'relay session ended')
    this.emit('unbound', { workerId: session.workerId, transport: session.link.transport, reason })
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #shutdown(): Promise<void> {
    clearInterval(this.#sweep)
    const err = new IicpError('service_unavailable', 'relay is shutting down')
    for (const session of [...this.sessions.values()]) this.dropSession(session, 'relay_closing', err)
    if (this.#wss) {
      for (const ws of this.#wss.clients) ws.terminate()
      await new Promise<void>((resolve) => (this.#wss as WebSocketServer).close(() => resolve()))
    }
  }

  #sweepDead(): void {
    const now = this.#o.now()
    for (const session of [...this.sessions.values()]) {
      if (!session.link.isAlive(now)) this.dropSession(session, 'liveness_expired')
    }
    this.#limiter.prune(now)
    this.#jtis.prune(Math.floor(now / 1000))
  }

  #preflight(res: ServerResponse): true {
    if (!res.headersSent) {
      res.writeHead(204, { ...CORS_HEADERS, 'access-control-max-age': '86400' })
      res.end()
    }
    return true
  }

  /** The session behind a long-poll bearer token, or 401. */
  sessionFor(req: IncomingMessage): RelaySession {
    const token = bearerToken(req)
    const session = token === undefined ? undefined : this.#byToken.get(token)
    if (!session || session.closed) throw new IicpError('unauthorized', 'invalid or missing relay session token')
    return session
  }

  async httpBind(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const request = parseRelayBindRequest(parseJsonObject(await readBody(req, 64 * 1024)))
    const o = this.#o
    const token = randomBytes(16).toString('hex')
    await this.bindSession(request, req.socket.remoteAddress ?? 'unknown', () =>
      new LongPollLink({ token, livenessMs: o.sessionLivenessMs, pollTimeoutMs: o.pollTimeoutMs, now: o.now }))
    const body: RelayBindResponse = {
      session_token: token,
      poll_timeout_s: Math.ceil(o.pollTimeoutMs / 1000),
      worker_endpoint_path: `${RELAY_FOR_PREFIX}${request.worker_id}`,
      raw_result: true,
      max_pull_batch: MAX_PULL_BATCH,
      frames: true,
    }
    sendJson(res, 200, body)
  }

  async httpPull(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = this.sessionFor(req)
    // A frames worker's pull may carry the results it finished as it asks for more: one exchange instead of two.
    if (req.method === 'POST') await this.#settleResultFrames(req, session)
    const url = req.url ?? ''
    const m = /[?&]max=(\d{1,3})(?:&|$)/.exec(url)
    const max = m ? Math.min(MAX_PULL_BATCH, Math.max(1, Number(m[1]))) : 1
    ;(session.link as LongPollLink).pull(res, max, FRAMES_QUERY.test(url))
  }

  async httpResult(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = this.sessionFor(req)
    if (req.headers['content-type'] === FRAMES_MEDIA_TYPE) {
      await this.#settleResultFrames(req, session)
      sendNoContent(res)
      return
    }
    const body = await readBody(req, this.#o.maxBodyBytes + 64 * 1024)
    const result = parseRelayResultRequest(parseJsonObject(body))
    let response: RelayCallResponse
    if (result.http_status !== undefined) {
      response = { status: result.http_status, body: result.body ?? JSON.stringify(result.result) }
      if (result.http_headers) response.headers = result.http_headers
    } else {
      // The reference relay's reply: the worker's object spread over a completed envelope (official-sdks.md §5.3).
      const inner = typeof result.result === 'object' && result.result !== null && !Array.isArray(result.result)
        ? result.result : { result: result.result }
      const merged = { task_id: session.taskIdOf(result.call_id), status: 'completed', ...inner, generated_by_ai: true }
      response = { status: 200, body: JSON.stringify(merged) }
    }
    if (!session.resolve(result.call_id, response)) throw new IicpError('not_found', 'unknown or expired call_id')
    sendNoContent(res)
  }

  /** Settle the calls answered by a body of RESULT frames (422 when the body is anything else or unreadable). */
  async #settleResultFrames(req: IncomingMessage, session: RelaySession): Promise<void> {
    const body = await readBody(req, this.#o.maxBodyBytes + 64 * 1024 + MAX_RESULT_BATCH_BYTES)
    if (body.length === 0) return
    if (req.headers['content-type'] !== FRAMES_MEDIA_TYPE) {
      throw new IicpError('validation_error', `results here travel as ${FRAMES_MEDIA_TYPE}`)
    }
    // All checked before any is settled, so a bad body settles nothing.
    const answers = resultFrames(body)
    // Results that come too late (timed out, consumer gone) are dropped; the worker has nothing to retry.
    for (const [callId, response] of answers) session.resolve(callId, response)
  }

  async httpUnbind(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = this.sessionFor(req)
    // Drain the (ignored) body so the connection stays reusable.
    await readBody(req, 64 * 1024)
    this.dropSession(session, 'unbind')
    sendNoContent(res)
  }

  #relayFor(req: IncomingMessage, res: ServerResponse, path: string): void {
    const rest = path.slice(RELAY_FOR_PREFIX.length)
    const slash = rest.indexOf('/')
    let workerId: string
    try {
      workerId = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash))
    } catch {
      workerId = ''
    }
    const sub = slash < 0 ? '' : rest.slice(slash)
    if (req.method === 'OPTIONS') {
      this.#preflight(res)
      return
    }
    if (!isValidWorkerId(workerId) || (sub !== '/v1/task' && sub !== '/iicp/health')) {
      sendError(res, new IicpError('not_found', 'no such relay route'))
      return
    }
    const expected = sub === '/v1/task' ? 'POST' : 'GET'
    if (req.method !== expected) {
      sendError(res, new IicpError('method_not_allowed', `${sub} takes ${expected}`))
      return
    }
    const session = this.sessions.alive(workerId, this.#o.now())
    if (!session) {
      const dead = this.sessions.get(workerId)
      if (dead) this.dropSession(dead, 'liveness_expired')
      sendError(res, new IicpError('IICP-E030', 'no alive relay session for this worker', { status: 404 }))
      return
    }
    if (sub === '/iicp/health') {
      const health: RelayForHealthResponse = {
        status: 'ok', node_id: session.workerId, via_relay: true, models: [...session.models], transport: session.link.transport,
      }
      sendJson(res, 200, health)
      return
    }
    readBodyThen(req, this.#o.maxBodyBytes, (err, body) => {
      if (err || !body) sendError(res, err)
      else this.#forwardTask(req, res, session, body)
    })
  }

  #forwardTask(req: IncomingMessage, res: ServerResponse, session: RelaySession, body: Buffer): void {
    const callId = nextCallId()
    // Streamed results (official-sdks.md §6.4) travel only over links that can carry lifecycle frames (native TCP).
    if (wantsEventStream(req) && isStreamingLink(session.link)) {
      forwardStreamAsSse(res, session.link, { callId, body, headers: forwardableHeaders(req) }, this.#o.taskTimeoutMs, CORS_HEADERS)
        .catch((err: unknown) => sendError(res, err))
      return
    }
    // A JSON pull answer embeds the task, so it must be JSON; frames (WebSocket, a long-poll worker pulling frames)
    // carry the bytes and the worker's node judges them.
    let call: RelayCall
    try {
      call = session.link.transport === 'http' && (session.link as LongPollLink).needsJson
        ? { callId, body, headers: forwardableHeaders(req), task: parseJsonObject(body) }
        : { callId, body, headers: forwardableHeaders(req) }
    } catch (err) {
      sendError(res, err)
      return
    }
    // A consumer that leaves first frees the call; after the answer this listener finds the response finished.
    res.on('close', () => {
      if (!res.writableFinished) session.abandon(callId)
    })
    session.dispatch(call, this.#o.taskTimeoutMs, (err, answer) => {
      if (err) sendError(res, err)
      else if (answer) sendAnswer(res, answer)
    })
  }

  #onWebSocket(ws: WebSocket, source: string, socket: Duplex): void {
    const o = this.#o
    let session: RelaySession | undefined
    let binding = false
    let pingTimer: NodeJS.Timeout | undefined
    let pongTimer: NodeJS.Timeout | undefined
    const bindTimer = setTimeout(() => ws.close(1008, 'bind timeout'), o.bindTimeoutMs)
    const stopTimers = (): void => {
      clearTimeout(bindTimer)
      clearInterval(pingTimer)
      clearTimeout(pongTimer)
    }
    const refuse = (err: unknown): void => {
      const body = (err instanceof IicpError ? err : new IicpError('server_error')).toJSON()
      const msg: WsRefusedMessage = {
        type: 'refused',
        status: err instanceof IicpError ? err.status ?? 500 : 500,
        error: body.error as WsRefusedMessage['error'],
      }
      ws.send(JSON.stringify(msg), () => ws.close(1008, 'bind refused'))
    }
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        if (!session) {
          ws.close(1008, 'bind first')
          return
        }
        this.#onResultFrame(session, toBuffer(data))
        return
      }
      const msg = parseControl(toBuffer(data).toString('utf8'))
      if (msg?.type !== 'bind' || session || binding) {
        if (!session) ws.close(1008, 'bind first')
        return
      }
      binding = true
      clearTimeout(bindTimer)
      let request: RelayBindRequest
      try {
        request = parseRelayBindRequest({ worker_id: msg.worker_id, intent: msg.intent, models: msg.models, bind_ticket: msg.bind_ticket })
      } catch (err) {
        refuse(err)
        return
      }
      this.bindSession(request, source, () => new WsLink(ws, socket)).then((s) => {
        if (ws.readyState !== ws.OPEN) {
          this.dropSession(s, 'socket_closed')
          return
        }
        session = s
        const bound: WsBoundMessage = { type: 'bound', worker_id: s.workerId, worker_endpoint_path: `${RELAY_FOR_PREFIX}${s.workerId}` }
        ws.send(JSON.stringify(bound))
        pingTimer = setInterval(() => {
          if (pongTimer !== undefined) return
          ws.ping()
          pongTimer = setTimeout(() => {
            o.logger.warn({ worker_id: s.workerId }, 'relay worker missed its pong deadline')
            this.dropSession(s, 'pong_timeout')
          }, o.pongTimeoutMs)
        }, o.pingIntervalMs)
      }, refuse)
    })
    ws.on('pong', () => {
      clearTimeout(pongTimer)
      pongTimer = undefined
    })
    ws.on('close', () => {
      stopTimers()
      if (session) this.dropSession(session, 'socket_closed')
    })
    // 'close' always follows 'error'; the session is dropped there.
    ws.on('error', () => undefined)
  }

  #onResultFrame(session: RelaySession, data: Buffer): void {
    try {
      const [callId, response] = readResultFrame(data)
      session.resolve(callId, response)
    } catch (err) {
      // A worker speaking garbage cannot be trusted with more calls.
      this.dropSession(session, 'protocol_error', workerGone('worker sent an unreadable result', err))
    }
  }
}

/** A RESULT frame's call id and answer; throws IicpError `invalid_response` for anything else. */
function readResultFrame(data: Buffer): [string, RelayCallResponse] {
  const frame = decodeFrame<ResultFrameHeader>(data)
  const status = frame.header.s
  if (frame.kind !== FRAME_RESULT || !Number.isInteger(status) || status < 100 || status > 599) {
    throw new IicpError('invalid_response', 'bad result frame')
  }
  const response: RelayCallResponse = { status, body: frame.body }
  if (frame.header.h && typeof frame.header.h === 'object') response.headers = frame.header.h
  return [frame.header.id, response]
}

/** The answers in a long-poll frames post, or 422 `validation_error` when any frame is unreadable. */
function resultFrames(body: Buffer): Array<[string, RelayCallResponse]> {
  try {
    return splitFrames(body).map(readResultFrame)
  } catch (cause) {
    throw new IicpError('validation_error', 'unreadable result frames', { cause })
  }
}

/** The worker's answer to the consumer: its status, headers (hop-by-hop ones dropped, CORS added) and body. */
function sendAnswer(res: ServerResponse, answer: RelayCallResponse): void {
  if (res.destroyed || res.headersSent) return
  const headers = responseHeaders(answer.headers)
  headers['content-length'] = Buffer.byteLength(answer.body)
  res.writeHead(answer.status, headers)
  res.end(answer.body)
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}

interface Route {
  methods: readonly string[]
  handle(server: RelayServerImpl, req: IncomingMessage, res: ServerResponse): Promise<void>
}

const ROUTES: Readonly<Record<string, Route>> = Object.freeze({
  '/v1/relay/bind': { methods: ['POST'], handle: (s, req, res) => s.httpBind(req, res) },
  // POST: a frames pull carrying RESULT frames.
  '/v1/relay/pull': { methods: ['GET', 'POST'], handle: (s, req, res) => s.httpPull(req, res) },
  '/v1/relay/result': { methods: ['POST'], handle: (s, req, res) => s.httpResult(req, res) },
  '/v1/relay/unbind': { methods: ['POST'], handle: (s, req, res) => s.httpUnbind(req, res) },
})

/** Options of {@link startRelayServer}: relay options plus where to listen. */
export interface StartRelayServerOptions extends RelayServerOptions {
  /** @default 0 (any free port) */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
}

/** A standalone relay listening on its own port. */
export interface StartedRelayServer {
  /** `http://host:port`, the base workers bind to. */
  readonly url: string
  readonly port: number
  readonly relay: RelayServer
  readonly server: Server
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

/** Start a relay on its own node:http server (tests, standalone relays). Non-relay paths get 404 JSON. */
export async function startRelayServer(options: StartRelayServerOptions = {}): Promise<StartedRelayServer> {
  const { port = 0, host = '127.0.0.1', ...relayOptions } = options
  const relay = createRelayServer(relayOptions)
  const server = createServer((req, res) => {
    if (!relay.handleRequest(req, res)) sendError(res, new IicpError('not_found', 'no such route'))
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!relay.handleUpgrade(req, socket, head)) socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await relay.close()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    })()
    return closing
  }
  return { url: `http://${shownHost}:${address.port}`, port: address.port, relay, server, close, [Symbol.asyncDispose]: close }
}
