/**
 * Registration rules: the liveness probe (a real loopback health server, never anything beyond loopback),
 * what local mode refuses to probe, the routable-endpoint rules of public mode (IICP-E035), ownership of
 * an existing node_id (IICP-E050 / E049; the full ownership rules are in ownership.test.ts) and the per-IP
 * register rate limit (429 + Retry-After).
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, errorOf, manualClock, registerBody, startHealthServer } from './http-support.js'

describe('registration', () => {
  const open: Array<{ close: () => Promise<void> }> = []
  afterEach(async () => {
    while (open.length) await open.pop()?.close()
  })
  async function directory(opts: Parameters<typeof startDirectory>[0] = {}): Promise<RunningDirectory> {
    const d = await startDirectory({ port: 0, pruneIntervalMs: 0, ...opts })
    open.push(d)
    return d
  }
  async function healthServer(status = 200): Promise<Awaited<ReturnType<typeof startHealthServer>>> {
    const s = await startHealthServer(status)
    open.push(s)
    return s
  }

  it('refuses a node whose health endpoint answers 503 with 422 liveness_failed', async () => {
    const dir = await directory()
    const node = await healthServer(503)
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url) })
    expect(r.status).toBe(422)
    expect(errorOf(r).code).toBe('liveness_failed')
    expect(errorOf(r).fields?.endpoint?.[0]).toContain('HTTP 503')
    expect(node.hits()).toBe(1)
  })

  it('refuses a node that is not listening with 422 liveness_failed', async () => {
    const dir = await directory()
    const node = await healthServer()
    const url = node.url
    await node.close()
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(url) })
    expect(r.status).toBe(422)
    expect(errorOf(r).code).toBe('liveness_failed')
  })

  it('closes the probe connection once the health answer arrives', async () => {
    const dir = await directory()
    const node = await healthServer()
    const closed: Array<Promise<void>> = []
    node.server.on('connection', (socket: Socket) => closed.push(once(socket, 'close').then(() => undefined)))
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url) })
    expect(r.status).toBe(201)
    expect(closed).toHaveLength(1)
    // Would hang (and time the test out) if the probe kept its connection alive.
    await Promise.all(closed)
  })

  it('gives up on a health endpoint that accepts but never answers, within livenessTimeoutMs', async () => {
    const dir = await directory({ livenessTimeoutMs: 150 })
    const silent = createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    open.push({ close: () => new Promise<void>((resolve) => { silent.close(() => resolve()); silent.closeAllConnections() }) })
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`) })
    expect(r.status).toBe(422)
    expect(errorOf(r).code).toBe('liveness_failed')
    expect(errorOf(r).fields?.endpoint?.[0]).toContain('unreachable (timeout)')
  })

  it('probes an https endpoint over TLS and refuses one that does not speak it', async () => {
    const dir = await directory()
    const node = await healthServer()
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url.replace('http:', 'https:')) })
    expect(r.status).toBe(422)
    expect(errorOf(r).code).toBe('liveness_failed')
    expect(errorOf(r).fields?.endpoint?.[0]).toMatch(/^endpoint unreachable from directory: unreachable \(/)
    expect(node.hits()).toBe(0)
  })

  it('does not probe a non-loopback endpoint in local mode and says why', async () => {
    const dir = await directory()
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('https://node.example.com') })
    expect(r.status).toBe(422)
    expect(errorOf(r).code).toBe('liveness_failed')
    expect(errorOf(r).fields?.endpoint?.[0]).toContain('outside the probe scope (loopback)')
  })

  it('skips the probe when the node declares its NAT path', async () => {
    const dir = await directory()
    const r = await call(dir.url, 'POST', '/api/v1/register', {
      body: registerBody('http://127.0.0.1:9', { nat_type: 'full_cone', transport_method: 'upnp_mapped' }),
    })
    expect(r.status).toBe(201)
  })

  it('rejects loopback, private, local-suffix and bare-name endpoints in public mode with IICP-E035', async () => {
    const dir = await directory({ mode: 'public', skipLivenessCheck: true })
    for (const endpoint of ['http://127.0.0.1:9480', 'http://192.168.1.10:9484', 'http://localhost:9484', 'https://node.local', 'https://box', 'http://[::1]:9484']) {
      const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(endpoint) })
      expect(r.status, endpoint).toBe(422)
      expect(errorOf(r).code, endpoint).toBe('IICP-E035')
      expect(errorOf(r).fields?.endpoint?.[0], endpoint).toMatch(/^IICP-E035: /)
    }
    // Declaring NAT does not lift the host rules in public mode (stricter than the reference).
    const nat = await call(dir.url, 'POST', '/api/v1/register', {
      body: registerBody('http://127.0.0.1:9480', { nat_type: 'full_cone', transport_method: 'upnp_mapped' }),
    })
    expect(errorOf(nat).code).toBe('IICP-E035')
    const ok = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('https://node.example.com') })
    expect(ok.status).toBe(201)
  })

  it('refuses a takeover of a live node id at a new endpoint without current_node_token (IICP-E050)', async () => {
    const dir = await directory()
    const a = await healthServer()
    const b = await healthServer()
    const first = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(a.url, { node_id: 'owned-node' }) })
    expect(first.status).toBe(201)
    const grab = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(b.url, { node_id: 'owned-node' }) })
    expect(grab.status).toBe(403)
    expect(errorOf(grab).code).toBe('IICP-E050')
    const wrongProof = await call(dir.url, 'POST', '/api/v1/register', {
      body: registerBody(b.url, { node_id: 'owned-node', current_node_token: '0'.repeat(64) }),
    })
    expect(errorOf(wrongProof).code).toBe('IICP-E050')
    const owner = await call(dir.url, 'POST', '/api/v1/register', {
      body: registerBody(b.url, { node_id: 'owned-node', current_node_token: first.json.node_token }),
    })
    expect(owner.status).toBe(201)
  })

  it('refuses a CX key change without current_node_token (IICP-E049)', async () => {
    const dir = await directory({ skipLivenessCheck: true })
    const cx = (key: string): Record<string, unknown> => ({ algorithm: 'X25519', encoding: 'base64url', key, key_id: `cx-${key}` })
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'cx-node', cx_public_key: cx('AAAA') }) })
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'cx-node', cx_public_key: cx('BBBB') }) })
    expect(r.status).toBe(403)
    expect(errorOf(r).code).toBe('IICP-E049')
  })

  it('rate-limits registrations per IP with 429 and Retry-After, then lets the next window through', async () => {
    const clock = manualClock()
    const dir = await directory({ skipLivenessCheck: true, clock: clock.now, rateLimits: { register: { max: 3, windowMs: 60_000 } } })
    for (let i = 0; i < 3; i++) {
      expect((await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })).status).toBe(201)
    }
    clock.advance(20_000)
    const limited = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })
    expect(limited.status).toBe(429)
    expect(errorOf(limited).code).toBe('rate_limited')
    expect(limited.headers['retry-after']).toBe('40')
    clock.advance(40_000)
    expect((await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })).status).toBe(201)
  })

  it('keeps a node registered with available: false out of discover until it says it is available', async () => {
    const dir = await directory({ skipLivenessCheck: true })
    const listed = async (): Promise<string[]> => {
      const r = await call(dir.url, 'GET', `/api/v1/discover?intent=${encodeURIComponent('urn:iicp:intent:llm:chat:v1')}&limit=50`)
      return (r.json.nodes as Array<{ node_id: string }>).map((n) => n.node_id).sort()
    }
    const pending = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'pending-route', available: false }) })
    expect(pending.status).toBe(201)
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:10', { node_id: 'plain' }) })
    expect(await listed()).toEqual(['plain'])
    expect((await call(dir.url, 'GET', '/api/v1/node/pending-route')).json).toMatchObject({ available: false })

    const token = pending.json.node_token as string
    await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: 'pending-route', available: true } })
    expect(await listed()).toEqual(['pending-route', 'plain'])
    // A re-registration without the field is available, as every REGISTER was before.
    await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: 'pending-route', available: false } })
    expect(await listed()).toEqual(['plain'])
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'pending-route', current_node_token: token }) })
    expect(await listed()).toEqual(['pending-route', 'plain'])
  })

  it('keeps reputation and task counts across a token rotation', async () => {
    const dir = await directory({ skipLivenessCheck: true })
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'steady' }) })
    const token = reg.json.node_token as string
    await call(dir.url, 'POST', '/api/v1/heartbeat', {
      token, body: { node_id: 'steady', metrics: { tasks_success: 4, tasks_failed: 0, avg_latency_ms: 1 }, metrics_batch_id: 'x' },
    })
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'steady', current_node_token: token }) })
    const d = await call(dir.url, 'GET', '/api/v1/node/steady')
    expect(d.json).toMatchObject({ completed_tasks_count: 4, reputation_score: 0.54 })
  })
})
