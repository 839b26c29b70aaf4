// Proves TCP relay liveness and failover (official-sdks.md §5.2, §8 item 13; IICP-DIR §7.2): a half-open path (a
// proxy that goes silent without closing) is detected by the relay and by the worker within their PONG deadlines,
// a reference-style worker that never answers PINGs but sends its own stays bound, a worker refused as a duplicate
// keeps retrying until the relay lets its old session go, reconnects back off from 2 s doubling to 60 s, and a
// worker whose relay is killed gives up with `error` so the node rebinds elsewhere. Only deadlines that must expire
// are short; sessions that must stay up keep long ones, so a stalled event loop cannot end them.
import { afterEach, describe, expect, it } from 'vitest'
import { IicpError, encodeNativeMessage } from '@iicp/protocol'
import { createTcpRelayWorker, tcpReconnectDelayMs } from '@iicp/relay'
import type { RelaySessionEvent, RelayTaskHandler, TcpRelayWorker } from '@iicp/relay'
import { post, task } from './consumer.js'
import { RawPeer, SilentableProxy, frameHex, startTcpRelay } from './tcp-harness.js'

const ok: RelayTaskHandler = async () => ({ status: 200, body: { ok: true } })

const cleanups: Array<() => Promise<unknown> | void> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)()
})

describe('TCP relay liveness', () => {
  it('drops a half-open worker session once the PONG deadline passes, and stops routing to it', async () => {
    const relay = await startTcpRelay({}, { pingIntervalMs: 20, pongTimeoutMs: 60 })
    cleanups.push(() => relay.close())
    const proxy = await SilentableProxy.start(relay.acceptor.port)
    cleanups.push(() => proxy.close())
    // The worker's own keepalive is far off, so only the relay's deadline can notice.
    const worker = createTcpRelayWorker({ relay: `127.0.0.1:${proxy.port}`, workerId: 'half-open-1', pingIntervalMs: 600_000, handleTask: ok })
    cleanups.push(() => worker.close())
    await worker.start()
    const dropped = new Promise<RelaySessionEvent>((r) => relay.http.relay.once('unbound', r))
    proxy.blackhole()
    expect(await dropped).toEqual({ workerId: 'half-open-1', transport: 'tcp', reason: 'pong_timeout' })
    const res = await post(`${worker.relayEndpoint}/v1/task`, task('x'))
    expect(res.status).toBe(404)
    expect(res.json).toMatchObject({ error: { code: 'IICP-E030' } })
  })

  it('lets the worker notice a half-open relay within its PONG deadline and give up for failover', async () => {
    const relay = await startTcpRelay({}, { pingIntervalMs: 600_000 })
    cleanups.push(() => relay.close())
    const proxy = await SilentableProxy.start(relay.acceptor.port)
    cleanups.push(() => proxy.close())
    const worker = createTcpRelayWorker({
      relay: `127.0.0.1:${proxy.port}`, workerId: 'half-open-2', pingIntervalMs: 20, pongTimeoutMs: 60, maxReconnectAttempts: 0, handleTask: ok,
    })
    cleanups.push(() => worker.close())
    await worker.start()
    const unbound = new Promise<{ reason: string }>((r) => worker.once('unbound', r))
    const failed = new Promise<IicpError>((r) => worker.once('error', r))
    proxy.blackhole()
    expect(await unbound).toEqual({ reason: 'pong_timeout' })
    expect(await failed).toMatchObject({ code: 'connection_failed' })
    expect(worker.state).toBe('closed')
  })

  it('keeps a reference-style worker that never answers PINGs but sends its own', async () => {
    // The relay sends its next PING only once something answered the last one, so five relay PINGs prove the
    // worker's own PINGs count as answers; the long PONG deadline only keeps a stalled event loop from ending it.
    const relay = await startTcpRelay({}, { pingIntervalMs: 20, pongTimeoutMs: 30_000 })
    cleanups.push(() => relay.close())
    const peer = await RawPeer.connect(relay.acceptor.port)
    cleanups.push(() => peer.close())
    peer.write(encodeNativeMessage({ kind: 'init', protocolVersion: 1 }))
    await peer.next()
    peer.write(encodeNativeMessage({ kind: 'relayBind', workerId: 'quiet-1', intent: '', models: [] }))
    expect(await peer.nextMessage()).toMatchObject({ kind: 'relayAck', status: 'ok' })
    // The reference worker's PING is {1: h''} (a10140); the reference relay answers {} (a0).
    const timer = setInterval(() => peer.write('494943500109000000000003a10140'), 50)
    cleanups.push(() => clearInterval(timer))
    let relayPings = 0
    let pongs = 0
    while (relayPings < 5) {
      const f = await peer.next()
      if (!f) throw new Error('relay closed a live session')
      if (f.type === 0x09) relayPings++
      if (f.type === 0x0a) {
        expect(frameHex(f)).toEqual({ header: '49494350010a000000000001', payload: 'a0' })
        pongs++
      }
    }
    expect(pongs).toBeGreaterThan(0)
    expect(relay.http.relay.sessions.alive('quiet-1', Date.now())).toBeDefined()
  })

  it('keeps retrying a rebind the relay still refuses as alive until the relay drops the old session, without giving up', async () => {
    const relay = await startTcpRelay()
    cleanups.push(() => relay.close())
    const proxy = await SilentableProxy.start(relay.acceptor.port)
    cleanups.push(() => proxy.close())
    let binds = 0
    let onThirdBind: () => void = () => undefined
    const thirdBind = new Promise<void>((r) => (onThirdBind = r))
    const worker = createTcpRelayWorker({
      relay: `127.0.0.1:${proxy.port}`, workerId: 'half-open-3', reconnectBaseMs: 5, maxReconnectAttempts: 1, handleTask: ok,
      ticketProvider: async () => {
        if (++binds === 3) onThirdBind()
        return undefined
      },
    })
    cleanups.push(() => worker.close())
    const errors: IicpError[] = []
    // Giving up would be the bug; it settles the wait below at once so the test fails fast instead of timing out.
    const gaveUp = new Promise<void>((r) => worker.on('error', (e) => {
      errors.push(e)
      r()
    }))
    await worker.start()
    const unbound = new Promise<{ reason: string }>((r) => worker.once('unbound', r))
    const relayDropped = new Promise<RelaySessionEvent>((r) => relay.http.relay.once('unbound', r))
    // The worker loses its path; the relay's half stays open and silent, so the relay still counts the session alive.
    proxy.cutNearSide()
    expect(await unbound).toEqual({ reason: 'socket_closed' })
    // Bind 2 is the first redial; a third bind means the relay refused one (IICP-E038) and the worker, allowed a
    // single failed reconnect, tried again instead of spending it.
    await Promise.race([thirdBind, gaveUp])
    expect(errors).toEqual([])
    expect(worker.state).toBe('reconnecting')
    const rebound = new Promise<void>((r) => worker.once('bound', () => r()))
    proxy.cutFarSide()
    expect(await relayDropped).toMatchObject({ workerId: 'half-open-3', transport: 'tcp' })
    await rebound
    expect(errors).toEqual([])
    expect(worker.state).toBe('bound')
    expect((await post(`${worker.relayEndpoint}/v1/task`, task('back'))).json).toEqual({ ok: true })
  })

  it('backs off reconnects from 2 s doubling up to 60 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 40].map((a) => tcpReconnectDelayMs(a, 2_000, 60_000)))
      .toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000])
  })
})

describe('TCP relay failover', () => {
  it('rebinds the worker on the next relay when its relay is killed', async () => {
    const relayA = await startTcpRelay()
    const relayB = await startTcpRelay()
    cleanups.push(() => relayA.close(), () => relayB.close())
    const handleTask: RelayTaskHandler = async (body) => ({ status: 200, body: { served: JSON.parse(body.toString()).task_id } })
    const candidates = [relayA.address, relayB.address]
    const failed: string[] = []
    // What the node does: on `error`, elect the next relay (here: the next address not yet failed) and bind there.
    const rebound = new Promise<TcpRelayWorker>((resolve) => {
      const bindTo = (address: string): TcpRelayWorker => {
        const w = createTcpRelayWorker({ relay: address, workerId: 'failover-1', reconnectBaseMs: 5, maxReconnectAttempts: 2, handleTask })
        cleanups.push(() => w.close())
        w.on('error', () => {
          failed.push(address)
          const next = candidates.find((c) => !failed.includes(c))
          if (next) {
            const w2 = bindTo(next)
            void w2.start().then(() => resolve(w2))
          }
        })
        return w
      }
      const first = bindTo(relayA.address)
      void first.start().then(async () => {
        expect(first.relayEndpoint).toBe(`${relayA.http.url}/v1/relay-for/failover-1`)
        await relayA.close()
      })
    })
    const second = await rebound
    expect(failed).toEqual([relayA.address])
    expect(second.relayEndpoint).toBe(`${relayB.http.url}/v1/relay-for/failover-1`)
    const t = task('after failover')
    const res = await post(`${second.relayEndpoint}/v1/task`, t)
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ served: t.task_id })
  })
})
