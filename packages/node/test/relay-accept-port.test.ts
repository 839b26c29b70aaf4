/**
 * What this proves about the relay accept port (official-sdks.md §5.1–§5.6: official-SDK workers dial 9485 on a
 * relay's host) and the HTTP port search around it (frm §11.1): a relay-capable node opens 9485 unless told
 * otherwise, `false` turns it off, a number is used as given; the HTTP search tries 9484 and then the instance band
 * without ever taking 9485 or the node's own accept port. With real sockets on loopback and the real directory: a
 * taken preferred port falls back to a free one that is registered as `relay_accept_port` and takes a native TCP
 * worker's bind; a taken explicit port fails `serve()` with invalid_config before anything registers and leaves no
 * port open; `false` registers no accept port. No test here binds 9484 or 9485 themselves.
 */
import { createServer } from 'node:net'
import type { AddressInfo, Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createTcpRelayWorker } from '@iicp/relay'
import type { Logger } from '@iicp/protocol'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo, resolveNodeOptions } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { nodePortPlan, portCandidates } from '../src/port-binding.js'
import { directory, nodeRecord } from './support/directory.js'
import { call, chatTask } from './support/http.js'
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
  const n = new IicpNode({ host: '127.0.0.1', port: 0, persistState: false, cx: false, timers: new ManualTimers(), backend: echo({ models: ['relay-model'] }), ...opts } as NodeOptions)
  cleanup.push(() => n.close())
  return n
}

/** Hold a free loopback port, as another process on the host would. */
async function occupiedPort(): Promise<number> {
  const s: Server = createServer()
  await new Promise<void>((resolve) => s.listen({ port: 0, host: '127.0.0.1', exclusive: true }, resolve))
  cleanup.push(() => new Promise<void>((resolve) => s.close(() => resolve())))
  return (s.address() as AddressInfo).port
}

/** Whether this process can listen on `port` right now (then lets it go). */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)))
  })
}

function warnings(): { logger: Logger; seen: Array<{ obj: object; msg: string | undefined }> } {
  const seen: Array<{ obj: object; msg: string | undefined }> = []
  const logger: Logger = { debug: () => {}, info: () => {}, error: () => {}, warn: (obj, msg) => seen.push({ obj, msg }), child: () => logger }
  return { logger, seen }
}

describe('the relay accept port and the HTTP port search, as options resolve them', () => {
  const handler = (): string => 'ok'

  it('opens 9485 on a relay-capable node by default, falling back to a free port if it is taken', () => {
    expect(resolveNodeOptions({ handler, relayCapable: true })).toMatchObject({ relayAcceptPort: 9485, relayAcceptPortFallback: true })
  })

  it('uses a given port as given, without fallback unless asked, and opens none for false or a node that is not a relay', () => {
    expect(resolveNodeOptions({ handler, relayCapable: true, relayAcceptPort: 9600 })).toMatchObject({ relayAcceptPort: 9600, relayAcceptPortFallback: false })
    expect(resolveNodeOptions({ handler, relayCapable: true, relayAcceptPort: 9600, relayAcceptPortFallback: true })).toMatchObject({ relayAcceptPort: 9600, relayAcceptPortFallback: true })
    expect(resolveNodeOptions({ handler, relayCapable: true, relayAcceptPort: false }).relayAcceptPort).toBeUndefined()
    expect(resolveNodeOptions({ handler }).relayAcceptPort).toBeUndefined()
    expect(resolveNodeOptions({ handler, relayAcceptPort: false }).relayAcceptPort).toBeUndefined()
    expect(() => resolveNodeOptions({ handler, relayCapable: true, relayAcceptPortFallback: 'yes' as never })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })

  it('searches 9484 and then 9486–9490 for the HTTP port, never 9485, on any node', () => {
    const plain = resolveNodeOptions({ handler })
    expect(portCandidates(nodePortPlan(plain, undefined))).toEqual([9484, 9486, 9487, 9488, 9489, 9490])
    const relay = resolveNodeOptions({ handler, relayCapable: true })
    expect(portCandidates(nodePortPlan(relay, undefined))).toEqual([9484, 9486, 9487, 9488, 9489, 9490])
  })

  it("also passes over the node's own accept port, but uses an explicit HTTP port as given", () => {
    const o = resolveNodeOptions({ handler, relayCapable: true, relayAcceptPort: 9487 })
    expect(portCandidates(nodePortPlan(o, undefined))).toEqual([9484, 9486, 9488, 9489, 9490])
    expect(portCandidates(nodePortPlan(o, 9485))).toEqual([9485])
    const moved = resolveNodeOptions({ handler, basePort: 20_000, portSearchSize: 3 })
    expect(portCandidates(nodePortPlan(moved, undefined))).toEqual([20_000, 20_001, 20_002])
  })
})

describe('a relay-capable node opening its accept port', () => {
  it('falls back to a free port when the preferred one is taken, registers that one, and a native TCP worker binds there', async () => {
    const d = await startDirectory()
    const taken = await occupiedPort()
    const { logger, seen } = warnings()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: taken, relayAcceptPortFallback: true, relayServer: { allowUnsignedBinds: true }, logger })
    await relay.serve()

    const port = relay.relayAcceptPort
    expect(port).toEqual(expect.any(Number))
    expect(port).not.toBe(taken)
    expect(port).not.toBe(relay.port)
    expect(await nodeRecord(d, relay.nodeId)).toMatchObject({ relay_capable: true, relay_accept_port: port })
    expect(seen).toContainEqual({ obj: { wanted: taken, port, code: 'EADDRINUSE' }, msg: expect.stringMatching(/relay accept port taken/) })

    const worker = createTcpRelayWorker({
      relay: `127.0.0.1:${String(port)}`, workerId: 'official-worker-fallback', intent: 'urn:iicp:intent:llm:chat:v1', models: ['m'],
      handleTask: async () => ({ status: 200, body: { status: 'success', result: { via: 'fallback port' } } }),
    })
    cleanup.push(() => worker.close())
    await worker.start()
    const res = await call(`${relay.url}/v1/relay-for/official-worker-fallback/v1/task`, { body: chatTask() })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ result: { via: 'fallback port' } })
  })

  it('fails serve() with invalid_config when an explicitly given port is taken, before registering, and leaves no port open', async () => {
    const d = await startDirectory()
    const taken = await occupiedPort()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: taken })
    const registered: unknown[] = []
    relay.on('registered', (e) => registered.push(e))

    const failure = await relay.serve().then(() => undefined, (err: unknown) => err)
    expect(failure).toMatchObject({ name: 'IicpError', code: 'invalid_config', message: expect.stringContaining(`relay accept port 127.0.0.1:${taken} (EADDRINUSE)`) })
    expect(registered).toEqual([])
    expect(await nodeRecord(d, relay.nodeId)).toBeUndefined()
    expect(relay.state).toBe('closed')
    // The HTTP port it had bound is released again.
    expect(relay.port).toEqual(expect.any(Number))
    expect(await canListen(relay.port as number)).toBe(true)
    await expect(relay.close()).resolves.toBeUndefined()
  })

  it('registers no accept port with relayAcceptPort: false, and still relays WebSocket and long-poll workers', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: false })
    await relay.serve()
    expect(relay.relayAcceptPort).toBeUndefined()
    expect(await nodeRecord(d, relay.nodeId)).toMatchObject({ relay_capable: true, relay_accept_port: null })
    const unsigned = await call(`${relay.url}/v1/relay/bind`, { body: { worker_id: 'worker-1' } })
    expect(unsigned.status).toBe(401)
  })
})
