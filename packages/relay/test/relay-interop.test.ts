// Proves that a long-poll worker written for the reference Python relay works against this relay unchanged:
// the worker side of the captured HTTP long-poll cycle (fixtures/interop/native-python-sdk-0.7.107.json,
// capture d) is replayed request by request, and each answer has the captured status and body shape. The one
// deliberate difference: a bad session token is 401 `unauthorized`, not the reference's reused `IICP-E021`.
import { readFileSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startRelayServer } from '@iicp/relay'
import type { StartedRelayServer } from '@iicp/relay'
import { get, post } from './consumer.js'

interface Exchange {
  method: string
  path: string
  status: number
  request: { headers: Record<string, string>; json?: unknown }
  response: { headers: Record<string, string>; json?: unknown }
}

const capture = JSON.parse(readFileSync(new URL('../../../fixtures/interop/native-python-sdk-0.7.107.json', import.meta.url), 'utf8')) as {
  captures: { http_longpoll_relay: { exchanges: Exchange[] } }
}
const ex = capture.captures.http_longpoll_relay.exchanges

function at(i: number): Exchange {
  const e = ex[i]
  if (!e) throw new Error(`capture has no exchange ${i}`)
  return e
}

describe('the reference long-poll cycle against this relay', () => {
  let relay: StartedRelayServer

  beforeEach(async () => {
    // One second, as the capture's poll_timeout_s says: long enough that a parked pull is still waiting when the
    // consumer's task arrives on a loaded machine; the one pull that must come back empty waits it out.
    relay = await startRelayServer({ allowUnsignedBinds: true, pollTimeoutMs: 1_000 })
  })
  afterEach(async () => {
    await relay.close()
  })

  it('answers every captured worker request with the captured status and body shape', async () => {
    const bind = at(0)
    const first = await post(`${relay.url}${bind.path}`, bind.request.json)
    expect(first.status).toBe(bind.status)
    const bound = first.json as { session_token: string }
    expect(Object.keys(bound)).toEqual(expect.arrayContaining(Object.keys(bind.response.json as object)))
    expect(first.json).toMatchObject({ poll_timeout_s: 1, worker_endpoint_path: '/v1/relay-for/cap-http-worker-1' })
    expect(bound.session_token).toMatch(/^[0-9a-f]{32}$/)
    for (const h of Object.keys(bind.response.headers).filter((k) => k.startsWith('Access-Control'))) {
      expect(first.headers[h.toLowerCase()]).toBeDefined()
    }

    const second = await post(`${relay.url}${at(1).path}`, at(1).request.json)
    expect(second.status).toBe(409)
    expect((second.json as { error: { code: string } }).error.code).toBe('IICP-E038')

    const badPull = await get(`${relay.url}${at(2).path}`, { authorization: 'Bearer not-a-session-token' })
    expect(badPull.status).toBe(401)
    expect(badPull.json).toEqual({ error: { code: 'unauthorized', message: 'invalid or missing relay session token' } })

    const auth = { authorization: `Bearer ${bound.session_token}` }
    const consumerTask = at(4).request.json
    const pulled = get(`${relay.url}${at(3).path}`, auth)
    const consumer = post(`${relay.url}${at(4).path}`, consumerTask)
    const pull = await pulled
    expect(pull.status).toBe(200)
    const call = pull.json as { call_id: string; task: unknown; headers: Record<string, string> }
    expect(call.task).toEqual((at(3).response.json as { task: unknown }).task)
    expect(call.call_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(call.headers['content-type']).toBe('application/json')

    const resultBody = { ...(at(5).request.json as object), call_id: call.call_id }
    const result = await post(`${relay.url}${at(5).path}`, resultBody, auth)
    expect(result.status).toBe(204)
    expect(result.text).toBe('')

    const answer = await consumer
    expect(answer.status).toBe(200)
    expect(answer.json).toEqual(at(4).response.json)

    const health = await get(`${relay.url}${at(6).path}`)
    expect(health.status).toBe(200)
    expect(health.json).toMatchObject(at(6).response.json as object)

    const empty = await get(`${relay.url}${at(7).path}`, auth)
    expect(empty.status).toBe(204)

    const unbind = await post(`${relay.url}${at(8).path}`, at(8).request.json, auth)
    expect(unbind.status).toBe(204)

    const after = await post(`${relay.url}${at(9).path}`, at(9).request.json)
    expect(after.status).toBe(404)
    expect(after.json).toEqual(at(9).response.json)
  })

  it('refuses a streaming result event with a 422 naming the field, since relayed streaming is not offered', async () => {
    const bound = (await post(`${relay.url}/v1/relay/bind`, { worker_id: 'w-stream' })).json as { session_token: string }
    const res = await post(`${relay.url}/v1/relay/result`, { call_id: 'c1', event: { type: 'delta' } }, { authorization: `Bearer ${bound.session_token}` })
    expect(res.status).toBe(422)
    expect(res.json).toMatchObject({ error: { code: 'validation_error', fields: { result: ['streaming relay events are not supported; post result'] } } })
  })

  it('answers a result for an unknown call id with 404 not_found', async () => {
    const bound = (await post(`${relay.url}/v1/relay/bind`, { worker_id: 'w-late' })).json as { session_token: string }
    const res = await post(`${relay.url}/v1/relay/result`, { call_id: 'gone', result: {} }, { authorization: `Bearer ${bound.session_token}` })
    expect(res.status).toBe(404)
    expect(res.json).toEqual({ error: { code: 'not_found', message: 'unknown or expired call_id' } })
  })

  it('refuses a bind without worker_id with 422 validation_error', async () => {
    const res = await post(`${relay.url}/v1/relay/bind`, { intent: 'urn:iicp:intent:llm:chat:v1' })
    expect(res.status).toBe(422)
    expect(res.json).toMatchObject({ error: { code: 'validation_error', fields: { worker_id: expect.any(Array) } } })
  })

  it('refuses a consumer body that is not JSON on a long-poll session with 400 invalid_json', async () => {
    await post(`${relay.url}/v1/relay/bind`, { worker_id: 'w-json' })
    const res = await post(`${relay.url}/v1/relay-for/w-json/v1/task`, '{not json')
    expect(res.status).toBe(400)
    expect((res.json as { error: { code: string } }).error.code).toBe('invalid_json')
  })

  it('answers wrong methods, unknown relay-for routes and oversized bodies with JSON errors', async () => {
    const wrong = await get(`${relay.url}/v1/relay/bind`)
    expect(wrong.status).toBe(405)
    expect((wrong.json as { error: { code: string } }).error.code).toBe('method_not_allowed')
    await post(`${relay.url}/v1/relay/bind`, { worker_id: 'w-big' })
    const other = await get(`${relay.url}/v1/relay-for/w-big/admin`)
    expect(other.status).toBe(404)
    expect((other.json as { error: { code: string } }).error.code).toBe('not_found')
    const small = await startRelayServer({ allowUnsignedBinds: true, maxBodyBytes: 64 })
    try {
      await post(`${small.url}/v1/relay/bind`, { worker_id: 'w-big' })
      const big = await post(`${small.url}/v1/relay-for/w-big/v1/task`, { pad: 'x'.repeat(200) })
      expect(big.status).toBe(413)
      expect((big.json as { error: { code: string } }).error.code).toBe('payload_too_large')
    } finally {
      await small.close()
    }
  })

  it('answers a CORS preflight on relay paths with 204 and a max age', async () => {
    const { request } = await import('undici')
    const res = await request(`${relay.url}/v1/relay-for/anyone/v1/task`, { method: 'OPTIONS' })
    await res.body.dump()
    expect(res.statusCode).toBe(204)
    expect(res.headers['access-control-max-age']).toBe('86400')
    expect(res.headers['access-control-allow-origin']).toBe('*')
  })
})

describe('long-poll additions a reference worker never sees', () => {
  it('hands several queued calls to one pull that asks with ?max=N, and passes raw result bodies through', async () => {
    const relay = await startRelayServer({ allowUnsignedBinds: true })
    try {
      const bound = (await post(`${relay.url}/v1/relay/bind`, { worker_id: 'w-batch' })).json as { session_token: string; max_pull_batch: number; raw_result: boolean }
      expect(bound).toMatchObject({ max_pull_batch: 32, raw_result: true })
      const auth = { authorization: `Bearer ${bound.session_token}` }
      const tasks = [0, 1, 2].map((i) => ({ task_id: `t${i}`, n: i }))
      const consumers = tasks.map((t) => post(`${relay.url}/v1/relay-for/w-batch/v1/task`, t))
      // Wait until all three are queued: the session reports them in flight.
      while ((relay.relay.sessions.get('w-batch')?.inFlight ?? 0) < 3) await new Promise((r) => setImmediate(r))
      const first = (await get(`${relay.url}/v1/relay/pull?max=2`, auth)).json as { call_id: string; task: unknown; more: Array<{ call_id: string; task: unknown }> }
      expect(first.task).toEqual(tasks[0])
      expect(first.more.map((c) => c.task)).toEqual([tasks[1]])
      const second = (await get(`${relay.url}/v1/relay/pull`, auth)).json as { call_id: string; task: unknown; more?: unknown }
      expect(second.task).toEqual(tasks[2])
      expect(second.more).toBeUndefined()
      for (const [i, call] of [first, ...first.more, second].entries()) {
        const res = await post(`${relay.url}/v1/relay/result`, { call_id: call.call_id, http_status: 201, http_headers: { 'x-n': String(i) }, body: `{"n":${i}}` }, auth)
        expect(res.status).toBe(204)
      }
      const answers = await Promise.all(consumers)
      expect(answers.map((a) => [a.status, a.headers['x-n'], a.text])).toEqual([[201, '0', '{"n":0}'], [201, '1', '{"n":1}'], [201, '2', '{"n":2}']])
    } finally {
      await relay.close()
    }
  })
})
