// Proves this package's worker interoperates with a relay that behaves like the reference Python relay
// (official-sdks.md §5.4, capture d of fixtures/interop/native-python-sdk-0.7.107.json): a small real server plays
// that relay (no WebSocket route, answers the upgrade with an HTML 404, one call per pull, `{call_id, result}`
// results merged into `{task_id, status:"completed", ...result, generated_by_ai:true}`). Under 'auto' the worker
// falls back to long-poll, serves a consumer task through it, sends `result` (no raw body), and unbinds on close.
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRelayWorker } from '@iicp/relay'
import type { RelayWorker } from '@iicp/relay'
import { post, task } from './consumer.js'

interface Call {
  call_id: string
  task: { task_id: string }
  consumer: ServerResponse
}

class ReferenceRelay {
  server: Server
  url = ''
  queue: Call[] = []
  pulls: ServerResponse[] = []
  pending = new Map<string, Call>()
  results: unknown[] = []
  unbinds = 0
  upgrades = 0
  token = 'ecffff33f1ed484ab4aa37b5ff95371a'

  constructor() {
    this.server = createServer((req, res) => void this.route(req, res))
    this.server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      this.upgrades++
      socket.end('HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\n\r\n<html><body>Not Found</body></html>')
    })
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async close(): Promise<void> {
    for (const p of this.pulls) p.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((r) => this.server.close(() => r()))
  }

  json(res: ServerResponse, status: number, body?: unknown): void {
    if (body === undefined) {
      res.writeHead(status)
      res.end()
      return
    }
    res.writeHead(status, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify(body))
  }

  async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body: unknown = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined
    const authed = req.headers.authorization === `Bearer ${this.token}`
    if (req.url === '/v1/relay/bind') {
      const b = body as { worker_id: string }
      this.json(res, 200, { session_token: this.token, poll_timeout_s: 25, worker_endpoint_path: `/v1/relay-for/${b.worker_id}` })
    } else if (req.url === '/v1/relay/pull') {
      if (!authed) return this.json(res, 401, { error: { code: 'IICP-E021', message: 'invalid or missing relay session token' } })
      const call = this.queue.shift()
      if (call) this.deliver(res, call)
      else this.pulls.push(res)
    } else if (req.url === '/v1/relay/result') {
      const r = body as { call_id: string; result: Record<string, unknown> }
      this.results.push(body)
      const call = this.pending.get(r.call_id)
      this.pending.delete(r.call_id)
      call?.consumer.writeHead(200, { 'Content-Type': 'application/json' })
      call?.consumer.end(JSON.stringify({ task_id: call.task.task_id, status: 'completed', ...r.result, generated_by_ai: true }))
      this.json(res, 204)
    } else if (req.url === '/v1/relay/unbind') {
      this.unbinds++
      this.json(res, 204)
    } else if (req.url?.endsWith('/v1/task')) {
      const call: Call = { call_id: crypto.randomUUID(), task: body as { task_id: string }, consumer: res }
      this.pending.set(call.call_id, call)
      const pull = this.pulls.shift()
      if (pull) this.deliver(pull, call)
      else this.queue.push(call)
    } else {
      res.writeHead(404, { 'Content-Type': 'text/html' })
      res.end('<html>Not Found</html>')
    }
  }

  deliver(res: ServerResponse, call: Call): void {
    this.json(res, 200, { call_id: call.call_id, task: call.task })
  }
}

describe('a worker against a reference-style relay', () => {
  let relay: ReferenceRelay
  let worker: RelayWorker | undefined

  beforeEach(async () => {
    relay = new ReferenceRelay()
    await relay.start()
  })
  afterEach(async () => {
    await worker?.close()
    await relay.close()
  })

  it("falls back to long-poll, serves a task and unbinds on close", async () => {
    worker = createRelayWorker({
      relayUrl: relay.url, workerId: 'cap-http-worker-1', transport: 'auto',
      handleTask: async (body) => {
        const t = JSON.parse(body.toString('utf8')) as { task_id: string }
        return { status: 200, body: { task_id: t.task_id, status: 'success', result: { echo: 'hi' } } }
      },
    })
    await worker.start()
    expect(worker.transport).toBe('http')
    expect(relay.upgrades).toBe(1)
    const t = task('hello via http-poll relay')
    const res = await post(`${worker.relayEndpoint}/v1/task`, t)
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ task_id: t.task_id, status: 'success', result: { echo: 'hi' }, generated_by_ai: true })
    expect(relay.results).toEqual([{
      call_id: expect.any(String),
      result: { task_id: t.task_id, status: 'success', result: { echo: 'hi' } },
      http_status: 200,
      http_headers: { 'content-type': 'application/json' },
    }])
    await worker.close()
    expect(relay.unbinds).toBe(1)
  })
})
