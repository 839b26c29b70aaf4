/**
 * What this proves, against the real in-repo directory over HTTP: a node listens before it registers,
 * sends its first heartbeat within 35 s (SDK-NODE-01) with a correct HMAC challenge response and an
 * acknowledged metrics batch, deregisters on close; its token rotates across a restart and only an
 * accepted token is persisted; it keeps serving while the directory is gone and re-registers by itself
 * when it comes back; a heartbeat answered 401, 404 or 410 makes it re-register with its current token and beat on
 * with the successor; its CX key survives a restart with the same home; `/iicp/health` reports the source address
 * the directory observed; two nodes on one host take consecutive ports; close() drains in-flight tasks.
 * Heartbeats run on a hand-driven clock, so nothing here waits 30 s.
 */
import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '../src/index.js'
import type { InnerResult, NodeEvents, NodeOptions } from '../src/index.js'
import { directory, discoveredEndpoints, nodeRecord } from './support/directory.js'
import { call, chatTask } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'
import { freePortRun } from './support/ports.js'
import { recordingProxy } from './support/recording-proxy.js'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function tempHome(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'iicp-node-'))
  cleanup.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function dir(port = 0): Promise<RunningDirectory> {
  const d = await directory({ port })
  cleanup.push(() => d.close())
  return d
}

function node(opts: Partial<NodeOptions>): IicpNode {
  const n = new IicpNode({ host: '127.0.0.1', port: 0, backend: echo(), ...opts } as NodeOptions)
  cleanup.push(() => n.close())
  return n
}

async function stateOf(home: string, name = 'default'): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(home, 'nodes', `${name}.json`), 'utf8')) as Record<string, unknown>
}

function recordEvents(n: IicpNode): Array<keyof NodeEvents> {
  const seen: Array<keyof NodeEvents> = []
  for (const e of ['listening', 'registered', 'heartbeat', 'reregistered', 'degraded', 'closed'] as const) n.on(e, () => seen.push(e))
  return seen
}

describe('lifecycle against the in-repo directory', () => {
  it('SDK-NODE-01: listens, registers, heartbeats within 35 s with challenge and metrics, and deregisters on close', async () => {
    const d = await dir()
    const home = await tempHome()
    const timers = new ManualTimers()
    const n = node({ directoryUrl: d.apiUrl, home, timers, region: 'eu-central' })
    const events = recordEvents(n)
    await n.serve()
    expect(events.slice(0, 2)).toEqual(['listening', 'registered'])
    expect(n.isRegistered).toBe(true)
    expect(await discoveredEndpoints(d)).toEqual([n.url])
    const saved = await stateOf(home)
    expect(saved).toMatchObject({ node_id: n.nodeId, directory_url: d.apiUrl })
    expect(typeof saved.node_token).toBe('string')

    // The first beat is scheduled inside the 35 s window measured from start.
    expect(timers.scheduled[0]).toBeLessThanOrEqual(35_000)
    const first = once(n, 'heartbeat')
    timers.advance(35_000)
    const [pong] = (await first) as NodeEvents['heartbeat']
    expect(pong.nextHeartbeatMs).toBe(30_000)

    // A task, then a beat that carries its metrics batch and the HMAC answer to the last challenge
    // (this directory refuses a wrong answer with 401, which would show up as a re-registration).
    expect((await call(`${n.url}/v1/task`, { body: chatTask() })).status).toBe(200)
    const second = once(n, 'heartbeat')
    timers.advance(30_000)
    const [pong2] = (await second) as NodeEvents['heartbeat']
    expect(pong2.metricsBatchAccepted).toBe(true)
    const record = await nodeRecord(d, n.nodeId)
    expect(record).toMatchObject({ node_id: n.nodeId, available: true })
    expect(events).not.toContain('reregistered')
    expect(events).not.toContain('degraded')

    await n.close()
    expect(events.at(-1)).toBe('closed')
    expect(await nodeRecord(d, n.nodeId)).toBeUndefined()
    expect((await stateOf(home)).node_token).toBeUndefined()
    expect(timers.size).toBe(0)
  })

  it('sends load, availability, the acknowledged metrics batch and the HMAC of the previous challenge on the wire', async () => {
    const d = await dir()
    const proxy = await recordingProxy(d.url)
    cleanup.push(() => proxy.close())
    const timers = new ManualTimers()
    const n = node({ directoryUrl: proxy.apiUrl, persistState: false, timers })
    await n.serve()
    const first = once(n, 'heartbeat')
    timers.advance(35_000)
    await first
    expect((await call(`${n.url}/v1/task`, { body: chatTask() })).status).toBe(200)
    const second = once(n, 'heartbeat')
    timers.advance(30_000)
    await second

    const register = proxy.exchanges.find((e) => e.method === 'POST' && e.path === '/api/v1/register')
    const ack = register?.response as { node_hmac_key: string; node_token: string }
    const beats = proxy.exchanges.filter((e) => e.path === '/api/v1/heartbeat')
    expect(beats).toHaveLength(2)
    expect(beats[0]?.headers.authorization).toBe(`Bearer ${ack.node_token}`)
    expect(beats[0]?.body).toEqual({ node_id: n.nodeId, status: 'available', available: true, load: 0, active_jobs: 0, max_concurrent: 4 })
    const challenge = (beats[0]?.response as { challenge: string }).challenge
    const body2 = beats[1]?.body as Record<string, unknown>
    expect(body2.challenge_response).toBe(createHmac('sha256', ack.node_hmac_key).update(challenge).digest('hex'))
    expect(body2.metrics).toMatchObject({ tasks_success: 1, tasks_failed: 0 })
    expect((beats[1]?.response as { metrics_batch_accepted: string }).metrics_batch_accepted).toBe(body2.metrics_batch_id)
    expect(beats.every((b) => b.status === 200)).toBe(true)
    expect(JSON.stringify(proxy.exchanges.map((e) => e.body))).not.toContain(ack.node_token)
  })

  it('rotates its token across a restart: sends current_node_token, persists only the accepted successor', async () => {
    const d = await dir()
    const home = await tempHome()
    const a = node({ directoryUrl: d.apiUrl, home, timers: new ManualTimers(), deregisterOnClose: false })
    await a.serve()
    const first = await stateOf(home)
    await a.close()

    // Restart on another port: the endpoint changes, which the directory allows only with ownership proof.
    const b = node({ directoryUrl: d.apiUrl, home, timers: new ManualTimers() })
    await b.serve()
    const second = await stateOf(home)
    expect(b.nodeId).toBe(first.node_id)
    expect(second.node_id).toBe(first.node_id)
    expect(second.node_token).not.toBe(first.node_token)
    expect(await discoveredEndpoints(d)).toEqual([b.url])

    // The old token is dead at the directory.
    const stale = await call(`${d.apiUrl}/v1/heartbeat`, { body: { node_id: first.node_id }, headers: { authorization: `Bearer ${String(first.node_token)}` } })
    expect(stale.status).toBe(401)

    // A registration that fails leaves the last good token on disk.
    await b.close()
    const afterClose = await stateOf(home)
    // Nothing listens there, so the refusal arrives at once; the socket timeout only has to lose that race, even
    // when a loaded machine stalls the event loop between connect and refusal.
    const c = node({ directoryUrl: 'http://127.0.0.1:9/api', home, timers: new ManualTimers(), directoryTimeoutMs: 10_000 })
    const degraded = once(c, 'degraded')
    await c.serve()
    const [info] = (await degraded) as NodeEvents['degraded']
    expect(info).toMatchObject({ reason: 'register_failed', code: 'connection_failed' })
    expect(c.isRegistered).toBe(false)
    expect((await call(`${c.url}/v1/task`, { body: chatTask() })).status).toBe(200)
    expect(await stateOf(home)).toEqual(afterClose)
  })

  it('keeps serving while the directory is gone, backs off, and re-registers by itself when it returns', async () => {
    const d1 = await dir()
    const port = d1.port
    const timers = new ManualTimers()
    const n = node({ directoryUrl: d1.apiUrl, persistState: false, timers, backoffBaseMs: 1000 })
    await n.serve()
    const beat = once(n, 'heartbeat')
    timers.advance(35_000)
    await beat

    await d1.close()
    const down = once(n, 'degraded')
    timers.advance(30_000)
    const [info] = (await down) as NodeEvents['degraded']
    expect(info.reason).toBe('heartbeat_failed')
    expect(info.retryInMs).toBeGreaterThan(0)
    expect(info.retryInMs).toBeLessThanOrEqual(1200)
    expect((await call(`${n.url}/v1/task`, { body: chatTask() })).status).toBe(200)
    expect((await call(`${n.url}/iicp/health`)).json).toMatchObject({ status: 'ok' })

    // Still down: the next retry waits longer (doubling, capped at the heartbeat interval).
    const down2 = once(n, 'degraded')
    timers.advance(1200)
    const [info2] = (await down2) as NodeEvents['degraded']
    expect(info2.retryInMs).toBeGreaterThan(1500)

    // The directory comes back empty: the heartbeat names a node it does not know (404, cts DIR-HB-03)
    // and the node registers again.
    const d2 = await dir(port)
    const back = once(n, 'reregistered')
    timers.advance(3000)
    const [again] = (await back) as NodeEvents['reregistered']
    expect(again.status).toBe(404)
    expect(n.isRegistered).toBe(true)
    expect(await discoveredEndpoints(d2)).toEqual([n.url])
    const beatAgain = once(n, 'heartbeat')
    timers.advance(30_000)
    await beatAgain
  })

  for (const [status, code] of [[401, 'unauthorized'], [404, 'not_found'], [410, 'gone']] as const) {
    it(`re-registers with its current token when a heartbeat is answered ${status}, then beats with the new token`, async () => {
      const d = await dir()
      let scripted = false
      // The real directory behind a proxy that answers the first heartbeat itself, as a directory that lost the node would.
      const proxy = await recordingProxy(d.url, ({ path }) => {
        if (scripted || !path.endsWith('/v1/heartbeat')) return undefined
        scripted = true
        return { status, body: { error: { code, message: 'scripted' } } }
      })
      cleanup.push(() => proxy.close())
      const timers = new ManualTimers()
      const n = node({ directoryUrl: `${proxy.apiUrl}`, persistState: false, timers })
      await n.serve()
      const again = once(n, 'reregistered')
      timers.advance(35_000)
      const [info] = (await again) as NodeEvents['reregistered']
      expect(info).toEqual({ nodeId: n.nodeId, status })
      const beat = once(n, 'heartbeat')
      timers.advance(30_000)
      await beat

      const trail = proxy.exchanges.map((e) => `${e.method} ${e.path.replace(/^\/api/, '')} ${e.status}`)
      expect(trail).toEqual(['POST /v1/register 201', `POST /v1/heartbeat ${status}`, 'POST /v1/register 201', 'POST /v1/heartbeat 200'])
      const [firstAck, , reregister, lastBeat] = proxy.exchanges
      const firstToken = (firstAck?.response as { node_token: string }).node_token
      expect(reregister?.body).toMatchObject({ node_id: n.nodeId, current_node_token: firstToken })
      const newToken = (reregister?.response as { node_token: string }).node_token
      expect(newToken).not.toBe(firstToken)
      expect(lastBeat?.headers.authorization).toBe(`Bearer ${newToken}`)
      expect(n.isRegistered).toBe(true)
      expect(await discoveredEndpoints(d)).toEqual([n.url])
    })
  }

  it('advertises the same CX key after a restart with the same home, and a new one with another home', async () => {
    const d = await dir()
    const home = await tempHome()
    const cxKeyOf = async (n: IicpNode): Promise<unknown> => (await nodeRecord(d, n.nodeId))?.cx_public_key
    const a = node({ directoryUrl: d.apiUrl, home, timers: new ManualTimers() })
    await a.serve()
    const before = await cxKeyOf(a)
    expect(before).toMatchObject({ algorithm: 'X25519', key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), key_id: expect.any(String) })
    const saved = (await stateOf(home)).cx_private_key
    await a.close()

    const b = node({ directoryUrl: d.apiUrl, home, timers: new ManualTimers() })
    await b.serve()
    expect(b.nodeId).toBe(a.nodeId)
    expect(await cxKeyOf(b)).toEqual(before)
    expect((await stateOf(home)).cx_private_key).toBe(saved)

    const other = node({ directoryUrl: d.apiUrl, home: await tempHome(), timers: new ManualTimers() })
    await other.serve()
    expect((await cxKeyOf(other)) as { key: string }).not.toMatchObject({ key: (before as { key: string }).key })
  })

  it('reports the source address the directory observed in /iicp/health once registered (IICP-core §11.2)', async () => {
    const d = await dir()
    const n = node({ directoryUrl: d.apiUrl, persistState: false, timers: new ManualTimers() })
    expect(n.health()).toMatchObject({ observed_source_ip: null, registered: false })
    const registered = once(n, 'registered')
    await n.serve()
    const [info] = (await registered) as NodeEvents['registered']
    expect(info.observedSourceIp).toBe('127.0.0.1')
    const health = await call(`${n.url}/iicp/health`)
    expect(health.status).toBe(200)
    expect(health.json).toMatchObject({ status: 'ok', registered: true, observed_source_ip: '127.0.0.1' })
  })

  it('refuses a second node on the same state file, and takes over a lock left by a dead process', async () => {
    const home = await tempHome()
    const a = node({ directoryUrl: null, home })
    await a.serve()
    const b = node({ directoryUrl: null, home })
    await expect(b.serve()).rejects.toMatchObject({ code: 'invalid_config', message: expect.stringContaining('in use by another running node') })
    await expect(node({ directoryUrl: null, home, name: 'second' }).serve()).resolves.toBeDefined()
    await a.close()
    await writeFile(join(home, 'nodes', 'default.json.lock'), '999999')
    const c = node({ directoryUrl: null, home })
    await expect(c.serve()).resolves.toBe(c)
    expect(c.nodeId).toBe(a.nodeId)
  })

  it('gives two nodes on one host consecutive ports and advertises the bound one', async () => {
    const d = await dir()
    const base = await freePortRun(2)
    const a = node({ directoryUrl: d.apiUrl, persistState: false, timers: new ManualTimers(), port: undefined, basePort: base })
    const b = node({ directoryUrl: d.apiUrl, persistState: false, timers: new ManualTimers(), port: undefined, basePort: base })
    await a.serve()
    await b.serve()
    expect(a.port).toBe(base)
    expect(b.port).toBe(base + 1)
    expect(b.endpoint).toBe(`http://127.0.0.1:${base + 1}`)
    expect(await discoveredEndpoints(d)).toEqual([a.url, b.url].sort())
  })

  it('uses an explicit port as given and fails with invalid_config when it is taken', async () => {
    const a = node({ directoryUrl: null, persistState: false })
    await a.serve()
    const b = node({ directoryUrl: null, persistState: false, port: a.port })
    await expect(b.serve()).rejects.toMatchObject({ code: 'invalid_config' })
  })

  it('does not auto-increment when a public endpoint is set', async () => {
    const base = await freePortRun(2)
    const a = node({ directoryUrl: null, persistState: false, port: undefined, basePort: base })
    await a.serve()
    const b = node({ directoryUrl: null, persistState: false, port: undefined, basePort: base, publicEndpoint: 'https://node.example.org' })
    await expect(b.serve()).rejects.toMatchObject({ code: 'invalid_config' })
  })

  it('drains in-flight tasks on close, refuses new connections, then deregisters', async () => {
    const d = await dir()
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => { release = r })
    const n = node({
      directoryUrl: d.apiUrl, persistState: false, timers: new ManualTimers(), backend: undefined,
      handler: async (): Promise<InnerResult> => { await gate; return { choices: [] } },
    })
    await n.serve()
    const url = n.url as string
    const inflight = call(`${url}/v1/task`, { body: chatTask() })
    while (n.activeJobs < 1) await new Promise((r) => setImmediate(r))
    const closing = n.close()
    await expect(call(`${url}/iicp/health`)).rejects.toThrow()
    expect(await nodeRecord(d, n.nodeId)).toBeDefined()
    release()
    expect((await inflight).status).toBe(200)
    await closing
    expect(n.state).toBe('closed')
    expect(await nodeRecord(d, n.nodeId)).toBeUndefined()
  })

  it('cancels tasks that outlive the drain timeout and still closes', async () => {
    const n = node({ directoryUrl: null, persistState: false, drainTimeoutMs: 50, backend: undefined, handler: () => new Promise<InnerResult>(() => {}) })
    await n.serve()
    const inflight = call(`${n.url as string}/v1/task`, { body: chatTask() })
    while (n.activeJobs < 1) await new Promise((r) => setImmediate(r))
    await n.close()
    const res = await inflight
    expect(res.status).toBe(503)
    expect((res.json as { error: { code: string } }).error.code).toBe('service_unavailable')
  })

  it('closes on a signal without exiting the process, and start/close are idempotent', async () => {
    const n = node({ directoryUrl: null, persistState: false })
    const [p1, p2] = [n.serve(), n.serve()]
    expect(await p1).toBe(await p2)
    const off = n.closeOnSignals(['SIGUSR2'])
    const closed = once(n, 'closed')
    process.emit('SIGUSR2', 'SIGUSR2')
    await closed
    off()
    expect(n.state).toBe('closed')
    await n.close()
    await expect(n.serve()).rejects.toMatchObject({ code: 'invalid_config' })
  })
})
