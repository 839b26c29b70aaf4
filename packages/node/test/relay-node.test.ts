/**
 * What this proves about the relay parts of a node, on loopback with the real directory: a relay-capable
 * node keeps serving its own routes beside the relay's, refuses unsigned binds by default with
 * 401 IICP-E040, and drops relay sessions when it closes; with `relayAcceptPort` it also takes native TCP binds
 * (the official SDKs' workers) and registers `relay_accept_port`; a worker heartbeats with the token its relay
 * registration left it and reports itself unavailable while its relay session is down, unbinds before it deregisters, waits (degraded `relay_unavailable`,
 * election rounds 2 s doubling to 60 s on the node's clock) until some relay exists, and can pin a relay given as `host:port`; bad combinations
 * of options fail at construction.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import { createTcpRelayWorker } from '@iicp/relay'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions, RelayBoundEvent } from '../src/index.js'
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
  // No native accept port unless a test asks for one: the default 9485 is a fixed port this host may not have free.
  const n = new IicpNode({ host: '127.0.0.1', port: 0, persistState: false, cx: false, timers: new ManualTimers(), backend: echo({ models: ['worker-model'] }), relayAcceptPort: false, ...opts } as NodeOptions)
  cleanup.push(() => n.close())
  return n
}

function nextBound(n: IicpNode): Promise<RelayBoundEvent> {
  return new Promise((resolve) => n.once('relay_bound', resolve))
}

describe('a relay-capable node', () => {
  it('serves its own routes beside the relay, refuses an unsigned bind, and ends relay sessions on close', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()

    expect((await call(`${relay.url}/iicp/health`)).status).toBe(200)
    const own = await call(`${relay.url}/v1/task`, { body: chatTask() })
    expect(own.status).toBe(200)
    const unsigned = await call(`${relay.url}/v1/relay/bind`, { body: { worker_id: 'worker-1' } })
    expect(unsigned.status).toBe(401)
    expect((unsigned.json as { error: { code: string } }).error.code).toBe('IICP-E040')

    const worker = node({ directoryUrl: d.apiUrl, listen: false, relay: 'auto' })
    const bound = nextBound(worker)
    await worker.serve()
    await bound
    const lost = new Promise((resolve) => worker.once('relay_lost', resolve))
    await relay.close()
    expect(await lost).toMatchObject({ relayUrl: relay.url, reason: expect.any(String) })
  })
})

describe('a relay-capable node with a native accept port', () => {
  it('registers relay_accept_port and relays a consumer task to a native TCP worker bound there', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: 0, relayServer: { allowUnsignedBinds: true }, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const record = await nodeRecord(d, relay.nodeId)
    const acceptPort = record?.relay_accept_port
    expect(acceptPort).toEqual(expect.any(Number))
    expect(acceptPort).not.toBe(relay.port)

    const tcpWorker = createTcpRelayWorker({
      relay: `127.0.0.1:${String(acceptPort)}`, workerId: 'official-worker-1', intent: 'urn:iicp:intent:llm:chat:v1', models: ['m'],
      handleTask: async (body) => ({ status: 200, body: { status: 'success', result: { seen: (JSON.parse(body.toString('utf8')) as { task_id: string }).task_id } } }),
    })
    cleanup.push(() => tcpWorker.close())
    await tcpWorker.start()
    expect(tcpWorker.relayEndpoint).toBe(`${relay.url}/v1/relay-for/official-worker-1`)
    const task = chatTask()
    const res = await call(`${relay.url}/v1/relay-for/official-worker-1/v1/task`, { body: task })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ result: { seen: task.task_id } })
  })
})

describe('a relay-capable node that is itself behind a relay', () => {
  it('does not offer itself as a relay while its own route is a relay path', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const hidden = node({ directoryUrl: d.apiUrl, relayCapable: true, relay: { endpoint: relay.url as string } })
    const bound = nextBound(hidden)
    await hidden.serve()
    await bound
    expect(await nodeRecord(d, hidden.nodeId)).toMatchObject({ transport_method: 'turn_relay', relay_capable: false })
  })
})

describe('a relay worker', () => {
  it('heartbeats with the token of its relay registration and unbinds before deregistering on close', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const timers = new ManualTimers()
    const worker = node({ directoryUrl: d.apiUrl, listen: false, relay: 'auto', timers })
    const bound = nextBound(worker)
    await worker.serve()
    const e = await bound

    const beat = new Promise((resolve) => worker.once('heartbeat', resolve))
    const degraded: string[] = []
    worker.on('degraded', (x) => degraded.push(x.reason))
    timers.advance(35_000)
    await beat
    expect(degraded).toEqual([])
    expect((await call(`${e.endpoint}/iicp/health`)).json).toMatchObject({ status: 'ok', node_id: worker.nodeId, via_relay: true })

    await worker.close()
    const gone = await call(`${e.endpoint}/iicp/health`)
    expect(gone.status).toBe(404)
    expect((gone.json as { error: { code: string } }).error.code).toBe('IICP-E030')
    expect(await nodeRecord(d, worker.nodeId)).toBeUndefined()
  })

  it('says it is unavailable in its heartbeats while its relay session is down', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const timers = new ManualTimers()
    const worker = node({ directoryUrl: d.apiUrl, listen: false, relay: 'auto', timers })
    const bound = nextBound(worker)
    await worker.serve()
    await bound
    expect(await nodeRecord(d, worker.nodeId)).toMatchObject({ available: true })

    const lost = new Promise((resolve) => worker.once('relay_lost', resolve))
    await relay.close()
    await lost
    const beat = new Promise((resolve) => worker.once('heartbeat', resolve))
    timers.advance(35_000)
    await beat
    expect(await nodeRecord(d, worker.nodeId)).toMatchObject({ available: false })
  })

  it('retries its election 2 s doubling to 60 s while no relay exists, and binds once one registers', async () => {
    const d = await startDirectory()
    const timers = new ManualTimers()
    const worker = node({ directoryUrl: d.apiUrl, listen: false, relay: 'auto', timers })
    // Each round's delay as reported, and as the timer for the next round was actually set (on the injected clock).
    const rounds: Array<{ code: string; retryInMs: number | undefined; timerMs: number | undefined }> = []
    const nextRound = (): Promise<void> => new Promise((resolve) => {
      const on = (x: { reason: string; code: string; retryInMs: number | undefined }): void => {
        if (x.reason !== 'relay_unavailable') return
        worker.off('degraded', on)
        rounds.push({ code: x.code, retryInMs: x.retryInMs, timerMs: timers.scheduled.at(-1) })
        resolve()
      }
      worker.on('degraded', on)
    })
    let round = nextRound()
    await worker.serve()
    await round
    for (let i = 1; i < 7; i++) {
      round = nextRound()
      timers.advance(rounds.at(-1)?.retryInMs ?? 0)
      await round
    }
    const schedule = [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
    expect(rounds.map((r) => r.retryInMs)).toEqual(schedule)
    expect(rounds.map((r) => r.timerMs)).toEqual(schedule)
    expect(rounds.every((r) => r.code === 'no_route_available')).toBe(true)
    expect(worker.isRegistered).toBe(false)

    const bound = nextBound(worker)
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    timers.advance(60_000)
    expect(await bound).toMatchObject({ relayNodeId: relay.nodeId })
    expect(worker.isRegistered).toBe(true)
  })

  it('binds to a relay pinned as host:port, with a ticket for any relay audience', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const hostPort = (relay.url as string).replace(/^http:\/\//, '')
    const worker = node({ directoryUrl: d.apiUrl, listen: false, relay: { endpoint: hostPort, transport: 'http' } })
    const bound = nextBound(worker)
    await worker.serve()
    expect(await bound).toMatchObject({ relayUrl: relay.url, relayNodeId: undefined, transport: 'http' })
    expect(await nodeRecord(d, worker.nodeId)).toMatchObject({ endpoint: `${relay.url}/v1/relay-for/${worker.nodeId}` })
  })
})

describe('a relay worker pinned the official way', () => {
  it('binds over native TCP to a relay pinned as host:accept-port and registers the HTTP endpoint the relay names', async () => {
    const d = await startDirectory()
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: 0, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const acceptPort = (await nodeRecord(d, relay.nodeId))?.relay_accept_port as number
    const worker = node({ directoryUrl: d.apiUrl, listen: false, relay: { endpoint: `127.0.0.1:${acceptPort}`, connectTimeoutMs: 2000 } })
    const bound = nextBound(worker)
    await worker.serve()

    expect(await bound).toMatchObject({ transport: 'tcp', relayUrl: relay.url, endpoint: `${relay.url}/v1/relay-for/${worker.nodeId}` })
    expect(await nodeRecord(d, worker.nodeId)).toMatchObject({ endpoint: `${relay.url}/v1/relay-for/${worker.nodeId}`, relay_endpoint: relay.url })
    const res = await call(`${relay.url}/v1/relay-for/${worker.nodeId}/v1/task`, { body: chatTask({ payload: { model: 'worker-model', messages: [{ role: 'user', content: 'tcp' }] } }) })
    expect(res.status).toBe(200)
  })
})

describe('a relay worker without a directory', () => {
  it('binds unsigned to a pinned relay that allows it, and serves tasks through it', async () => {
    const relay = node({ directoryUrl: null, relayCapable: true, relayServer: { allowUnsignedBinds: true }, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const worker = node({ directoryUrl: null, listen: false, relay: { endpoint: relay.url as string } })
    const bound = nextBound(worker)
    await worker.serve()
    const e = await bound
    expect(e).toMatchObject({ relayUrl: relay.url, endpoint: `${relay.url}/v1/relay-for/${worker.nodeId}` })
    const res = await call(`${e.endpoint}/v1/task`, { body: chatTask({ payload: { model: 'worker-model', messages: [{ role: 'user', content: 'no directory' }] } }) })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ status: 'success', node_id: worker.nodeId })
  })
})

describe('relay and reachability options', () => {
  const cases: Array<[string, Partial<NodeOptions>, RegExp]> = [
    ['listen: false without a relay', { listen: false, directoryUrl: 'http://127.0.0.1:9/api' }, /listen: false needs option relay/],
    ['listen: false on a relay-capable node', { listen: false, relay: 'auto', relayCapable: true }, /cannot be combined with relayCapable/],
    ['relayAcceptPort without relayCapable', { relayAcceptPort: 9485 }, /option relayAcceptPort needs relayCapable: true/],
    ["listen: false with reachability 'auto'", { listen: false, relay: 'auto', reachability: 'auto' }, /cannot be combined with reachability: 'auto'/],
    ['a relay option that is neither auto nor an object', { relay: 'elect' as unknown as 'auto' }, /option relay must be 'auto' or \{ endpoint \}/],
    ['a pinned relay that is not a URL or host:port', { relay: { endpoint: 'relay example:9484' } }, /option relay.endpoint .* must be an http\(s\) URL or host:port/],
    ['relay worker tuning out of range', { relay: { pingIntervalMs: 0 } }, /option relay.pingIntervalMs must be an integer 1–600000/],
    ['an unknown relay option', { relay: { retries: 3 } as never }, /option relay.retries is not a relay option/],
  ]
  for (const [what, opts, message] of cases) {
    it(`refuses ${what} with invalid_config`, () => {
      expect.assertions(2)
      try {
        new IicpNode({ persistState: false, backend: echo(), ...opts } as NodeOptions)
      } catch (err) {
        expect(isIicpError(err) && err.code).toBe('invalid_config')
        expect((err as Error).message).toMatch(message)
      }
    })
  }
})
