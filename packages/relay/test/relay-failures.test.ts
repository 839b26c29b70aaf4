// Proves the relay fails loudly and quickly instead of hanging: tasks in flight when the worker drops get 502
// IICP-E031, a silent worker gets 504 task_timeout and its handler is aborted, a half-open WebSocket is noticed
// within the pong deadline by either side, a dropped worker reconnects on its own, a worker whose relay dies for
// good reports it so the next relay can be elected, and 'auto' falls back to long-poll where WebSocket is missing.
// Intervals are shortened by options only where a deadline must expire; whatever must stay up keeps long ones, and
// the tests await events, never timers.
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { createRelayWorker, electRelay, startRelayServer } from '@iicp/relay'
import type { RelaySessionEvent, RelayTaskHandler, RelayWorker, StartedRelayServer } from '@iicp/relay'
import { get, post, task } from './consumer.js'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)()
})

async function relay(options: Parameters<typeof startRelayServer>[0] = {}): Promise<StartedRelayServer> {
  const r = await startRelayServer({ allowUnsignedBinds: true, ...options })
  cleanups.push(() => r.close())
  return r
}

function worker(options: Parameters<typeof createRelayWorker>[0]): RelayWorker {
  const w = createRelayWorker(options)
  cleanups.push(() => w.close())
  return w
}

/** Resolves once a long-poll worker's pull is parked at the relay (the relay parks it while handling the request). */
function parkedPull(r: StartedRelayServer): Promise<void> {
  return new Promise((resolve) => {
    const onRequest = (req: { url?: string | undefined }): void => {
      if (req.url?.startsWith('/v1/relay/pull') !== true) return
      r.server.off('request', onRequest)
      resolve()
    }
    r.server.on('request', onRequest)
  })
}

function nextUnbound(r: StartedRelayServer): Promise<RelaySessionEvent> {
  return new Promise((resolve) => r.relay.once('unbound', resolve))
}

/** A handler that reports when it starts and when its signal aborts, and never answers on its own. */
function hangingHandler(): { handle: RelayTaskHandler; started: Promise<void>; aborted: Promise<void> } {
  let onStart: () => void = () => undefined
  let onAbort: () => void = () => undefined
  const started = new Promise<void>((r) => (onStart = r))
  const aborted = new Promise<void>((r) => (onAbort = r))
  const handle: RelayTaskHandler = (_body, _headers, signal) => new Promise((_resolve, reject) => {
    onStart()
    signal.addEventListener('abort', () => {
      onAbort()
      reject(new Error('aborted'))
    })
  })
  return { handle, started, aborted }
}

/** A raw WebSocket worker: binds, and lets the test act on the socket. */
async function rawWsWorker(r: StartedRelayServer, workerId: string, opts: { autoPong?: boolean } = {}): Promise<{ ws: WebSocket; calls: Buffer[]; nextCall: () => Promise<Buffer> }> {
  const ws = new WebSocket(`${r.url.replace('http', 'ws')}/v1/relay/ws`, { autoPong: opts.autoPong ?? true })
  cleanups.push(async () => ws.terminate())
  const calls: Buffer[] = []
  const waiters: Array<(b: Buffer) => void> = []
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => ws.send(JSON.stringify({ type: 'bind', worker_id: workerId })))
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        const msg = JSON.parse(String(data)) as { type: string }
        if (msg.type === 'bound') resolve()
        else if (msg.type === 'refused') reject(new Error('refused'))
        return
      }
      const waiter = waiters.shift()
      if (waiter) waiter(data as Buffer)
      else calls.push(data as Buffer)
    })
    ws.once('error', reject)
  })
  const nextCall = (): Promise<Buffer> => {
    const queued = calls.shift()
    return queued ? Promise.resolve(queued) : new Promise((r) => waiters.push(r))
  }
  return { ws, calls, nextCall }
}

describe('tasks in flight when the worker drops', () => {
  it('answers 502 IICP-E031 when a WebSocket worker vanishes mid-task', async () => {
    const r = await relay()
    const raw = await rawWsWorker(r, 'w-drop')
    const consumer = post(`${r.url}/v1/relay-for/w-drop/v1/task`, task('in flight'))
    await raw.nextCall()
    raw.ws.terminate()
    const res = await consumer
    expect(res.status).toBe(502)
    expect(res.json).toEqual({ error: { code: 'IICP-E031', message: 'worker session ended: socket_closed' } })
  })

  it('answers 502 IICP-E031 when a long-poll worker unbinds with a task pulled but unanswered', async () => {
    const r = await relay()
    const bound = (await post(`${r.url}/v1/relay/bind`, { worker_id: 'w-poll' })).json as { session_token: string }
    const auth = { authorization: `Bearer ${bound.session_token}` }
    const consumer = post(`${r.url}/v1/relay-for/w-poll/v1/task`, task('in flight'))
    expect((await get(`${r.url}/v1/relay/pull`, auth)).status).toBe(200)
    expect((await post(`${r.url}/v1/relay/unbind`, {}, auth)).status).toBe(204)
    const res = await consumer
    expect(res.status).toBe(502)
    expect(res.json).toEqual({ error: { code: 'IICP-E031', message: 'worker session ended: unbind' } })
  })

  it('fails every in-flight task of a worker that closes, and aborts their handlers', async () => {
    const r = await relay()
    const h = hangingHandler()
    const w = worker({ relayUrl: r.url, workerId: 'w-close', transport: 'ws', handleTask: h.handle })
    await w.start()
    const consumer = post(`${w.relayEndpoint}/v1/task`, task('in flight'))
    await h.started
    await w.close()
    await h.aborted
    const res = await consumer
    expect(res.status).toBe(502)
    expect((res.json as { error: { code: string } }).error.code).toBe('IICP-E031')
  })
})

describe('timeouts and abandoned calls', () => {
  for (const transport of ['ws', 'http'] as const) {
    it(`answers 504 task_timeout when a ${transport} worker never answers`, async () => {
      const r = await relay({ taskTimeoutMs: 30 })
      const h = hangingHandler()
      const w = worker({ relayUrl: r.url, workerId: `w-slow-${transport}`, transport, handleTask: h.handle })
      // A call still queued when its 30 ms run out is withdrawn, so a long-poll worker must be waiting for it first.
      const pulling = transport === 'http' ? parkedPull(r) : Promise.resolve()
      await w.start()
      await pulling
      const res = await post(`${w.relayEndpoint}/v1/task`, task('slow'))
      expect(res.status).toBe(504)
      expect(res.json).toEqual({ error: { code: 'task_timeout', message: 'relay: worker did not answer within 30 ms' } })
      await h.started
    })
  }

  it('aborts the WebSocket worker handler when the relay gives up on the call', async () => {
    const r = await relay({ taskTimeoutMs: 30 })
    const h = hangingHandler()
    const w = worker({ relayUrl: r.url, workerId: 'w-cancel', transport: 'ws', handleTask: h.handle })
    await w.start()
    expect((await post(`${w.relayEndpoint}/v1/task`, task('slow'))).status).toBe(504)
    await h.aborted
  })

  it('aborts the WebSocket worker handler when the consumer goes away', async () => {
    const r = await relay()
    const h = hangingHandler()
    const w = worker({ relayUrl: r.url, workerId: 'w-leave', transport: 'ws', handleTask: h.handle })
    await w.start()
    const { request } = await import('undici')
    const ac = new AbortController()
    const consumer = request(`${w.relayEndpoint}/v1/task`, { method: 'POST', body: JSON.stringify(task('bye')), signal: ac.signal })
    await h.started
    ac.abort()
    await expect(consumer).rejects.toThrow()
    await h.aborted
    expect(r.relay.sessions.get('w-leave')?.inFlight).toBe(0)
  })
})

describe('WebSocket call signals', () => {
  /** A handler that records each call's signal; `hang` waits for its abort, `linger` leaves a listener behind. */
  function recordingHandler(): { handle: RelayTaskHandler; signals: AbortSignal[]; hanging: Promise<void>; aborted: Promise<void> } {
    const signals: AbortSignal[] = []
    let onHang: () => void = () => undefined
    let onAbort: () => void = () => undefined
    const hanging = new Promise<void>((r) => (onHang = r))
    const aborted = new Promise<void>((r) => (onAbort = r))
    const handle: RelayTaskHandler = (body, _headers, signal) => {
      signals.push(signal)
      const content = (JSON.parse(body.toString()) as { payload: { messages: Array<{ content: string }> } }).payload.messages[0]?.content
      if (content === 'linger') signal.addEventListener('abort', () => undefined)
      if (content !== 'hang') return Promise.resolve({ status: 200, body: { ok: content } })
      return new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          onAbort()
          reject(new Error('aborted'))
        }, { once: true })
        onHang()
      })
    }
    return { handle, signals, hanging, aborted }
  }

  it('hands a settled call\'s signal to the next call, which a cancel still aborts, and never reuses an aborted one', async () => {
    const r = await relay()
    const h = recordingHandler()
    const w = worker({ relayUrl: r.url, workerId: 'w-reuse', transport: 'ws', handleTask: h.handle })
    await w.start()
    expect((await post(`${w.relayEndpoint}/v1/task`, task('quick'))).status).toBe(200)
    const { request } = await import('undici')
    const ac = new AbortController()
    const consumer = request(`${w.relayEndpoint}/v1/task`, { method: 'POST', body: JSON.stringify(task('hang')), signal: ac.signal })
    await h.hanging
    expect(h.signals[1]).toBe(h.signals[0])
    ac.abort()
    await expect(consumer).rejects.toThrow()
    await h.aborted
    expect((await post(`${w.relayEndpoint}/v1/task`, task('after'))).status).toBe(200)
    expect(h.signals[2]).not.toBe(h.signals[1])
    expect(h.signals[2]?.aborted).toBe(false)
  })

  it('gives a fresh signal after a handler left a listener on its own', async () => {
    const r = await relay()
    const h = recordingHandler()
    const w = worker({ relayUrl: r.url, workerId: 'w-linger', transport: 'ws', handleTask: h.handle })
    await w.start()
    expect((await post(`${w.relayEndpoint}/v1/task`, task('linger'))).status).toBe(200)
    expect((await post(`${w.relayEndpoint}/v1/task`, task('next'))).status).toBe(200)
    expect(h.signals).toHaveLength(2)
    expect(h.signals[1]).not.toBe(h.signals[0])
  })
})

describe('half-open WebSocket sessions', () => {
  it('drops a worker that stops answering pings within the pong deadline, failing its calls', async () => {
    // The first PING goes out 2 s after the bind, time enough for the call to reach the worker on a loaded machine;
    // only the PONG deadline, which must expire, is short.
    const r = await relay({ pingIntervalMs: 2_000, pongTimeoutMs: 20 })
    const unbound = nextUnbound(r)
    const raw = await rawWsWorker(r, 'w-silent', { autoPong: false })
    const consumer = post(`${r.url}/v1/relay-for/w-silent/v1/task`, task('anyone?'))
    await raw.nextCall()
    expect(await unbound).toEqual({ workerId: 'w-silent', transport: 'ws', reason: 'pong_timeout' })
    const res = await consumer
    expect(res.status).toBe(502)
    expect((res.json as { error: { code: string } }).error.code).toBe('IICP-E031')
    expect(r.relay.sessions.size).toBe(0)
  })

  it('lets the worker notice a relay that stops answering pings and report the lost session', async () => {
    // A relay stand-in that binds and then never pongs.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: false })
    cleanups.push(() => new Promise<void>((res) => {
      for (const c of wss.clients) c.terminate()
      wss.close(() => res())
    }))
    await new Promise<void>((res) => wss.once('listening', () => res()))
    wss.on('connection', (ws) => ws.on('message', () => ws.send(JSON.stringify({ type: 'bound', worker_id: 'w-half', worker_endpoint_path: '/v1/relay-for/w-half' }))))
    const port = (wss.address() as AddressInfo).port
    const w = worker({
      relayUrl: `http://127.0.0.1:${port}`, workerId: 'w-half', transport: 'ws', pingIntervalMs: 10, pongTimeoutMs: 20,
      maxReconnectAttempts: 0, handleTask: async () => ({ status: 200, body: {} }),
    })
    const unbound = new Promise<{ reason: string }>((resolve) => w.once('unbound', resolve))
    const failed = new Promise<IicpError>((resolve) => w.once('error', resolve))
    await w.start()
    expect(await unbound).toEqual({ reason: 'pong_timeout' })
    expect((await failed).code).toBe('connection_failed')
    expect(w.state).toBe('closed')
  })
})

describe('reconnect and failover', () => {
  it('reconnects on its own when the relay drops its session, and serves again', async () => {
    const r = await relay()
    const w = worker({
      relayUrl: r.url, workerId: 'w-back', transport: 'ws', reconnectBaseMs: 0,
      handleTask: async () => ({ status: 200, body: { ok: true } }),
    })
    await w.start()
    const events: string[] = []
    const rebound = new Promise<void>((resolve) => {
      w.on('unbound', ({ reason }) => events.push(`unbound:${reason}`))
      w.on('bound', ({ transport }) => {
        events.push(`bound:${transport}`)
        resolve()
      })
    })
    const session = r.relay.sessions.get('w-back')
    if (!session) throw new Error('no session')
    r.relay.dropSession(session, 'test_kick')
    await rebound
    expect(events).toEqual([expect.stringMatching(/^unbound:socket_closed_/), 'bound:ws'])
    const res = await post(`${w.relayEndpoint}/v1/task`, task('again'))
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ ok: true })
  })

  it('keeps retrying without spending attempts while the relay still counts its old session alive (409 IICP-E038)', async () => {
    const r = await relay()
    let tickets = 0
    let holdSecond: () => void = () => undefined
    const secondAsked = new Promise<void>((resolve) => (holdSecond = resolve))
    let release: () => void = () => undefined
    const released = new Promise<void>((resolve) => (release = resolve))
    let thirdAsked: () => void = () => undefined
    const refusedOnce = new Promise<void>((resolve) => (thirdAsked = resolve))
    const w = worker({
      relayUrl: r.url, workerId: 'w-stale', transport: 'ws', reconnectBaseMs: 0, maxReconnectAttempts: 1,
      handleTask: async () => ({ status: 200, body: { ok: 1 } }),
      ticketProvider: async () => {
        tickets++
        if (tickets === 2) {
          holdSecond()
          await released
        }
        if (tickets === 3) thirdAsked()
        return undefined
      },
    })
    await w.start()
    const errors: string[] = []
    // Giving up would be the bug; it settles the waits below at once so the test fails fast instead of timing out.
    const gaveUp = new Promise<void>((resolve) => w.on('error', (e) => {
      errors.push(e.code)
      resolve()
    }))
    const rebound = new Promise<void>((resolve) => w.once('bound', () => resolve()))
    const session = r.relay.sessions.get('w-stale')
    if (!session) throw new Error('no session')
    r.relay.dropSession(session, 'test_kick')
    await secondAsked
    // A stale holder of the same worker id: the relay counts it alive for as long as it stays connected.
    const stale = await rawWsWorker(r, 'w-stale')
    release()
    // Ticket 2's bind is refused as a duplicate; a third ticket means the worker tried again instead of giving up.
    await Promise.race([refusedOnce, gaveUp])
    expect(errors).toEqual([])
    stale.ws.terminate()
    await Promise.race([rebound, gaveUp])
    expect(errors).toEqual([])
    expect(tickets).toBeGreaterThan(2)
    expect(r.relay.sessions.get('w-stale')?.link.isAlive(Date.now())).toBe(true)
    expect((await post(`${w.relayEndpoint}/v1/task`, task('back'))).json).toEqual({ ok: 1 })
  })

  it('reports a relay that is gone for good, so the node can elect the next relay and serve through it', async () => {
    const a = await startRelayServer({ allowUnsignedBinds: true, nodeId: 'relay-a' })
    const b = await relay({ nodeId: 'relay-b' })
    const candidates = [
      { node_id: 'relay-a', endpoint: a.url, relay_capable: true, reputation_score: 0.9, load: 0 },
      { node_id: 'relay-b', endpoint: b.url, relay_capable: true, reputation_score: 0.9, load: 0.5 },
    ]
    const handleTask: RelayTaskHandler = async () => ({ status: 200, body: { served: true } })
    const first = electRelay(candidates, { selfId: 'w-move' })
    expect(first?.node_id).toBe('relay-a')
    const wa = worker({ relayUrl: first?.endpoint ?? '', workerId: 'w-move', transport: 'auto', reconnectBaseMs: 0, maxReconnectAttempts: 2, handleTask })
    await wa.start()
    const failed = new Promise<IicpError>((resolve) => wa.once('error', resolve))
    await a.close()
    expect((await failed).code).toBe('connection_failed')
    expect(wa.state).toBe('closed')
    const next = electRelay(candidates, { selfId: 'w-move', excludeIds: ['relay-a'] })
    expect(next?.node_id).toBe('relay-b')
    const wb = worker({ relayUrl: next?.endpoint ?? '', workerId: 'w-move', transport: 'auto', handleTask })
    await wb.start()
    const res = await post(`${wb.relayEndpoint}/v1/task`, task('moved'))
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ served: true })
  })

  it("falls back to long-poll under 'auto' when the relay offers no WebSocket", async () => {
    const r = await relay({ transports: ['http'] })
    const w = worker({ relayUrl: r.url, workerId: 'w-auto', transport: 'auto', handleTask: async () => ({ status: 200, body: { via: 'poll' } }) })
    await w.start()
    expect(w.transport).toBe('http')
    const res = await post(`${w.relayEndpoint}/v1/task`, task('fallback'))
    expect(res.json).toEqual({ via: 'poll' })
  })

  it('rejects start() with connection_failed when no relay listens, leaving the worker closed', async () => {
    const r = await startRelayServer({ allowUnsignedBinds: true })
    const url = r.url
    await r.close()
    const w = worker({ relayUrl: url, workerId: 'w-none', transport: 'auto', handleTask: async () => ({ status: 200, body: {} }) })
    const err: unknown = await w.start().catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('connection_failed')
    expect(w.state).toBe('closed')
  })
})
