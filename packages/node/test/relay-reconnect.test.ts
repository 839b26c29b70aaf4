/**
 * What this proves about a relay worker's reconnects (issue 11; official-sdks.md §5.2 step 6): the node hands
 * @iicp/relay's worker 2 s doubling to 60 s and three attempts on the same relay unless the `relay` option says
 * otherwise, which the native TCP worker turns into 2, 4, 8 … 60 s; and, on loopback with the real directory and
 * two real relay nodes, a worker whose relay's address stops answering tries that relay exactly three times, then
 * elects the other one and binds there (the reconnect delay is shortened through the option; the count is the
 * default's).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { tcpReconnectDelayMs } from '@iicp/relay'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions, RelayBoundEvent } from '../src/index.js'
import { RELAY_RECONNECT, relayWorkerTuning } from '../src/reachability/node-reachability.js'
import { directory } from './support/directory.js'
import { ManualTimers } from './support/manual-timers.js'
import { TcpForwarder } from './support/tcp-forwarder.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

describe('the reconnect tuning a node gives its relay worker', () => {
  it('defaults to 2 s doubling, capped at 60 s, three attempts, under whatever the relay option sets', () => {
    expect(relayWorkerTuning(undefined)).toEqual({ reconnectBaseMs: 2_000, reconnectMaxMs: 60_000, maxReconnectAttempts: 3 })
    expect(relayWorkerTuning('auto')).toEqual(RELAY_RECONNECT)
    expect(relayWorkerTuning({ endpoint: 'relay.example.net:9485', reconnectBaseMs: 5, transport: 'tcp' }))
      .toEqual({ reconnectBaseMs: 5, reconnectMaxMs: 60_000, maxReconnectAttempts: 3, transport: 'tcp' })
    expect(relayWorkerTuning({ maxReconnectAttempts: 8 })).toMatchObject({ maxReconnectAttempts: 8, reconnectBaseMs: 2_000 })
  })

  it('makes the native TCP worker wait 2, 4, 8, 16, 32 s, then 60 s for every later attempt', () => {
    const { reconnectBaseMs, reconnectMaxMs } = relayWorkerTuning(undefined) as { reconnectBaseMs: number; reconnectMaxMs: number }
    expect(Array.from({ length: 8 }, (_, attempt) => tcpReconnectDelayMs(attempt, reconnectBaseMs, reconnectMaxMs)))
      .toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000])
  })
})

describe('a relay worker whose relay stops answering', () => {
  function node(opts: Partial<NodeOptions>): IicpNode {
    const n = new IicpNode({ host: '127.0.0.1', port: 0, persistState: false, cx: false, timers: new ManualTimers(), relayAcceptPort: false, ...opts } as NodeOptions)
    cleanup.push(() => n.close())
    return n
  }

  /** A relay node reached (and registered) only through a forwarder on 127.0.0.2, whose path the test can cut. */
  async function relayBehindForwarder(d: RunningDirectory): Promise<{ node: IicpNode; url: string; path: TcpForwarder }> {
    for (let tries = 1; ; tries++) {
      const path = await TcpForwarder.listen('127.0.0.2')
      const url = `http://127.0.0.2:${path.port}`
      const n = new IicpNode({
        host: '127.0.0.1', port: path.port, publicEndpoint: url, persistState: false, cx: false, timers: new ManualTimers(),
        directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: false, backend: echo({ models: ['relay-model'] }),
      })
      const started = await n.serve().then(() => n.isRegistered, () => false)
      if (started) {
        cleanup.push(() => path.close(), () => n.close())
        return { node: n, url, path }
      }
      await n.close()
      await path.close()
      if (tries >= 5) throw new Error('no free port for a forwarded relay')
    }
  }

  it('tries the same relay three times, then fails over to the next relay', async () => {
    const d = await directory()
    cleanup.push(() => d.close())
    const first = await relayBehindForwarder(d)
    const worker = node({ directoryUrl: d.apiUrl, listen: false, backend: echo({ models: ['worker-model'] }), relay: { transport: 'ws', reconnectBaseMs: 1 } })
    const bound = new Promise<RelayBoundEvent>((resolve) => worker.once('relay_bound', resolve))
    await worker.serve()
    expect(await bound).toMatchObject({ relayUrl: first.url })

    const second = node({ directoryUrl: d.apiUrl, relayCapable: true, backend: echo({ models: ['relay-model'] }) })
    await second.serve()
    const moved = new Promise<RelayBoundEvent>((resolve) => worker.on('relay_bound', (e) => { if (e.relayUrl === second.url) resolve(e) }))
    const lost = new Promise((resolve) => worker.once('relay_lost', resolve))
    const before = first.path.accepted
    first.path.cut()
    await lost
    expect(await moved).toMatchObject({ relayNodeId: second.nodeId })
    expect(first.path.accepted - before).toBe(3)
  }, 60_000)
})
