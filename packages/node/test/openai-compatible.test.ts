/**
 * What this proves: the openai-compatible backend, behind a real node, talks to a local fake OpenAI
 * server started here: it sends the model, the API key and the trace id, returns the upstream
 * chat.completion as the inner result (one level of wrapping), routes several models on one port, and
 * maps every upstream failure (status, bad JSON, unreachable, too slow) to a clear JSON error.
 */
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { IicpNode, openaiCompatible } from '../src/index.js'
import type { Backend } from '../src/index.js'
import { call, chatTask } from './support/http.js'

interface Seen { path: string; headers: IncomingHttpHeaders; body: Record<string, unknown> }
type Mode = 'ok' | 'status500' | 'badjson' | 'hang'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function fakeOpenAi(mode: Mode): Promise<{ url: string; seen: Seen[]; aborted: () => boolean }> {
  const seen: Seen[] = []
  let abortedFlag = false
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
      seen.push({ path: req.url ?? '', headers: req.headers, body })
      if (mode === 'hang') {
        res.on('close', () => { abortedFlag = true })
        return
      }
      if (mode === 'status500') {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end('{"error":{"message":"CUDA out of memory at /opt/model/weights.bin"}}')
        return
      }
      if (mode === 'badjson') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end('<html>oops</html>')
        return
      }
      const content = (body.messages as Array<{ content: string }>).at(-1)?.content ?? ''
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({
        id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: `upstream: ${content}` }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      }))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  cleanup.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, aborted: () => abortedFlag }
}

async function nodeWith(backend: Backend): Promise<IicpNode> {
  const node = new IicpNode({ directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, backend })
  cleanup.push(() => node.close())
  await node.serve()
  return node
}

describe('openaiCompatible backend', () => {
  it('forwards the task to /v1/chat/completions and returns the upstream completion wrapped once', async () => {
    const fake = await fakeOpenAi('ok')
    const node = await nodeWith(openaiCompatible({ baseUrl: fake.url, model: 'llama3', apiKey: 'sk-test-123', name: 'ollama' }))
    const res = await call(`${node.url}/v1/task`, { body: chatTask({ trace: { trace_id: 'abcdefabcdefabcdefabcdefabcdef12' } }) })
    expect(res.status).toBe(200)
    const env = res.json as { result: Record<string, unknown>; model_used: string; metrics: { tokens_used: number } }
    expect(env.result).toMatchObject({ object: 'chat.completion', model: 'llama3', choices: [{ message: { content: 'upstream: hello mesh' } }] })
    expect(env.result).not.toHaveProperty('result')
    expect(env.model_used).toBe('llama3')
    expect(env.metrics.tokens_used).toBe(7)
    expect(fake.seen).toHaveLength(1)
    const s = fake.seen[0] as Seen
    expect(s.path).toBe('/v1/chat/completions')
    expect(s.headers.authorization).toBe('Bearer sk-test-123')
    expect(s.headers['x-iicp-trace-id']).toBe('abcdefabcdefabcdefabcdefabcdef12')
    expect(s.body).toMatchObject({ model: 'llama3', stream: false, messages: [{ role: 'user', content: 'hello mesh' }] })
  })

  it('serves several models behind one node and sends the one the task names', async () => {
    const fake = await fakeOpenAi('ok')
    const node = await nodeWith(openaiCompatible({ baseUrl: `${fake.url}/v1`, models: ['qwen', 'mistral'] }))
    const res = await call(`${node.url}/v1/task`, { body: chatTask({ payload: { model: 'mistral', messages: [{ role: 'user', content: 'x' }] } }) })
    expect((res.json as { model_used: string }).model_used).toBe('mistral')
    expect(fake.seen[0]?.body.model).toBe('mistral')
  })

  it('maps an upstream 500 to 502 backend_error with reason upstream_status and no upstream text', async () => {
    const fake = await fakeOpenAi('status500')
    const node = await nodeWith(openaiCompatible({ baseUrl: fake.url, model: 'm' }))
    const res = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(res.status).toBe(502)
    expect(res.json).toEqual({ error: { code: 'backend_error', message: 'Backend answered HTTP 500', reason: 'upstream_status', upstream_status: 500 } })
    expect(res.text).not.toContain('CUDA')
  })

  it('maps a non-JSON upstream answer to 502 with reason invalid_response', async () => {
    const fake = await fakeOpenAi('badjson')
    const node = await nodeWith(openaiCompatible({ baseUrl: fake.url, model: 'm' }))
    const res = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(res.status).toBe(502)
    expect((res.json as { error: { reason: string } }).error.reason).toBe('invalid_response')
  })

  it('maps an unreachable upstream to 502 with reason unreachable', async () => {
    const fake = await fakeOpenAi('ok')
    const url = fake.url
    await cleanup.pop()?.()
    const node = await nodeWith(openaiCompatible({ baseUrl: url, model: 'm' }))
    const res = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(res.status).toBe(502)
    expect((res.json as { error: { code: string; reason: string } }).error).toMatchObject({ code: 'backend_error', reason: 'unreachable' })
  })

  it('answers 504 when the upstream outlives timeout_ms and cancels the upstream request', async () => {
    const fake = await fakeOpenAi('hang')
    const node = await nodeWith(openaiCompatible({ baseUrl: fake.url, model: 'm' }))
    const res = await call(`${node.url}/v1/task`, { body: chatTask({ constraints: { timeout_ms: 150 } }) })
    expect(res.status).toBe(504)
    expect((res.json as { error: { code: string } }).error.code).toBe('task_timeout')
    while (!fake.aborted()) await new Promise((r) => setTimeout(r, 5))
    expect(fake.aborted()).toBe(true)
  })

  it('refuses bad options with invalid_config', () => {
    expect(() => openaiCompatible({ baseUrl: 'ftp://x', model: 'm' })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
    expect(() => openaiCompatible({ baseUrl: 'http://127.0.0.1:1' })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
    expect(() => openaiCompatible({ baseUrl: 'http://127.0.0.1:1', model: 'm', intents: ['urn:iicp:intent:x.acme:thing:v1'] })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })
})
