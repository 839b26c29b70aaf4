/**
 * What this proves, on loopback with the real directory and a real relay server: a relay worker is never
 * discoverable as available before its relay session exists. Its first registration (which must come before the
 * bind, since the bind ticket needs the node token) says `available: false` and is followed at once by a heartbeat
 * saying the same, so a directory that ignores REGISTER's `available` (the spec has no such field; the reference
 * directory) also hears it before any bind. This holds for a relay pinned as a URL, for one pinned as the official
 * `host:accept-port` (whose first route names a port that answers no HTTP), and for a pin where nothing listens.
 * Once the session is up the worker is listed; when it drops, the worker says so at once instead of at its next
 * heartbeat, and says so again when it is back.
 */
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startRelayServer, startTcpRelayAcceptor } from '@iicp/relay'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions, RelayBoundEvent } from '../src/index.js'
import { directory, nodeRecord } from './support/directory.js'
import { call } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'
import { recordingProxy } from './support/recording-proxy.js'
import { TcpForwarder } from './support/tcp-forwarder.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function startDirectory(): Promise<RunningDirectory> {
  const d = await directory()
  cleanup.push(() => d.close())
  return d
}

function worker(opts: Partial<NodeOptions>): IicpNode {
  const n = new IicpNode({
    host: '127.0.0.1', persistState: false, cx: false, listen: false, timers: new ManualTimers(),
    backend: echo({ models: ['worker-model'] }), relayAcceptPort: false, ...opts,
  } as NodeOptions)
  cleanup.push(() => n.close())
  return n
}

/** A relay server of @iicp/relay checking the directory's tickets, with its native TCP accept port beside it. */
async function relayServer(d: RunningDirectory, port = 0): Promise<{ url: string; acceptPort: number; hasSession: (id: string) => boolean; close: () => Promise<void> }> {
  const r = await startRelayServer({ directoryUrl: d.apiUrl, port })
  const acceptor = await startTcpRelayAcceptor({ relay: r.relay, port: 0, host: '127.0.0.1', relayHttpPort: r.port })
  const close = async (): Promise<void> => {
    await acceptor.close()
    await r.close()
  }
  cleanup.push(close)
  return { url: r.url, acceptPort: acceptor.port, hasSession: (id) => r.relay.sessions.get(id) !== undefined, close }
}

/** A loopback port nothing listens on (it was free a moment ago). */
async function deadPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

async function listedIds(apiUrl: string): Promise<string[]> {
  const res = await call(`${apiUrl}/v1/discover?intent=${encodeURIComponent(CHAT)}&limit=50`)
  return ((res.json as { nodes?: Array<{ node_id: string }> }).nodes ?? []).map((n) => n.node_id)
}

/**
 * Ask discover back to back (each answer awaited, no sleeps) until stopped; `onListed` runs when an answer that
 * lists `nodeId` arrives, while the world is as that answer left it.
 */
function watchDiscover(apiUrl: string, nodeId: string, onListed: () => void): { stop: () => Promise<number> } {
  let stopped = false
  let polls = 0
  const loop = (async () => {
    while (!stopped) {
      const ids = await listedIds(apiUrl)
      polls++
      if (ids.includes(nodeId)) onListed()
    }
  })()
  return {
    stop: async () => {
      stopped = true
      await loop
      return polls
    },
  }
}

function nextEvent<T>(n: IicpNode, event: 'relay_bound' | 'relay_lost'): Promise<T> {
  return new Promise((resolve) => n.once(event, (e: unknown) => resolve(e as T)))
}

function nextUnavailable(n: IicpNode): Promise<{ code: string }> {
  return new Promise((resolve) => {
    const on = (x: { reason: string; code: string }): void => {
      if (x.reason !== 'relay_unavailable') return
      n.off('degraded', on)
      resolve(x)
    }
    n.on('degraded', on)
  })
}

describe('a relay worker before its relay session is bound', () => {
  const pins = {
    'a URL (WebSocket)': (r: { url: string }) => r.url,
    'host:accept-port, the official form (native TCP)': (r: { acceptPort: number }) => `127.0.0.1:${r.acceptPort}`,
  }
  for (const [what, pin] of Object.entries(pins)) {
    it(`is never listed by discover until the relay holds its session, pinned as ${what}`, async () => {
      const d = await startDirectory()
      const relay = await relayServer(d)
      const w = worker({ directoryUrl: d.apiUrl, relay: { endpoint: pin(relay) } })
      let listedWithoutSession = 0
      const watch = watchDiscover(d.apiUrl, w.nodeId, () => {
        if (!relay.hasSession(w.nodeId)) listedWithoutSession++
      })
      const bound = nextEvent<RelayBoundEvent>(w, 'relay_bound')
      try {
        await w.serve()
        const e = await bound
        expect(e.endpoint).toBe(`${relay.url}/v1/relay-for/${w.nodeId}`)
      } finally {
        const polls = await watch.stop()
        expect(polls).toBeGreaterThan(0)
      }
      expect(listedWithoutSession).toBe(0)
      // Bound and re-registered: now it is listed, and the record names the relay's HTTP side.
      expect(await listedIds(d.apiUrl)).toContain(w.nodeId)
      expect(await nodeRecord(d, w.nodeId)).toMatchObject({ available: true, endpoint: `${relay.url}/v1/relay-for/${w.nodeId}` })
    }, 60_000)
  }

  it('stays registered but unlisted while its pinned relay has nothing listening', async () => {
    const d = await startDirectory()
    const port = await deadPort()
    const w = worker({ directoryUrl: d.apiUrl, relay: { endpoint: `127.0.0.1:${port}`, connectTimeoutMs: 5000 } })
    let listed = 0
    const watch = watchDiscover(d.apiUrl, w.nodeId, () => { listed++ })
    const unavailable = nextUnavailable(w)
    try {
      await w.serve()
      expect(await unavailable).toMatchObject({ code: expect.any(String) })
    } finally {
      expect(await watch.stop()).toBeGreaterThan(0)
    }
    expect(listed).toBe(0)
    expect(w.isRegistered).toBe(true)
    // The directory holds the provisional route (so the worker has a token for its tickets), unavailable.
    expect(await nodeRecord(d, w.nodeId)).toMatchObject({ endpoint: `http://127.0.0.1:${port}/v1/relay-for/${w.nodeId}`, available: false })
    expect(await listedIds(d.apiUrl)).not.toContain(w.nodeId)
  }, 60_000)

  it('tells a directory that ignores REGISTER available with a heartbeat before it tries to bind', async () => {
    const d = await startDirectory()
    // Plays the reference directory, which reads no `available` from REGISTER: the field is dropped on the way.
    const proxy = await recordingProxy(d.url, undefined, ({ method, path, body }) => {
      if (method !== 'POST' || !path.endsWith('/v1/register') || typeof body !== 'object' || body === null) return body
      const { available: _dropped, ...rest } = body as Record<string, unknown>
      return rest
    })
    cleanup.push(() => proxy.close())
    const port = await deadPort()
    const w = worker({ directoryUrl: proxy.apiUrl, relay: { endpoint: `127.0.0.1:${port}`, connectTimeoutMs: 5000 } })
    const unavailable = nextUnavailable(w)
    await w.serve()
    await unavailable

    const calls = proxy.exchanges.map((x) => `${x.method} ${x.path.replace(/^\/api/, '')}`)
    // Register, heartbeat, and only then the first bind ticket (fetched right before each bind attempt).
    expect(calls.slice(0, 3)).toEqual(['POST /v1/register', 'POST /v1/heartbeat', 'POST /v1/relay/ticket'])
    expect(proxy.exchanges[0]?.body).toMatchObject({ available: false, transport_method: 'turn_relay' })
    expect(proxy.exchanges[1]).toMatchObject({ status: 200, body: { node_id: w.nodeId, available: false } })
    expect(await listedIds(d.apiUrl)).not.toContain(w.nodeId)
    expect(await nodeRecord(d, w.nodeId)).toMatchObject({ available: false })
  }, 60_000)
})

describe('a relay worker whose session drops and comes back', () => {
  it('tells the directory at once both times, not at its next heartbeat', async () => {
    const d = await startDirectory()
    // The relay is reached through a forwarder on 127.0.0.2, so its path can be cut and restored while it runs.
    let path: TcpForwarder | undefined
    for (let tries = 0; path === undefined; tries++) {
      const f = await TcpForwarder.listen('127.0.0.2')
      const started = await relayServer(d, f.port).then(() => true, () => false)
      if (started) path = f
      else await f.close()
      if (tries >= 5) throw new Error('no free port for a forwarded relay')
    }
    const forwarder = path
    cleanup.push(() => forwarder.close())
    const timers = new ManualTimers()
    // Reconnects keep trying (quickly) while the path is cut, so the session comes back to the same relay.
    const w = worker({
      directoryUrl: d.apiUrl, timers,
      relay: { endpoint: `http://127.0.0.2:${forwarder.port}`, transport: 'ws', reconnectBaseMs: 20, reconnectMaxMs: 100, maxReconnectAttempts: 10_000 },
    })
    const bound = nextEvent<RelayBoundEvent>(w, 'relay_bound')
    await w.serve()
    await bound
    expect(await listedIds(d.apiUrl)).toContain(w.nodeId)

    const lost = nextEvent(w, 'relay_lost')
    forwarder.cut()
    await lost
    // No timer is advanced: only the heartbeat the loss triggers can tell the directory.
    await expect.poll(() => listedIds(d.apiUrl), { timeout: 15_000 }).not.toContain(w.nodeId)
    expect(await nodeRecord(d, w.nodeId)).toMatchObject({ available: false })

    const back = nextEvent<RelayBoundEvent>(w, 'relay_bound')
    forwarder.restore()
    expect(await back).toMatchObject({ endpoint: `http://127.0.0.2:${forwarder.port}/v1/relay-for/${w.nodeId}` })
    await expect.poll(() => listedIds(d.apiUrl), { timeout: 15_000 }).toContain(w.nodeId)
  }, 60_000)
})
