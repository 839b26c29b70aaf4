/**
 * What this proves, end to end on loopback with the real directory, real relay nodes and the real client:
 * a worker node with no listening port elects a relay-capable node from discover, fetches a directory-signed
 * bind ticket, binds over WebSocket, HTTP long-poll or the relay's native TCP accept port (the official SDKs'
 * transport, found through `relay_accept_port` in discover), and registers the relay's path-scoped endpoint
 * (`turn_relay`, `relay_endpoint`); a consumer's `chat()` then reaches it through the relay with no client
 * changes. When its relay dies, the worker elects the next one, re-binds and re-registers, and the directory
 * shows the new endpoint. With IICP-CX the relay forwards ciphertext it cannot read (DIR-RELAY-04).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { IicpClient } from '@iicp/client'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions, RelayBoundEvent } from '../src/index.js'
import { directory, nodeRecord } from './support/directory.js'
import { ManualTimers } from './support/manual-timers.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function startDirectory(): Promise<RunningDirectory> {
  const d = await directory()
  cleanup.push(() => d.close())
  return d
}

function node(opts: Partial<NodeOptions>): IicpNode {
  const n = new IicpNode({ host: '127.0.0.1', port: 0, persistState: false, cx: false, timers: new ManualTimers(), ...opts } as NodeOptions)
  cleanup.push(() => n.close())
  return n
}

/** A relay-capable node that itself serves chat with another model, so consumers asking for the worker's model never land on it. */
async function relayNode(d: RunningDirectory): Promise<IicpNode> {
  const n = node({ directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: 0, backend: echo({ models: ['relay-model'] }) })
  await n.serve()
  return n
}

function nextBound(n: IicpNode): Promise<RelayBoundEvent> {
  return new Promise((resolve) => n.once('relay_bound', resolve))
}

function consumer(d: RunningDirectory): IicpClient {
  const c = new IicpClient({ directoryUrl: d.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeCacheMs: 0 })
  cleanup.push(() => c.close())
  return c
}

describe('a worker without a listening port, served through a relay node', () => {
  const names = { ws: 'WebSocket', http: 'HTTP long-poll', tcp: 'native TCP' } as const
  for (const transport of ['ws', 'http', 'tcp'] as const) {
    it(`answers a consumer's chat() through the relay over ${names[transport]}`, async () => {
      const d = await startDirectory()
      const relay = await relayNode(d)
      const worker = node({ directoryUrl: d.apiUrl, listen: false, relay: { transport }, backend: echo({ models: ['worker-model'] }) })
      const bound = nextBound(worker)
      await worker.serve()
      const e = await bound

      expect(worker.port).toBeUndefined()
      expect(worker.url).toBeUndefined()
      expect(e).toMatchObject({ relayUrl: relay.url, relayNodeId: relay.nodeId, transport, endpoint: `${relay.url}/v1/relay-for/${worker.nodeId}` })
      expect(await nodeRecord(d, worker.nodeId)).toMatchObject({
        endpoint: `${relay.url}/v1/relay-for/${worker.nodeId}`, transport_method: 'turn_relay', relay_endpoint: relay.url, exposure_mode: 'relay_required',
      })
      expect(await nodeRecord(d, relay.nodeId)).toMatchObject({ relay_capable: true, endpoint: relay.url })

      const reply = await consumer(d).chat([{ role: 'user', content: 'hello from behind CGNAT' }], { model: 'worker-model' })
      expect(reply.choices[0]?.message.content).toBe('echo: hello from behind CGNAT')
      expect(reply.iicp).toMatchObject({ node_id: worker.nodeId, route: 'relay' })
    })
  }

  it('carries an IICP-CX encrypted task through the relay to a worker that holds the key', async () => {
    const d = await startDirectory()
    await relayNode(d)
    const worker = node({ directoryUrl: d.apiUrl, listen: false, cx: true, relay: 'auto', backend: echo({ models: ['worker-model'] }) })
    const bound = nextBound(worker)
    await worker.serve()
    await bound
    const client = new IicpClient({ directoryUrl: d.apiUrl, allowPrivateEndpoints: true })
    cleanup.push(() => client.close())
    const r = await client.submit<{ choices: Array<{ message: { content: string } }> }>(
      'urn:iicp:intent:llm:chat:v1', { messages: [{ role: 'user', content: 'sealed for the worker' }] }, { model: 'worker-model' },
    )
    expect(r).toMatchObject({ nodeId: worker.nodeId, route: 'relay', encrypted: true })
    expect(r.result.choices[0]?.message.content).toBe('echo: sealed for the worker')
  })

  it('re-binds to another relay when its relay dies, and the directory shows the new endpoint', async () => {
    const d = await startDirectory()
    const relays = [await relayNode(d), await relayNode(d)]
    const worker = node({
      directoryUrl: d.apiUrl, listen: false, backend: echo({ models: ['worker-model'] }),
      relay: { reconnectBaseMs: 1, reconnectMaxMs: 5, maxReconnectAttempts: 1, connectTimeoutMs: 2000 },
    })
    const lost: string[] = []
    worker.on('relay_lost', (e) => lost.push(e.relayUrl))
    const first = nextBound(worker)
    await worker.serve()
    const before = await first
    const dying = relays.find((r) => r.url === before.relayUrl) as IicpNode
    const survivor = relays.find((r) => r !== dying) as IicpNode

    const second = nextBound(worker)
    await dying.close()
    const after = await second

    expect(lost).toEqual([dying.url])
    expect(after).toMatchObject({ relayUrl: survivor.url, relayNodeId: survivor.nodeId, endpoint: `${survivor.url}/v1/relay-for/${worker.nodeId}` })
    expect(await nodeRecord(d, worker.nodeId)).toMatchObject({ endpoint: `${survivor.url}/v1/relay-for/${worker.nodeId}`, relay_endpoint: survivor.url })
    const reply = await consumer(d).chat([{ role: 'user', content: 'still there?' }], { model: 'worker-model' })
    expect(reply.iicp).toMatchObject({ node_id: worker.nodeId, route: 'relay' })
  })
})
