/**
 * A small real provider node on 127.0.0.1:0 for client tests, with fault injection: each request takes the
 * next queued behaviour (then the default): echo success, any status/body/headers (503, 429 + Retry-After,
 * 429 capacity_exceeded, 401 ...), a closed socket, a hang, HTML, a double-wrapped result, 200 status:error,
 * a redirect, a custom result, an envelope of given fields, or a plaintext reply from a node that advertised response encryption. With `cx` it advertises the
 * Python fixture's X25519 key and does IICP-CX the Python SDK's way (see python-cx.ts).
 */
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { readFileSync } from 'node:fs'
import type { NodeSummary } from '@iicp/protocol'
import { pyDecryptRequest, pyEncryptResponse } from './python-cx.js'
import type { PyNodeKey, PyRequestContext } from './python-cx.js'

/** What the node does with one request. */
export type Behaviour =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'close' }
  | { kind: 'hang' }
  | { kind: 'html'; status: number }
  | { kind: 'double-wrapped' }
  | { kind: 'task-error'; error: unknown }
  | { kind: 'redirect'; status: number; location: string }
  | { kind: 'plaintext-reply' }
  | { kind: 'result'; result: unknown }
  /** A 200 answer of exactly these fields after `task_id` (encrypted for a CX request, as the Python node does). */
  | { kind: 'envelope'; fields: Record<string, unknown> }

/** One request as the node saw it. */
export interface RecordedRequest {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: Record<string, unknown>
  /** The payload after CX decryption (or the plaintext payload). */
  readonly payload: unknown
  /** Client-side port of the TCP connection (same port = reused keep-alive socket). */
  readonly remotePort: number | undefined
}

export interface TestNodeOptions {
  nodeId?: string
  intents?: string[]
  /** Advertise the Python fixture key and speak IICP-CX. */
  cx?: boolean
  behaviours?: Behaviour[]
  /** A queue shared (by reference) with other nodes: whichever node is asked first takes the next entry. */
  queue?: Behaviour[]
  fallback?: Behaviour
  /** Region registered with the directory (a client region preference then orders nodes). @default 'local' */
  region?: string
  /** Models advertised; when given, a task naming another model gets 404 IICP-E029 as a real node answers. @default ['echo-1'] */
  models?: string[]
}

export interface TestNode {
  readonly url: string
  readonly nodeId: string
  readonly requests: RecordedRequest[]
  /** Queue behaviours for the next requests. */
  push(...b: Behaviour[]): void
  /** The cx_public_key this node advertises, if any. */
  readonly cxPublicKey: Record<string, unknown> | undefined
  /** A NodeSummary as a directory would list it. */
  summary(overrides?: Partial<NodeSummary>): NodeSummary
  /** Resolves once no client connection is open (e.g. after the client closed its pool). */
  idle(): Promise<void>
  /** Resolves once `count` task requests have arrived, so a test can act on arrival instead of after a guessed delay. */
  received(count: number): Promise<void>
  /** A REGISTER body for a real directory. */
  registerBody(): Record<string, unknown>
  close(): Promise<void>
}

const CX_FIXTURE = JSON.parse(readFileSync(new URL('../../../../fixtures/interop/cx-python-sdk-0.7.107.json', import.meta.url), 'utf8')) as {
  node_key: { private_key: string; public_key: { key: string; key_id: string } }
}
/** The Python fixture's node key. */
export const FIXTURE_NODE_KEY: PyNodeKey = {
  privateKey: CX_FIXTURE.node_key.private_key,
  publicKey: CX_FIXTURE.node_key.public_key.key,
  keyId: CX_FIXTURE.node_key.public_key.key_id,
}

function lastUserText(payload: unknown): string {
  const msgs = (payload as { messages?: { role?: string; content?: unknown }[] } | undefined)?.messages
  const last = Array.isArray(msgs) ? [...msgs].reverse().find((m) => m.role === 'user') : undefined
  return typeof last?.content === 'string' ? last.content : JSON.stringify(payload)
}

function chatResult(taskId: string, payload: unknown): Record<string, unknown> {
  return {
    id: `chatcmpl-${taskId}`,
    object: 'chat.completion',
    model: 'echo-1',
    choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${lastUserText(payload)}` }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

/** Start a test node. */
export async function startTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const nodeId = options.nodeId ?? `test-node-${Math.random().toString(16).slice(2, 10)}`
  const intents = options.intents ?? ['urn:iicp:intent:llm:chat:v1']
  const queue: Behaviour[] = options.queue ?? [...(options.behaviours ?? [])]
  const region = options.region ?? 'local'
  const models = options.models ?? ['echo-1']
  const fallback = options.fallback ?? { kind: 'ok' }
  const requests: RecordedRequest[] = []
  const sockets = new Set<Socket>()
  let arrivalWaiters: { count: number; resolve: () => void }[] = []
  const cxPublicKey = options.cx
    ? { algorithm: 'X25519', encoding: 'base64url', key: FIXTURE_NODE_KEY.publicKey, key_id: FIXTURE_NODE_KEY.keyId, features: ['response_encryption_v1'] }
    : undefined

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = req.url ?? '/'
      if (req.method === 'GET' && url === '/iicp/health') {
        json(res, 200, { status: 'ok', node_id: nodeId, load: 0, active_jobs: 0, max_concurrent: 4, available: true, models: ['echo-1'] })
        return
      }
      if (req.method !== 'POST' || !url.endsWith('/v1/task')) {
        json(res, 404, { error: { code: 'not_found', message: 'Resource not found' } })
        return
      }
      let body: Record<string, unknown>
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
      } catch {
        json(res, 400, { error: { code: 'invalid_json', message: 'Request body is not valid JSON' } })
        return
      }
      const taskId = String(body.task_id)
      const intent = String(body.intent)
      let payload: unknown = body.payload
      let ctx: PyRequestContext | undefined
      if (body.iicp_conf !== undefined) {
        try {
          const d = pyDecryptRequest(FIXTURE_NODE_KEY, body.iicp_conf as Record<string, unknown>, taskId, intent)
          payload = d.payload
          ctx = d.ctx
        } catch {
          json(res, 400, { error: { code: 'IICP-CX-02', message: 'iicp_conf decrypt failed' } })
          return
        }
      }
      requests.push({ path: url, headers: req.headers, body, payload, remotePort: req.socket.remotePort })
      const due = arrivalWaiters.filter((w) => requests.length >= w.count)
      arrivalWaiters = arrivalWaiters.filter((w) => requests.length < w.count)
      for (const w of due) w.resolve()
      const asked = (payload as { model?: unknown } | null)?.model
      if (options.models !== undefined && typeof asked === 'string' && !models.includes(asked)) {
        json(res, 404, { error: { code: 'IICP-E029', message: 'Model not served by this node' } })
        return
      }
      const b = queue.shift() ?? fallback
      const envelope = (result: unknown): Record<string, unknown> => ({
        task_id: taskId, status: 'success', result, metrics: { latency_ms: 1 }, model_used: 'echo-1', error: null,
      })
      const reply = (env: Record<string, unknown>): void => {
        if (ctx && body.cx_response_encryption === 'required' && b.kind !== 'plaintext-reply') {
          // The Python node answers `completed` inside the encrypted envelope.
          json(res, 200, { task_id: taskId, status: 'encrypted', iicp_conf_resp: pyEncryptResponse({ ...env, status: 'completed' }, ctx) })
        } else {
          json(res, 200, env)
        }
      }
      switch (b.kind) {
        case 'ok':
        case 'plaintext-reply':
          reply(envelope(chatResult(taskId, payload)))
          return
        case 'result':
          reply(envelope(b.result))
          return
        case 'envelope':
          reply({ task_id: taskId, ...b.fields })
          return
        case 'double-wrapped':
          reply(envelope({ result: chatResult(taskId, payload) }))
          return
        case 'task-error':
          reply({ task_id: taskId, status: 'error', result: null, error: b.error, metrics: { latency_ms: 1 } })
          return
        case 'status':
          if (typeof b.body === 'string') {
            res.writeHead(b.status, { 'content-type': 'text/plain', ...b.headers })
            res.end(b.body)
          } else {
            json(res, b.status, b.body ?? { error: { code: 'server_error', message: 'injected' } }, b.headers)
          }
          return
        case 'html':
          res.writeHead(b.status, { 'content-type': 'text/html' })
          res.end('<html><body><h1>Error</h1><p>Message: something broke.</p></body></html>')
          return
        case 'redirect':
          res.writeHead(b.status, { location: b.location, 'content-length': '0' })
          res.end()
          return
        case 'close':
          req.socket.destroy()
          return
        case 'hang':
          return
      }
    })
  })
  let idleWaiters: (() => void)[] = []
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => {
      sockets.delete(s)
      if (sockets.size === 0) {
        for (const w of idleWaiters) w()
        idleWaiters = []
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  let closing: Promise<void> | undefined
  return {
    url,
    nodeId,
    requests,
    cxPublicKey,
    push: (...b) => void queue.push(...b),
    received: (count) => (requests.length >= count
      ? Promise.resolve()
      : new Promise<void>((resolve) => arrivalWaiters.push({ count, resolve }))),
    idle: () => (sockets.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    summary: (overrides = {}) => ({
      node_id: nodeId, endpoint: url, score: 0.9, available: true, region, load: 0,
      capabilities: intents.map((intent) => ({ intent, models })),
      ...(cxPublicKey ? { cx_public_key: cxPublicKey } : {}),
      ...overrides,
    }) as NodeSummary,
    registerBody: () => ({
      node_id: nodeId,
      endpoint: url,
      region,
      capabilities: intents.map((intent) => ({ intent, models, max_tokens: 8192, input_modalities: ['text'] })),
      limits: { max_concurrent: 4, tokens_per_min: 10_000 },
      ...(cxPublicKey ? { cx_public_key: cxPublicKey } : {}),
    }),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      })
      return closing
    },
  }
}
