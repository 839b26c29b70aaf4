/**
 * What this proves: POST /v1/task over real HTTP answers every path of the issue exactly — the success
 * envelope wraps the handler's inner result once (SDK-NODE-02), every error is JSON with the catalogue
 * status (400, 413, 422, unknown_intent, 409, 429 with qos_class/retry_after_ms/Retry-After, 504 with
 * the handler's signal aborted, 502 without stack or paths), plus health, metrics, CORS and routing.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { IicpError } from '@iicp/protocol'
import { IicpNode, echo } from '../src/index.js'
import type { InnerResult, NodeOptions, TaskContext, TaskInput } from '../src/index.js'
import { CHAT, call, chatTask, taskId } from './support/http.js'

const nodes: IicpNode[] = []
async function start(opts: Partial<NodeOptions> = {}): Promise<IicpNode> {
  const node = new IicpNode({ directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, backend: echo(), ...opts } as NodeOptions)
  nodes.push(node)
  await node.serve()
  return node
}
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})

function errorOf(json: unknown): Record<string, unknown> {
  return (json as { error: Record<string, unknown> }).error
}

describe('POST /v1/task success (SDK-NODE-02)', () => {
  it('SDK-NODE-02: the handler receives the request and a context, and its inner result is wrapped exactly once', async () => {
    let seen: { task: TaskInput; ctx: TaskContext } | undefined
    const node = await start({
      backend: undefined,
      capabilities: [{ intent: CHAT, models: ['m1'] }],
      handler: (task, ctx) => {
        seen = { task, ctx }
        return { choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], model: 'm1', usage: { total_tokens: 7 } }
      },
    })
    const body = chatTask({ trace: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' } })
    const res = await call(`${node.url}/v1/task`, { body, headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } })
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.headers['x-iicp-trace-id']).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
    // A traced answer keeps the CORS header and an explicit length (never chunked) beside its trace id.
    expect(res.headers['access-control-allow-origin']).toBe('*')
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(res.text)))
    expect(res.headers['transfer-encoding']).toBeUndefined()
    const env = res.json as Record<string, unknown>
    expect(env).toMatchObject({
      task_id: body.task_id, status: 'success', model_used: 'm1', error: null, node_id: node.nodeId, generated_by_ai: true,
      result: { choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], model: 'm1' },
    })
    expect((env.metrics as { latency_ms: number }).latency_ms).toBeGreaterThanOrEqual(0)
    expect((env.metrics as { tokens_used: number }).tokens_used).toBe(7)
    expect(env.result).not.toHaveProperty('result')
    expect(seen?.task).toMatchObject({ taskId: body.task_id, intent: CHAT, payload: body.payload })
    expect(seen?.ctx.signal).toBeInstanceOf(AbortSignal)
    expect(seen?.ctx).toMatchObject({ model: 'm1', timeoutMs: 5000, qos: 'batch', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', encrypted: false, nodeId: node.nodeId })
  })

  it('unwraps a handler that returns an already-wrapped { result } so the response is never double-nested', async () => {
    const wrapped = { result: { choices: [{ message: { role: 'assistant', content: 'x' } }] } }
    // The type refuses an envelope; plain JavaScript callers (or a cast) still reach the runtime guard.
    const node = await start({ backend: undefined, handler: () => wrapped as unknown as InnerResult })
    const res = await call(`${node.url}/v1/task`, { body: chatTask({ payload: { messages: [{ role: 'user', content: 'a' }] } }) })
    expect(res.status).toBe(200)
    expect((res.json as { result: unknown }).result).toEqual(wrapped.result)
  })

  it('keeps a result whose own data happens to include a result field next to other keys', async () => {
    const value = { result: 42, choices: [] }
    const node = await start({ backend: undefined, handler: () => value as unknown as InnerResult })
    const res = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect((res.json as { result: unknown }).result).toEqual(value)
  })

  it('answers the echo backend with an OpenAI chat.completion', async () => {
    const node = await start()
    const res = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(res.status).toBe(200)
    const r = res.json as { result: { object: string; choices: Array<{ message: { content: string } }> }; model_used: string }
    expect(r.result.object).toBe('chat.completion')
    expect(r.result.choices[0]?.message.content).toBe('echo: hello mesh')
    expect(r.model_used).toBe('echo-1')
  })

  it('serves several models on one port and routes by payload.model', async () => {
    const node = await start({ backend: [echo({ models: ['small'] }), echo({ models: ['large'] })] })
    const a = await call(`${node.url}/v1/task`, { body: chatTask({ payload: { model: 'large', messages: [{ role: 'user', content: 'q' }] } }) })
    expect((a.json as { model_used: string }).model_used).toBe('large')
    const b = await call(`${node.url}/v1/task`, { body: chatTask({ payload: { model: 'tiny', messages: [{ role: 'user', content: 'q' }] } }) })
    expect(b.status).toBe(404)
    expect(errorOf(b.json).code).toBe('IICP-E029')
    const health = await call(`${node.url}/iicp/health`)
    expect((health.json as { models: string[] }).models).toEqual(['small', 'large'])
  })
})

describe('POST /v1/task errors', () => {
  it('answers malformed JSON with 400 invalid_json as JSON', async () => {
    const node = await start()
    const res = await call(`${node.url}/v1/task`, { body: '{"task_id": ' })
    expect(res.status).toBe(400)
    expect(res.json).toEqual({ error: { code: 'invalid_json', message: 'Request body is not valid JSON' } })
  })

  it('answers a body over the limit with 413 payload_too_large', async () => {
    const node = await start({ maxBodyBytes: 2048 })
    const res = await call(`${node.url}/v1/task`, { body: chatTask({ payload: { messages: [{ role: 'user', content: 'x'.repeat(5000) }] } }) })
    expect(res.status).toBe(413)
    expect(errorOf(res.json).code).toBe('payload_too_large')
    const ok = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(ok.status).toBe(200)
  })

  it('answers schema violations with 422 validation_error and field details', async () => {
    const node = await start()
    const res = await call(`${node.url}/v1/task`, { body: { task_id: 'nope', intent: CHAT, payload: {}, constraints: { timeout_ms: 5 } } })
    expect(res.status).toBe(422)
    const err = errorOf(res.json)
    expect(err.code).toBe('validation_error')
    expect(Object.keys(err.fields as object)).toEqual(expect.arrayContaining(['task_id', 'constraints.timeout_ms']))
  })

  it('answers an intent the node does not serve with unknown_intent', async () => {
    const node = await start()
    const res = await call(`${node.url}/v1/task`, { body: chatTask({ intent: 'urn:iicp:intent:llm:embedding:v1', payload: { input: 'x' } }) })
    expect(res.status).toBe(422)
    expect(errorOf(res.json).code).toBe('unknown_intent')
  })

  it('answers a repeated task_id with 409 conflict', async () => {
    const node = await start()
    const body = chatTask()
    expect((await call(`${node.url}/v1/task`, { body })).status).toBe(200)
    const again = await call(`${node.url}/v1/task`, { body })
    expect(again.status).toBe(409)
    expect(errorOf(again.json).code).toBe('conflict')
  })

  it('runs a retry of a task_id whose first run failed on the node, instead of answering 409', async () => {
    let calls = 0
    const node = await start({ backend: undefined, handler: () => {
      calls++
      if (calls === 1) throw new Error('backend fell over')
      return { choices: [{ index: 0, message: { role: 'assistant', content: 'second time lucky' }, finish_reason: 'stop' }] }
    } })
    const body = chatTask()
    const first = await call(`${node.url}/v1/task`, { body })
    expect([first.status, errorOf(first.json).code]).toEqual([502, 'backend_error'])
    const retry = await call(`${node.url}/v1/task`, { body })
    expect(retry.status).toBe(200)
    expect(calls).toBe(2)
    const third = await call(`${node.url}/v1/task`, { body })
    expect(third.status).toBe(409)
  })

  it('answers a handler result JSON cannot carry with 502 backend_error and keeps serving', async () => {
    let calls = 0
    const node = await start({ backend: undefined, handler: () => {
      calls++
      return calls === 1 ? { choices: [], big: 10n } as unknown as { choices: [] } : { choices: [] }
    } })
    const bad = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect([bad.status, errorOf(bad.json).code]).toEqual([502, 'backend_error'])
    const good = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(good.status).toBe(200)
    expect(node.activeJobs).toBe(0)
  })

  it('answers 429 capacity_exceeded with qos_class, retry_after_ms and Retry-After once max_concurrent tasks run', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => { release = r })
    const node = await start({ backend: undefined, maxConcurrent: 1, retryAfterMs: 1500, handler: async () => { await gate; return { choices: [] } } })
    const first = call(`${node.url}/v1/task`, { body: chatTask() })
    while (node.activeJobs < 1) await new Promise((r) => setImmediate(r))
    const second = await call(`${node.url}/v1/task`, { body: chatTask({ constraints: { timeout_ms: 5000, qos: 'interactive' } }) })
    expect(second.status).toBe(429)
    expect(second.headers['retry-after']).toBe('2')
    expect(second.json).toEqual({ error: { code: 'capacity_exceeded', message: 'Node at capacity', retry_after_ms: 1500, qos_class: 'interactive' } })
    release()
    expect((await first).status).toBe(200)
  })

  it('answers 504 task_timeout when the handler outlives constraints.timeout_ms, and aborts its signal', async () => {
    let aborted = false
    const node = await start({
      backend: undefined,
      handler: (_task, ctx) => new Promise<InnerResult>((resolve) => {
        ctx.signal.addEventListener('abort', () => { aborted = true; resolve({ late: true }) })
      }),
    })
    const res = await call(`${node.url}/v1/task`, { body: chatTask({ constraints: { timeout_ms: 100 } }) })
    expect(res.status).toBe(504)
    expect(errorOf(res.json).code).toBe('task_timeout')
    expect(aborted).toBe(true)
  })

  it('answers 504 even when the handler ignores its signal', async () => {
    const node = await start({ backend: undefined, handler: () => new Promise<InnerResult>(() => {}) })
    const res = await call(`${node.url}/v1/task`, { body: chatTask({ constraints: { timeout_ms: 100 } }) })
    expect(res.status).toBe(504)
    expect(node.activeJobs).toBe(0)
  })

  it('answers 502 backend_error without the message, stack or file paths when the handler throws', async () => {
    const node = await start({ backend: undefined, handler: () => { throw new Error('ENOENT: /home/alice/secret/model.bin at Object.<anonymous> (/var/app/x.js:1:1)') } })
    const res = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(res.status).toBe(502)
    expect(res.json).toEqual({ error: { code: 'backend_error', message: 'Backend failed' } })
    expect(res.text).not.toMatch(/home|var|alice|anonymous|at /)
  })

  it('keeps the code of a deliberate client-side IicpError thrown by the handler', async () => {
    const node = await start({ backend: undefined, handler: () => { throw new IicpError('validation_error', 'Input validation failed', { fields: { 'payload.messages': ['required'] } }) } })
    const res = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(res.status).toBe(422)
    expect(errorOf(res.json)).toEqual({ code: 'validation_error', message: 'Input validation failed', fields: { 'payload.messages': ['required'] } })
  })

  it('answers the legacy {error_code, error_message} backend shape as 502, never as a success', async () => {
    const node = await start({ backend: undefined, handler: () => ({ error_code: 'upstream_500', error_message: 'boom' }) })
    const res = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(res.status).toBe(502)
    expect(errorOf(res.json).code).toBe('backend_error')
  })

  it('answers encrypted-response requests without an encrypted request with IICP-CX-03', async () => {
    const node = await start()
    const res = await call(`${node.url}/v1/task`, { body: chatTask({ cx_response_encryption: 'required' }) })
    expect(res.status).toBe(400)
    expect(errorOf(res.json).code).toBe('IICP-CX-03')
  })
})

describe('auth: token mode', () => {
  it('refuses a task without credentials with 401 and accepts none when the node holds no token yet', async () => {
    const node = await start({ auth: 'token' })
    const res = await call(`${node.url}/v1/task`, { body: chatTask({ auth: { node_token: 'guess' } }) })
    expect(res.status).toBe(401)
    expect(errorOf(res.json).code).toBe('unauthorized')
    expect(res.text).not.toContain('guess')
  })

  it('serves open by default, with no token at all (the live mesh sends none)', async () => {
    const node = await start()
    expect((await call(`${node.url}/v1/task`, { body: chatTask() })).status).toBe(200)
  })
})

describe('routes', () => {
  it('answers GET /iicp/health with status, node_id, load, models and observed IP', async () => {
    const node = await start({ region: 'eu-central' })
    const res = await call(`${node.url}/iicp/health`)
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ status: 'ok', node_id: node.nodeId, region: 'eu-central', load: 0, active_jobs: 0, max_concurrent: 4, available: true, models: ['echo-1'], observed_source_ip: null })
  })

  it('answers GET /metrics in Prometheus text with the spec metric names', async () => {
    const node = await start()
    await call(`${node.url}/v1/task`, { body: chatTask() })
    const res = await call(`${node.url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    for (const name of ['iicp_tasks_total', 'iicp_task_latency_ms_bucket', 'iicp_tokens_used_total', 'iicp_peers_active', 'iicp_heartbeat_failures_total']) {
      expect(res.text).toContain(name)
    }
    expect(res.text).toContain(`iicp_tasks_total{status="success",intent="${CHAT}",qos="batch"} 1`)
    expect(res.text).toContain('le="30000"')
  })

  it('answers OPTIONS preflight with 204 and open CORS headers', async () => {
    const node = await start()
    const res = await call(`${node.url}/v1/task`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } })
    expect(res.status).toBe(204)
    expect(res.headers['access-control-allow-origin']).toBe('*')
    expect(res.headers['access-control-allow-methods']).toBe('GET, POST, OPTIONS')
    expect(String(res.headers['access-control-allow-headers'])).toContain('X-IICP-Consumer-Token')
  })

  it('answers an unknown path with JSON 404 and a wrong method with JSON 405', async () => {
    const node = await start()
    const missing = await call(`${node.url}/nope`)
    expect(missing.status).toBe(404)
    expect(errorOf(missing.json).code).toBe('not_found')
    const wrong = await call(`${node.url}/v1/task`, { method: 'GET' })
    expect(wrong.status).toBe(405)
    expect(errorOf(wrong.json).code).toBe('method_not_allowed')
    expect(wrong.headers.allow).toBe('POST, OPTIONS')
  })

  it('exposes handleTask so a relay worker feeds the same pipeline', async () => {
    const node = await start()
    const id = taskId()
    const reply = await node.handleTask(JSON.stringify(chatTask({ task_id: id })), {})
    expect(reply.status).toBe(200)
    expect(JSON.parse(reply.body)).toMatchObject({ task_id: id, status: 'success' })
    expect(reply.headers).toEqual({ 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*' })
    const traced = await node.handleTask(chatTask(), { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })
    expect(traced.headers).toEqual({ 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*', 'x-iicp-trace-id': '4bf92f3577b34da6a3ce929d0e0e4736' })
    const again = await node.handleTask(chatTask({ task_id: id }), {})
    expect(again.status).toBe(409)
  })
})
