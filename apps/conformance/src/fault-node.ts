/**
 * Fault-injecting test nodes for the local mesh (wire.md §4.3 retry cases, §2.3–2.4 envelopes): small real
 * HTTP servers on loopback that serve `/iicp/health` like a node and answer `POST /v1/task` with one
 * scripted fault: 503, 429 + Retry-After once per task, a hang, a reset socket, an HTML page, a token echoed
 * into the error message, or a double-wrapped result. They register with a directory like any node.
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** What a fault node does with each task. */
export type FaultBehaviour =
  /** Answers a well-formed success envelope (409 `conflict` for a repeated task_id). */
  | 'ok'
  /** Always 503 `temporarily_unavailable` with `Retry-After: 1`. */
  | 'unavailable'
  /** 429 `rate_limited` with `Retry-After` the first time it sees a task_id, success on the retry. */
  | 'rate-limited-once'
  /** Always 429 `capacity_exceeded` with `qos_class`, `retry_after_ms` and `Retry-After` (sem §2.2). */
  | 'capacity'
  /** 503 whose error message quotes the credential the caller sent (a hostile node, for SDK-06). */
  | 'token-echo'
  /** Never answers; the socket stays open until the caller gives up or the node closes. */
  | 'hang'
  /** Destroys the socket without an answer. */
  | 'reset'
  /** 500 with an HTML page. */
  | 'html'
  /** 200 whose `result` is itself a task envelope (the double-wrapping bug, official-sdks §8.1); 409 on repeats. */
  | 'double-wrap'

/** Options of {@link startFaultNode}. */
export interface FaultNodeOptions {
  readonly behaviour: FaultBehaviour
  /** Intents advertised at registration and on `/iicp/health`. */
  readonly intents: readonly string[]
  /** @default 'conformance-fault' */
  readonly region?: string
  /** Seconds sent in `Retry-After` by `rate-limited-once`. @default 3 */
  readonly retryAfterSeconds?: number
}

/** A running fault node. */
export interface FaultNode {
  readonly behaviour: FaultBehaviour
  readonly url: string
  /** The node id it registers under. */
  readonly nodeId: string
  /** Task requests received so far. */
  readonly taskRequests: number
  /** Task requests received for one task_id. */
  requestsFor(taskId: string): number
  /** Whether a `token-echo` node was sent this credential (and so quoted it back). */
  quoted(credential: string): boolean
  /** The REGISTER body (wire.md §1.2) that advertises this node at its own URL. */
  registrationBody(): Record<string, unknown>
  /** Stop listening and destroy open sockets (hung requests included); idempotent. */
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

const MODEL = 'fault-1'
const JSON_HEADERS = { 'content-type': 'application/json', 'access-control-allow-origin': '*' }

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': String(Buffer.byteLength(text)), ...headers })
  res.end(text)
}

function errorOf(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > 1_048_576) return undefined
    chunks.push(chunk as Buffer)
  }
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function inner(taskId: string): Record<string, unknown> {
  return {
    id: `chatcmpl-${taskId}`, object: 'chat.completion', model: MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: 'fault node answer' }, finish_reason: 'stop' }],
  }
}

function envelope(taskId: string, result: unknown): Record<string, unknown> {
  return { task_id: taskId, status: 'success', result, metrics: { latency_ms: 0 }, model_used: MODEL, error: null }
}

/** Start a fault node on 127.0.0.1 (ephemeral port). */
export async function startFaultNode(options: FaultNodeOptions): Promise<FaultNode> {
  const { behaviour, intents } = options
  const region = options.region ?? 'conformance-fault'
  const retryAfter = String(options.retryAfterSeconds ?? 3)
  const nodeId = randomUUID()
  const seen = new Map<string, number>()
  const quotedCredentials = new Set<string>()
  const sockets = new Set<Socket>()
  let taskRequests = 0

  async function onTask(req: IncomingMessage, res: ServerResponse): Promise<void> {
    taskRequests += 1
    if (behaviour === 'reset') {
      req.socket.destroy()
      return
    }
    const body = await readJson(req)
    const taskId = typeof body?.task_id === 'string' ? body.task_id : ''
    const count = (seen.get(taskId) ?? 0) + 1
    seen.set(taskId, count)
    // Envelope problems get the node's usual 422 whatever the behaviour, so each fault stays the only defect.
    if (!body || taskId === '' || typeof body.intent !== 'string' || !body.intent.startsWith('urn:iicp:intent:')) {
      send(res, 422, errorOf('validation_error', 'Input validation failed'))
      return
    }
    if (!intents.includes(body.intent)) {
      send(res, 422, errorOf('unknown_intent', 'Intent not served by this node'))
      return
    }
    switch (behaviour) {
      case 'hang':
        return
      case 'html':
        res.writeHead(500, { 'content-type': 'text/html' })
        res.end('<html><body><h1>Internal Server Error</h1></body></html>')
        return
      case 'unavailable':
        send(res, 503, errorOf('temporarily_unavailable', 'Node is temporarily unavailable'), { 'retry-after': '1' })
        return
      case 'capacity':
        send(res, 429, { error: { code: 'capacity_exceeded', message: 'Node at capacity', qos_class: 'interactive', retry_after_ms: 5000 } }, { 'retry-after': '5' })
        return
      case 'rate-limited-once':
        if (count === 1) {
          send(res, 429, errorOf('rate_limited', 'Too many requests'), { 'retry-after': retryAfter })
          return
        }
        send(res, 200, envelope(taskId, inner(taskId)))
        return
      case 'token-echo': {
        const auth = body.auth as { node_token?: unknown } | undefined
        const bearer = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '')
        const quoted = typeof auth?.node_token === 'string' ? auth.node_token : bearer
        if (quotedCredentials.size < 100) quotedCredentials.add(quoted).add(bearer)
        send(res, 503, errorOf('temporarily_unavailable', `upstream refused credential ${quoted} ${bearer} for this task`))
        return
      }
      case 'double-wrap':
      case 'ok':
        // Like a conformant node, a task id runs once (core §3.1 TASK-2); only the result shape differs.
        if (count > 1) {
          send(res, 409, errorOf('conflict', 'Duplicate task_id'))
          return
        }
        send(res, 200, envelope(taskId, behaviour === 'ok' ? inner(taskId) : envelope(taskId, inner(taskId))))
    }
  }

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'POST, GET, OPTIONS', 'access-control-allow-headers': '*' })
      res.end()
      return
    }
    if (req.method === 'GET' && path === '/iicp/health') {
      send(res, 200, { status: 'ok', node_id: nodeId, load: 0, active_jobs: 0, max_concurrent: 4, models: [MODEL], intents })
      return
    }
    if (req.method === 'POST' && path === '/v1/task') {
      onTask(req, res).catch(() => {
        if (!res.headersSent) send(res, 500, errorOf('server_error', 'An internal error occurred'))
      })
      return
    }
    send(res, 404, errorOf('not_found', 'Resource not found'))
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve())
      for (const s of sockets) s.destroy()
    })
    return closing
  }

  return {
    behaviour,
    url,
    nodeId,
    get taskRequests() {
      return taskRequests
    },
    requestsFor: (taskId) => seen.get(taskId) ?? 0,
    quoted: (credential) => quotedCredentials.has(credential),
    registrationBody: () => ({
      node_id: nodeId,
      endpoint: url,
      region,
      capabilities: intents.map((intent) => ({ intent, models: [MODEL], max_tokens: 4096 })),
      limits: { max_concurrent: 4, tokens_per_min: 10_000 },
    }),
    close,
    [Symbol.asyncDispose]: close,
  }
}
