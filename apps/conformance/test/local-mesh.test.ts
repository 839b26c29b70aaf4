/**
 * The local mesh is real: the in-repo directory routes each scenario intent to the nodes the SDK checks
 * expect (the healthy node for chat, a second node ordered by region preference, a 503 node ahead of the
 * healthy one in its own region, single fault nodes elsewhere),
 * the directory counts what it receives and answers malformed HTTP with its JSON error, fault nodes
 * misbehave as scripted, and close() is idempotent and leaves no listener behind.
 */
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { CHAT_INTENT, FAULT_REGION, MAIN_REGION, SCENARIO_INTENTS, startFaultNode, startLocalMesh } from '../src/index.js'
import type { LocalMesh } from '../src/index.js'

/** A ceiling for state that follows real socket I/O, not a timing claim: generous for a loaded machine. */
const EVENTUALLY = { timeout: 15_000 }
let mesh: LocalMesh | undefined
afterEach(async () => {
  await mesh?.close()
  mesh = undefined
})

async function get(url: string): Promise<{ status: number; json: unknown }> {
  const res = await request(url)
  const text = await res.body.text()
  return { status: res.statusCode, json: text === '' ? undefined : JSON.parse(text) }
}

async function post(url: string, body: unknown): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

/** Write `bytes` on a fresh connection to `origin` and read until the server closes it. */
async function rawExchange(origin: string, bytes: string): Promise<{ head: string; body: string }> {
  const url = new URL(origin)
  const socket = connect(Number(url.port), url.hostname)
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => { text += chunk })
  socket.write(bytes)
  await once(socket, 'close')
  const split = text.indexOf('\r\n\r\n')
  return { head: text.slice(0, split), body: text.slice(split + 4) }
}

function endpoints(json: unknown): string[] {
  return ((json as { nodes: Array<{ endpoint: string }> }).nodes).map((n) => n.endpoint)
}

describe('startLocalMesh', () => {
  it('routes chat to the healthy node and puts the 503 node first for a client preferring the fault region', async () => {
    mesh = await startLocalMesh()
    const chat = await get(`${mesh.apiUrl}/v1/discover?intent=${encodeURIComponent(CHAT_INTENT)}`)
    expect(endpoints(chat.json)).toEqual([mesh.nodeUrl])
    const failover = await get(`${mesh.apiUrl}/v1/discover?intent=${encodeURIComponent(SCENARIO_INTENTS.failover)}&region=${FAULT_REGION}`)
    expect(endpoints(failover.json)).toEqual([mesh.faults.unavailable?.url, mesh.nodeUrl])
    for (const intent of [SCENARIO_INTENTS.hang, SCENARIO_INTENTS.reset, SCENARIO_INTENTS.html, SCENARIO_INTENTS.leak, SCENARIO_INTENTS.retryAfter]) {
      expect(endpoints((await get(`${mesh.apiUrl}/v1/discover?intent=${encodeURIComponent(intent)}`)).json)).toHaveLength(1)
    }
    const capacity = await get(`${mesh.apiUrl}/v1/discover?intent=${encodeURIComponent(SCENARIO_INTENTS.capacity)}&region=${FAULT_REGION}`)
    expect(endpoints(capacity.json)).toEqual([mesh.faults.capacity?.url, mesh.nodeUrl])
    expect(endpoints((await get(`${mesh.apiUrl}/v1/discover?intent=${encodeURIComponent(SCENARIO_INTENTS.nobody)}`)).json)).toEqual([])
    const select = (region: string): Promise<{ status: number; json: unknown }> =>
      get(`${mesh?.apiUrl ?? ''}/v1/discover?intent=${encodeURIComponent(SCENARIO_INTENTS.select)}&region=${region}`)
    expect(endpoints((await select(FAULT_REGION)).json)).toEqual([mesh.faults.ok?.url, mesh.nodeUrl])
    expect(endpoints((await select(MAIN_REGION)).json)).toEqual([mesh.nodeUrl, mesh.faults.ok?.url])
    expect(mesh.traffic.count('GET', '/api/v1/discover')).toBe(11)
  })

  it('lists a token-mode node for the node-suite intent only, which refuses a task without its token and runs one with it', async () => {
    mesh = await startLocalMesh()
    const listed = await get(`${mesh.apiUrl}/v1/discover?intent=${encodeURIComponent(SCENARIO_INTENTS.nodeSuite)}`)
    expect(endpoints(listed.json)).toEqual([mesh.tokenNode.url])
    const task = (): Record<string, unknown> => ({
      task_id: randomUUID(), intent: SCENARIO_INTENTS.nodeSuite, payload: { messages: [{ role: 'user', content: 'hi' }] }, constraints: { timeout_ms: 10_000 },
    })
    const refused = await post(`${mesh.tokenNode.url}/v1/task`, { ...task(), auth: { node_token: 'not-the-token' } })
    expect([refused.status, JSON.parse(refused.text).error.code]).toEqual([401, 'unauthorized'])
    const served = await post(`${mesh.tokenNode.url}/v1/task`, { ...task(), auth: { node_token: mesh.tokenNode.token } })
    expect([served.status, JSON.parse(served.text).status]).toEqual([200, 'success'])
  })

  it('fronts the directory with a 307 to the seed and with a 307 loop, counting each request', async () => {
    mesh = await startLocalMesh()
    const res = await request(`${mesh.redirector.url}/api/v1/discover?intent=x`)
    await res.body.dump()
    expect([res.statusCode, res.headers.location, res.headers['x-iicp-seed-redirect']]).toEqual([307, `${mesh.origin}/api/v1/discover?intent=x`, 'true'])
    const loop = await request(`${mesh.redirectLoop.url}/api/v1/discover`)
    await loop.body.dump()
    expect([loop.statusCode, loop.headers.location]).toEqual([307, `${mesh.redirectLoop.url}/api/v1/discover`])
    expect([mesh.redirector.count('GET', '/api/v1/discover'), mesh.redirectLoop.count('GET', '/api/v1/discover')]).toEqual([1, 1])
  })

  it('answers malformed HTTP to the directory with its JSON 400, not node\'s bare one, and keeps serving', async () => {
    mesh = await startLocalMesh()
    const r = await rawExchange(mesh.origin, 'POST /api/v1/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: nope\r\n\r\n')
    expect(r.head.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request')
    expect(r.head.toLowerCase()).toContain('content-type: application/json; charset=utf-8')
    expect(JSON.parse(r.body)).toEqual({ error: { code: 'validation_error', message: 'Malformed HTTP request' } })
    expect((await get(`${mesh.origin}/iicp/health`)).status).toBe(200)
  })

  it('closes idempotently and leaves no listener behind', async () => {
    const m = await startLocalMesh()
    const urls = [m.origin, m.nodeUrl, m.tokenNode.url, m.redirector.url, m.redirectLoop.url, ...Object.values(m.faults).map((f) => f.url)]
    await Promise.all([m.close(), m.close()])
    await m.close()
    for (const url of urls) await expect(request(`${url}/iicp/health`)).rejects.toThrow()
  })
})

describe('fault nodes', () => {
  it('closes idempotently, ending a hung request, and leaves no listener behind', async () => {
    const node = await startFaultNode({ behaviour: 'hang', intents: [CHAT_INTENT] })
    const hung = request(`${node.url}/v1/task`, { method: 'POST', body: JSON.stringify({ task_id: randomUUID(), intent: CHAT_INTENT }) })
    await expect.poll(() => node.taskRequests, EVENTUALLY).toBe(1)
    await Promise.all([node.close(), node.close()])
    await expect(hung).rejects.toThrow()
    await expect(request(`${node.url}/iicp/health`)).rejects.toThrow()
  })

  it('answers 429 with Retry-After the first time a task id is seen and succeeds on its retry', async () => {
    const node = await startFaultNode({ behaviour: 'rate-limited-once', intents: [CHAT_INTENT], retryAfterSeconds: 7 })
    try {
      const task = { task_id: randomUUID(), intent: CHAT_INTENT, payload: {} }
      const first = await post(`${node.url}/v1/task`, task)
      expect([first.status, first.headers['retry-after'], JSON.parse(first.text)]).toEqual([429, '7', { error: { code: 'rate_limited', message: 'Too many requests' } }])
      const second = await post(`${node.url}/v1/task`, task)
      expect(second.status).toBe(200)
      expect(JSON.parse(second.text)).toMatchObject({ task_id: task.task_id, status: 'success', error: null })
      expect(node.requestsFor(task.task_id)).toBe(2)
    } finally {
      await node.close()
    }
  })

  it('double-wraps results, serves HTML errors and quotes the credential it was sent, as scripted', async () => {
    const wrap = await startFaultNode({ behaviour: 'double-wrap', intents: [CHAT_INTENT] })
    const html = await startFaultNode({ behaviour: 'html', intents: [CHAT_INTENT] })
    const echo = await startFaultNode({ behaviour: 'token-echo', intents: [CHAT_INTENT] })
    try {
      const task = (): Record<string, unknown> => ({ task_id: randomUUID(), intent: CHAT_INTENT, payload: {}, auth: { node_token: 'quoted.token' } })
      const wrapped = JSON.parse((await post(`${wrap.url}/v1/task`, task())).text) as { result: { result?: unknown; status?: string } }
      expect(wrapped.result.status).toBe('success')
      expect(wrapped.result.result).toMatchObject({ object: 'chat.completion' })
      const page = await post(`${html.url}/v1/task`, task())
      expect([page.status, page.headers['content-type']]).toEqual([500, 'text/html'])
      expect((await post(`${echo.url}/v1/task`, task())).text).toContain('quoted.token')
      expect((await post(`${wrap.url}/v1/task`, { ...task(), intent: 'bad' })).status).toBe(422)
    } finally {
      await Promise.all([wrap.close(), html.close(), echo.close()])
    }
  })
})
