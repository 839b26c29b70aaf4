/**
 * What this proves, end to end on loopback with the real directory, a real relay-capable node and real worker nodes:
 * the official relay nodes' mesh route `POST /v1/relay` with `{target_node_id, task}` (official-sdks.md §5.3) reaches
 * a worker bound over WebSocket, HTTP long-poll or native TCP and answers what `/v1/relay-for/{id}/v1/task` answers
 * for the same task; an id with no bound session gets 404 `IICP-E030` (this relay keeps no gossip peers); a missing or
 * malformed field gets 422 `IICP-E000`, a non-JSON body 400 and another method 405, each as the JSON error shape, and
 * none of them reaches the worker.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions, RelayBoundEvent } from '../src/index.js'
import { directory } from './support/directory.js'
import { call, chatTask } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function node(opts: Partial<NodeOptions>): IicpNode {
  const n = new IicpNode({ host: '127.0.0.1', port: 0, persistState: false, cx: false, timers: new ManualTimers(), ...opts } as NodeOptions)
  cleanup.push(() => n.close())
  return n
}

interface Mesh { relay: IicpNode; worker: IicpNode; served: () => number }

/** A directory, a relay-capable node and a worker with no port bound to it over `transport`, counting its tasks. */
async function mesh(transport: 'ws' | 'http' | 'tcp'): Promise<Mesh> {
  const d: RunningDirectory = await directory()
  cleanup.push(() => d.close())
  const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: 0, backend: echo({ models: ['relay-model'] }) })
  await relay.serve()
  let served = 0
  const backend = echo({ models: ['worker-model'] })
  const worker = node({
    directoryUrl: d.apiUrl, listen: false, relay: { transport },
    backend: { ...backend, handle: (...args: Parameters<typeof backend.handle>) => { served++; return backend.handle(...args) } },
  })
  const bound = new Promise<RelayBoundEvent>((resolve) => worker.once('relay_bound', resolve))
  await worker.serve()
  expect(await bound).toMatchObject({ relayUrl: relay.url, transport })
  return { relay, worker, served: () => served }
}

const task = (content: string): Record<string, unknown> => chatTask({ payload: { model: 'worker-model', messages: [{ role: 'user', content }] } })
const errorOf = (json: unknown): { code?: unknown; message?: unknown } => (json as { error?: { code?: unknown; message?: unknown } }).error ?? {}

/** The answer with its per-task values (ids, times) blanked, to compare two answers for different tasks. */
function shape(json: unknown): unknown {
  return JSON.parse(JSON.stringify(json)
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/"(latency_ms|duration_ms|completed_at|created)":[^,}]+/g, '"$1":0'))
}

describe('POST /v1/relay on a relay-capable node', { timeout: 60_000 }, () => {
  for (const transport of ['ws', 'http', 'tcp'] as const) {
    it(`forwards the task to the worker bound over ${transport} and answers as relay-for does`, async () => {
      const m = await mesh(transport)
      const viaMesh = task('through the mesh route')
      const res = await call(`${m.relay.url}/v1/relay`, { body: { target_node_id: m.worker.nodeId, task: viaMesh } })
      expect(res.status).toBe(200)
      expect(res.json).toMatchObject({ task_id: viaMesh.task_id })
      expect(JSON.stringify(res.json)).toContain('echo: through the mesh route')
      expect(res.headers['access-control-allow-origin']).toBe('*')

      const viaPath = task('through the mesh route')
      const direct = await call(`${m.relay.url}/v1/relay-for/${m.worker.nodeId}/v1/task`, { body: viaPath })
      expect(direct.status).toBe(200)
      expect(shape(res.json)).toEqual(shape(direct.json))
      expect(m.served()).toBe(2)
    })
  }

  it('answers 404 IICP-E030 for a target with no bound session, 422 IICP-E000 for missing fields, and never reaches the worker', async () => {
    const m = await mesh('ws')
    const unknown = await call(`${m.relay.url}/v1/relay`, { body: { target_node_id: 'not-bound-here', task: task('x') } })
    expect(unknown.status).toBe(404)
    expect(errorOf(unknown.json).code).toBe('IICP-E030')
    // The relay node itself is not a bound worker either.
    expect((await call(`${m.relay.url}/v1/relay`, { body: { target_node_id: m.relay.nodeId, task: task('x') } })).status).toBe(404)

    const bad: Array<[Record<string, unknown>, string]> = [
      [{ task: task('x') }, 'target_node_id'],
      [{ target_node_id: m.worker.nodeId }, 'task'],
      [{ target_node_id: 42, task: task('x') }, 'target_node_id'],
      [{ target_node_id: m.worker.nodeId, task: 'hello' }, 'task'],
      [{ target_node_id: m.worker.nodeId, task: [task('x')] }, 'task'],
    ]
    for (const [body, field] of bad) {
      const r = await call(`${m.relay.url}/v1/relay`, { body })
      expect(r.status).toBe(422)
      expect(errorOf(r.json)).toMatchObject({ code: 'IICP-E000', message: expect.stringContaining(field) })
    }
    const notJson = await call(`${m.relay.url}/v1/relay`, { body: '{"target_node_id":' })
    expect(notJson.status).toBe(400)
    expect(errorOf(notJson.json).code).toBe('invalid_json')
    const get = await call(`${m.relay.url}/v1/relay`, { method: 'GET' })
    expect(get.status).toBe(405)
    expect(errorOf(get.json).code).toBe('method_not_allowed')
    expect(m.served()).toBe(0)
  })
})
