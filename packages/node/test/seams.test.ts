/**
 * What this proves: the seams other packages plug into. A reachability resolver runs after the node
 * listens (it sees the bound port) and before it registers, and what it returns is what the directory
 * records; `handleTask` runs relay-fed tasks through the same pipeline and honours the caller's signal;
 * `requestListener` serves the node's routes from a server the caller owns.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { IicpNode, echo } from '../src/index.js'
import type { InnerResult, NodeOptions } from '../src/index.js'
import { directory, nodeRecord } from './support/directory.js'
import { call, chatTask } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function node(opts: Partial<NodeOptions>): IicpNode {
  const n = new IicpNode({ host: '127.0.0.1', port: 0, persistState: false, backend: echo(), timers: new ManualTimers(), ...opts } as NodeOptions)
  cleanup.push(() => n.close())
  return n
}

describe('seams', () => {
  it('runs the reachability resolver after listen and before register, and advertises its answer', async () => {
    const d = await directory()
    cleanup.push(() => d.close())
    const order: string[] = []
    let seenPort = 0
    const n = node({
      directoryUrl: d.apiUrl,
      reachability: async ({ port, url }) => {
        order.push('resolve')
        seenPort = port
        return { publicEndpoint: url, transportMethod: 'upnp_mapped', natType: 'full_cone', exposureMode: 'ipv4_public_direct' }
      },
    })
    n.on('listening', () => order.push('listening'))
    n.on('registered', () => order.push('registered'))
    await n.serve()
    expect(order).toEqual(['listening', 'resolve', 'registered'])
    expect(seenPort).toBe(n.port)
    expect(await nodeRecord(d, n.nodeId)).toMatchObject({ endpoint: n.url, transport_method: 'upnp_mapped' })
  })

  it('reports a failing resolver as degraded and registers the local endpoint instead', async () => {
    const d = await directory()
    cleanup.push(() => d.close())
    const n = node({ directoryUrl: d.apiUrl, reachability: async () => { throw new Error('no gateway') } })
    const reasons: string[] = []
    n.on('degraded', (e) => reasons.push(e.reason))
    await n.serve()
    expect(reasons).toEqual(['reachability_failed'])
    expect(n.isRegistered).toBe(true)
    expect(n.endpoint).toBe(n.url)
  })

  it('answers a relay-fed task with 503 when the relay session aborts it', async () => {
    const n = node({ directoryUrl: null, backend: undefined, handler: () => new Promise<InnerResult>(() => {}) })
    await n.serve()
    const ac = new AbortController()
    const pending = n.handleTask(chatTask(), { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, ac.signal)
    ac.abort()
    const reply = await pending
    expect(reply.status).toBe(503)
    expect(JSON.parse(reply.body)).toEqual({ error: { code: 'service_unavailable', message: 'Task cancelled' } })
    expect(n.activeJobs).toBe(0)
  })

  it('serves its routes through requestListener on a server the caller owns', async () => {
    const n = node({ directoryUrl: null })
    const server = createServer(n.requestListener)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    cleanup.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const res = await call(`${url}/v1/task`, { body: chatTask() })
    expect(res.status).toBe(200)
    expect((res.json as { status: string }).status).toBe('success')
  })
})
