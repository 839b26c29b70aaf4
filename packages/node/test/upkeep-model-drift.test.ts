/**
 * What this proves, against the real in-repo directory and a real OpenAI-compatible server on loopback:
 * on a heartbeat the node probes `GET /v1/models`, and when the list changed it serves the new models at
 * once and re-registers with them and its current token, so discover at the directory shows the change;
 * a configured model the server stopped listing is withdrawn (tasks for it answer IICP-E029); a failed
 * or empty probe, or the same models in another order, changes nothing and the heartbeat still goes out.
 * Heartbeats run on a hand-driven clock.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, openaiCompatible } from '../src/index.js'
import type { NodeOptions, OpenAiCompatibleOptions } from '../src/index.js'
import { directory } from './support/directory.js'
import { call, chatTask } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'
import { recordingProxy } from './support/recording-proxy.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A loopback OpenAI-compatible server whose model list the test changes. */
async function fakeServer(): Promise<{ url: string; models: string[]; modelsStatus: number; chats: string[] }> {
  const state = { url: '', models: [] as string[], modelsStatus: 200, chats: [] as string[] }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      if (req.method === 'GET' && req.url === '/v1/models') {
        res.statusCode = state.modelsStatus
        res.end(JSON.stringify({ object: 'list', data: state.models.map((id) => ({ id, object: 'model', owned_by: 'test' })) }))
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string }
      state.chats.push(body.model)
      res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] }))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  cleanup.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return state
}

async function dir(): Promise<RunningDirectory> {
  const d = await directory()
  cleanup.push(() => d.close())
  return d
}

async function startNode(apiUrl: string, backend: OpenAiCompatibleOptions, timers: ManualTimers, extra: Partial<NodeOptions> = {}): Promise<IicpNode> {
  const n = new IicpNode({ directoryUrl: apiUrl, persistState: false, host: '127.0.0.1', port: 0, cx: false, timers, backend: openaiCompatible(backend), ...extra } as NodeOptions)
  cleanup.push(() => n.close())
  await n.serve()
  return n
}

/**
 * Advance the hand-driven clock once the heartbeat loop has armed its next timer: the loop arms it a few
 * microtasks after the event the test awaited, so advancing at once could fire nothing.
 */
async function advanceArmed(timers: ManualTimers, ms: number): Promise<void> {
  await expect.poll(() => timers.size, { timeout: 15_000 }).toBeGreaterThan(0)
  timers.advance(ms)
}

async function advertised(d: RunningDirectory, nodeId: string): Promise<string[] | undefined> {
  const res = await call(`${d.apiUrl}/v1/discover?intent=${encodeURIComponent('urn:iicp:intent:llm:chat:v1')}&limit=50`)
  const nodes = (res.json as { nodes: Array<{ node_id: string; models?: string[] }> }).nodes
  return nodes.find((x) => x.node_id === nodeId)?.models?.slice().sort()
}

describe('model drift', () => {
  it('re-registers with a model the backend started serving, and the directory shows it', async () => {
    const d = await dir()
    const proxy = await recordingProxy(d.url)
    cleanup.push(() => proxy.close())
    const backend = await fakeServer()
    backend.models = ['llama3']
    const timers = new ManualTimers()
    const n = await startNode(proxy.apiUrl, { baseUrl: backend.url, model: 'llama3', followServerModels: true }, timers)
    expect(await advertised(d, n.nodeId)).toEqual(['llama3'])

    backend.models = ['llama3', 'qwen2.5']
    const changed = once(n, 'modelsChanged')
    const reregistered = once(n, 'reregistered')
    await advanceArmed(timers, 35_000)
    const [change] = await changed
    await reregistered
    expect(change).toEqual({ added: ['qwen2.5'], removed: [], models: ['llama3', 'qwen2.5'] })
    expect(await advertised(d, n.nodeId)).toEqual(['llama3', 'qwen2.5'])

    const registers = proxy.exchanges.filter((e) => e.method === 'POST' && e.path === '/api/v1/register')
    expect(registers).toHaveLength(2)
    const second = registers[1]?.body as { current_node_token?: string; capabilities: Array<{ models: string[] }> }
    expect(second.current_node_token).toBe((registers[0]?.response as { node_token: string }).node_token)
    expect(second.capabilities[0]?.models).toEqual(['llama3', 'qwen2.5'])
    expect(registers[1]?.status).toBe(201)

    const res = await call(`${n.url}/v1/task`, { body: chatTask({ payload: { model: 'qwen2.5', messages: [{ role: 'user', content: 'hi' }] } }) })
    expect(res.status).toBe(200)
    expect(backend.chats).toEqual(['qwen2.5'])
    expect((n.health() as { models: string[] }).models).toEqual(['llama3', 'qwen2.5'])
  })

  it('withdraws a configured model the server stopped listing; tasks naming it then answer IICP-E029', async () => {
    const d = await dir()
    const backend = await fakeServer()
    backend.models = ['a', 'b', 'not-configured']
    const timers = new ManualTimers()
    const n = await startNode(d.apiUrl, { baseUrl: backend.url, models: ['a', 'b'] }, timers)
    expect(await advertised(d, n.nodeId)).toEqual(['a', 'b'])

    backend.models = ['a']
    const changed = once(n, 'modelsChanged')
    const reregistered = once(n, 'reregistered')
    await advanceArmed(timers, 35_000)
    expect((await changed)[0]).toEqual({ added: [], removed: ['b'], models: ['a'] })
    await reregistered
    expect(await advertised(d, n.nodeId)).toEqual(['a'])
    const res = await call(`${n.url}/v1/task`, { body: chatTask({ payload: { model: 'b', messages: [{ role: 'user', content: 'hi' }] } }) })
    expect(res.status).toBe(404)
    expect((res.json as { error: { code: string } }).error.code).toBe('IICP-E029')

    backend.models = ['a', 'b']
    const back = once(n, 'modelsChanged')
    await advanceArmed(timers, 30_000)
    expect((await back)[0]).toEqual({ added: ['b'], removed: [], models: ['a', 'b'] })
  })

  it('changes nothing when the probe fails or lists none of its models, and the heartbeat still goes out', async () => {
    const d = await dir()
    const backend = await fakeServer()
    backend.models = ['a']
    const timers = new ManualTimers()
    const n = await startNode(d.apiUrl, { baseUrl: backend.url, model: 'a' }, timers)
    let drifted = 0
    n.on('modelsChanged', () => drifted++)

    backend.modelsStatus = 500
    const beat = once(n, 'heartbeat')
    await advanceArmed(timers, 35_000)
    await beat
    backend.modelsStatus = 200
    backend.models = []
    const beat2 = once(n, 'heartbeat')
    await advanceArmed(timers, 30_000)
    await beat2
    expect(drifted).toBe(0)
    expect(await advertised(d, n.nodeId)).toEqual(['a'])
  })

  it('does not re-register when the server only lists the same models in another order', async () => {
    const d = await dir()
    const backend = await fakeServer()
    backend.models = ['a', 'b']
    const timers = new ManualTimers()
    const n = await startNode(d.apiUrl, { baseUrl: backend.url, models: ['a', 'b'] }, timers)
    let drifted = 0
    n.on('modelsChanged', () => drifted++)
    backend.models = ['b', 'a']
    const beat = once(n, 'heartbeat')
    await advanceArmed(timers, 35_000)
    await beat
    expect(drifted).toBe(0)
    expect(await advertised(d, n.nodeId)).toEqual(['a', 'b'])
  })

  it('does not probe at all when model drift is turned off', async () => {
    const d = await dir()
    const backend = await fakeServer()
    backend.models = ['a', 'b']
    const timers = new ManualTimers()
    const n = await startNode(d.apiUrl, { baseUrl: backend.url, model: 'a', followServerModels: true }, timers, { modelDrift: false })
    const beat = once(n, 'heartbeat')
    await advanceArmed(timers, 35_000)
    await beat
    expect(await advertised(d, n.nodeId)).toEqual(['a'])
  })
})
