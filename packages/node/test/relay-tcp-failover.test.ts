/**
 * What this proves, on loopback with the real directory, two real relay nodes, a real worker node and the real
 * client: a worker bound to a relay over the native TCP accept port (`relay: { transport: 'tcp' }`) moves to the
 * other relay when its relay dies, re-registers that relay's path, and a consumer's chat reaches it there. Two ways
 * to die: the relay node closes (the session ends at once), and the relay's TCP path goes half-open (a forwarder in
 * front of it stops delivering anything while every socket stays open), which only the worker's PING with a PONG
 * deadline can notice. No timing is asserted: each test waits for the worker's `relay_bound` on the survivor.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { IicpClient } from '@iicp/client'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions, RelayBoundEvent, RelayLostEvent } from '../src/index.js'
import { directory, nodeRecord } from './support/directory.js'
import { ManualTimers } from './support/manual-timers.js'
import { TcpForwarder } from './support/tcp-forwarder.js'

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

/** A relay-capable node with a native accept port; it serves another model, so the worker's tasks never land on it. */
interface Relay {
  readonly node: IicpNode
  /** Its HTTP base as registered (and as the worker names it). */
  readonly url: string
  /** Set when the relay sits behind forwarders: its accept port's path, which the test can make half-open. */
  readonly acceptPath?: TcpForwarder
}

async function relay(d: RunningDirectory): Promise<Relay> {
  const n = node({ directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: 0, backend: echo({ models: ['relay-model'] }) })
  await n.serve()
  return { node: n, url: n.url as string }
}

/**
 * A relay reached only through forwarders on 127.0.0.2 (HTTP port and accept port), so its accept path can be made
 * half-open while its HTTP side stays up. The relay listens on 127.0.0.1 at the forwarders' port numbers; should one
 * of those be taken there, it starts again on fresh ports.
 */
async function relayBehindForwarders(d: RunningDirectory): Promise<Relay> {
  for (let tries = 1; ; tries++) {
    const http = await TcpForwarder.listen('127.0.0.2')
    const accept = await TcpForwarder.listen('127.0.0.2')
    const url = `http://127.0.0.2:${http.port}`
    const n = new IicpNode({
      host: '127.0.0.1', port: http.port, publicEndpoint: url, persistState: false, cx: false, timers: new ManualTimers(),
      directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: accept.port, backend: echo({ models: ['relay-model'] }),
    })
    const started = await n.serve().then(async () => (await nodeRecord(d, n.nodeId))?.relay_accept_port === accept.port, () => false)
    if (started) {
      cleanup.push(() => http.close(), () => accept.close(), () => n.close())
      return { node: n, url, acceptPath: accept }
    }
    await n.close()
    await http.close()
    await accept.close()
    if (tries >= 5) throw new Error('no free port pair for a forwarded relay')
  }
}

/** The worker's next `relay_bound` naming `url`; earlier ones (a reconnect to the same relay) are skipped. */
function boundTo(worker: IicpNode, url: string): Promise<RelayBoundEvent> {
  return new Promise((resolve) => {
    const on = (e: RelayBoundEvent): void => {
      if (e.relayUrl !== url) return
      worker.off('relay_bound', on)
      resolve(e)
    }
    worker.on('relay_bound', on)
  })
}

function nextBound(n: IicpNode): Promise<RelayBoundEvent> {
  return new Promise((resolve) => n.once('relay_bound', resolve))
}

/** A worker with no port that binds only over native TCP, tuned to give up on a dead relay after one reconnect. */
function tcpWorker(d: RunningDirectory, keepalive: { pingIntervalMs: number; pongTimeoutMs: number } | undefined): IicpNode {
  return node({
    directoryUrl: d.apiUrl, listen: false, backend: echo({ models: ['worker-model'] }),
    relay: { transport: 'tcp', reconnectBaseMs: 1, reconnectMaxMs: 5, maxReconnectAttempts: 1, connectTimeoutMs: 3000, ...keepalive },
  })
}

async function chatThrough(d: RunningDirectory, worker: IicpNode, survivor: Relay): Promise<void> {
  expect(await nodeRecord(d, worker.nodeId)).toMatchObject({
    endpoint: `${survivor.url}/v1/relay-for/${worker.nodeId}`, relay_endpoint: survivor.url, transport_method: 'turn_relay',
  })
  const client = new IicpClient({ directoryUrl: d.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeCacheMs: 0 })
  cleanup.push(() => client.close())
  const reply = await client.chat([{ role: 'user', content: 'still there?' }], { model: 'worker-model' })
  expect(reply.choices[0]?.message.content).toBe('echo: still there?')
  expect(reply.iicp).toMatchObject({ node_id: worker.nodeId, route: 'relay' })
}

describe('a worker bound over the native TCP accept port', () => {
  it('re-binds to the other relay when its relay closes, and the directory shows the new endpoint', async () => {
    const d = await startDirectory()
    const relays = [await relay(d), await relay(d)]
    const worker = tcpWorker(d, undefined)
    const lost: RelayLostEvent[] = []
    worker.on('relay_lost', (e) => lost.push(e))
    const first = nextBound(worker)
    await worker.serve()
    const before = await first
    expect(before.transport).toBe('tcp')
    const dying = relays.find((r) => r.url === before.relayUrl) as Relay
    const survivor = relays.find((r) => r !== dying) as Relay

    const after = boundTo(worker, survivor.url)
    await dying.node.close()
    expect(await after).toMatchObject({ relayNodeId: survivor.node.nodeId, transport: 'tcp', endpoint: `${survivor.url}/v1/relay-for/${worker.nodeId}` })

    expect(lost.map((e) => e.relayUrl)).toContain(dying.url)
    await chatThrough(d, worker, survivor)
  }, 60_000)

  it('re-binds to the other relay when its relay goes half-open (no reply, no close), found by the PONG deadline', async () => {
    const d = await startDirectory()
    const relays = [await relayBehindForwarders(d), await relayBehindForwarders(d)]
    const worker = tcpWorker(d, { pingIntervalMs: 100, pongTimeoutMs: 2000 })
    const lost: RelayLostEvent[] = []
    worker.on('relay_lost', (e) => lost.push(e))
    const first = nextBound(worker)
    await worker.serve()
    const before = await first
    expect(before.transport).toBe('tcp')
    const dying = relays.find((r) => r.url === before.relayUrl) as Relay
    const survivor = relays.find((r) => r !== dying) as Relay

    const after = boundTo(worker, survivor.url)
    dying.acceptPath?.freeze()
    expect(await after).toMatchObject({ relayNodeId: survivor.node.nodeId, transport: 'tcp', endpoint: `${survivor.url}/v1/relay-for/${worker.nodeId}` })

    // Nothing closed the frozen session: only the missed PONG can have ended it.
    expect(lost).toContainEqual(expect.objectContaining({ relayUrl: dying.url, reason: 'pong_timeout' }))
    // The dead relay's HTTP side still answers, yet the worker stays with the survivor.
    expect(await nodeRecord(d, dying.node.nodeId)).toMatchObject({ relay_capable: true })
    await chatThrough(d, worker, survivor)
  }, 60_000)
})
