/**
 * A node's whole life against the directory over real HTTP: register (liveness probe of a real health
 * server) → heartbeat with the HMAC challenge → discover → signed dispatch ticket that verifies with the
 * directory key → re-register with token rotation (old token 401) → deregister → gone from discover.
 * Also: a node that stops heartbeating leaves discover after the 90 s window and a heartbeat revives it,
 * driven by an injected clock instead of sleeps.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { heartbeatChallengeResponse, verifyDispatchTicket, verifyRelayBindTicket } from '@iicp/protocol'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, errorOf, manualClock, registerBody, startHealthServer } from './http-support.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const DISCOVER = `/api/v1/discover?intent=${encodeURIComponent(CHAT)}`

describe('a node life cycle', () => {
  let dir: RunningDirectory
  let node: Awaited<ReturnType<typeof startHealthServer>>
  const clock = manualClock()

  beforeEach(async () => {
    dir = await startDirectory({ port: 0, clock: clock.now, pruneIntervalMs: 0 })
    node = await startHealthServer()
  })
  afterEach(async () => {
    await dir.close()
    await node.close()
  })

  it('goes register → heartbeat → discover → ticket → rotate → deregister over HTTP', async () => {
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url) })
    expect(reg.status).toBe(201)
    expect(node.hits()).toBe(1)
    const nodeId = reg.json.node_id as string
    const token = reg.json.node_token as string
    const hmacKey = reg.json.node_hmac_key as string
    expect(nodeId).toMatch(/^[0-9a-f-]{36}$/)
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    expect(reg.json).toMatchObject({ message_type: 'ACK', observed_source_ip: '127.0.0.1', directory: dir.url, expires_at: null })

    const hb1 = await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: nodeId, load: 0.25, active_jobs: 1 } })
    expect(hb1.status).toBe(200)
    expect(hb1.json).toMatchObject({ ok: true, next_heartbeat_ms: 30000, challenge_status: 'missing' })
    const challenge = hb1.json.challenge as string
    expect(challenge).toMatch(/^[0-9a-f]{32}$/)

    const answer = await heartbeatChallengeResponse(hmacKey, challenge)
    const hb2 = await call(dir.url, 'POST', '/api/v1/heartbeat', {
      token,
      body: { node_id: nodeId, challenge_response: answer, metrics: { tasks_success: 3, tasks_failed: 0, avg_latency_ms: 12 }, metrics_batch_id: 'b-1' },
    })
    expect(hb2.status).toBe(200)
    expect(hb2.json).toMatchObject({ challenge_status: 'verified', metrics_batch_accepted: 'b-1', reputation_score: 0.53 })

    const wrong = await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: nodeId, challenge_response: 'ab'.repeat(32) } })
    expect(wrong.status).toBe(401)
    expect(errorOf(wrong).code).toBe('unauthorized')

    const found = await call(dir.url, 'GET', DISCOVER)
    expect(found.status).toBe(200)
    expect(found.headers['cache-control']).toBe('public, max-age=5, s-maxage=10, stale-while-revalidate=5')
    const nodes = found.json.nodes as Array<Record<string, unknown>>
    expect(nodes).toHaveLength(1)
    expect(nodes[0]).toMatchObject({ node_id: nodeId, endpoint: node.url, available: true, completed_tasks_count: 3, route_evidence: 'directory_observed' })

    const t = await call(dir.url, 'POST', '/api/v1/dispatch/ticket', { body: { intent: CHAT } })
    expect(t.status).toBe(201)
    expect(t.headers['cache-control']).toBe('no-store')
    const key = await call(dir.url, 'GET', '/api/v1/directory-key')
    expect(key.json).toEqual({ public_key: dir.publicKeyHex, algorithm: 'ed25519' })
    const verified = await verifyDispatchTicket(t.json.ticket as string, {
      publicKeyHex: dir.publicKeyHex, issuer: dir.url, audience: 'iicp.directory.dispatch', nodeId, intent: CHAT,
      nowSeconds: Math.floor(clock.now() / 1000),
    })
    expect(verified.ok).toBe(true)
    expect((t.json.route as Record<string, unknown>).endpoint).toBe(node.url)

    const rotated = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url, { node_id: nodeId, current_node_token: token }) })
    expect(rotated.status).toBe(201)
    const token2 = rotated.json.node_token as string
    expect(token2).not.toBe(token)
    const stale = await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: nodeId } })
    expect(stale.status).toBe(401)
    expect(stale.text).not.toContain(token)
    const fresh = await call(dir.url, 'POST', '/api/v1/heartbeat', { token: token2, body: { node_id: nodeId } })
    expect(fresh.status).toBe(200)

    const detail = await call(dir.url, 'GET', `/api/v1/node/${nodeId}`)
    expect(detail.json).toMatchObject({ node_id: nodeId, status: 'active', completed_tasks_count: 3, probation: true })
    const self = await call(dir.url, 'GET', '/api/v1/me', { token: token2 })
    expect(self.json).toEqual({ node_id: nodeId, observed_source_ip: '127.0.0.1', endpoint: node.url })

    const gone = await call(dir.url, 'DELETE', '/api/v1/register', { token: token2, body: { node_id: nodeId } })
    expect(gone.status).toBe(200)
    expect(gone.json.deregistered).toBe(true)
    const after = await call(dir.url, 'GET', DISCOVER)
    expect(after.json).toMatchObject({ nodes: [], count: 0 })
    // The node is gone, so its heartbeat is a 404 (cts DIR-HB-03): the node's cue to register again.
    const orphan = await call(dir.url, 'POST', '/api/v1/heartbeat', { token: token2, body: { node_id: nodeId } })
    expect(orphan.status).toBe(404)
    expect(errorOf(orphan).code).toBe('not_found')
    expect((await call(dir.url, 'GET', `/api/v1/node/${nodeId}`)).status).toBe(404)
  })

  it('drops a silent node from discover after the expiry window and revives it on its next heartbeat', async () => {
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url) })
    const { node_id: nodeId, node_token: token } = reg.json as { node_id: string; node_token: string }
    clock.advance(89_999)
    expect((await call(dir.url, 'GET', DISCOVER)).json.count).toBe(1)
    clock.advance(1)
    expect((await call(dir.url, 'GET', DISCOVER)).json.count).toBe(0)
    expect(dir.directory.prune()).toEqual({ expired: 1, deleted: 0 })
    expect((await call(dir.url, 'GET', `/api/v1/node/${nodeId}`)).json.status).toBe('dormant')
    const hb = await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: nodeId } })
    expect(hb.status).toBe(200)
    expect((await call(dir.url, 'GET', DISCOVER)).json.count).toBe(1)
  })

  it('deletes a node that stayed dormant past the retention period', async () => {
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url) })
    const nodeId = reg.json.node_id as string
    clock.advance(90_000 + 86_400_000)
    expect(dir.directory.prune()).toEqual({ expired: 1, deleted: 1 })
    expect((await call(dir.url, 'GET', `/api/v1/node/${nodeId}`)).status).toBe(404)
    expect(dir.directory.nodeCount).toBe(0)
    // Its old token now belongs to nobody: the heartbeat says not_found, and registering again works.
    const beat = await call(dir.url, 'POST', '/api/v1/heartbeat', { token: reg.json.node_token as string, body: { node_id: nodeId } })
    expect(beat.status).toBe(404)
    expect(errorOf(beat).code).toBe('not_found')
    const again = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url, { node_id: nodeId, current_node_token: reg.json.node_token }) })
    expect(again.status).toBe(201)
    expect(again.json.node_id).toBe(nodeId)
  })

  it('keeps an unavailable node out of discover until it says it is available again', async () => {
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url) })
    const { node_id: nodeId, node_token: token } = reg.json as { node_id: string; node_token: string }
    await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: nodeId, available: false } })
    expect((await call(dir.url, 'GET', DISCOVER)).json.count).toBe(0)
    await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: nodeId, available: true } })
    expect((await call(dir.url, 'GET', DISCOVER)).json.count).toBe(1)
    await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: nodeId, status: 'draining' } })
    expect((await call(dir.url, 'GET', DISCOVER)).json.count).toBe(0)
    await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: nodeId, status: 'available' } })
    expect((await call(dir.url, 'GET', DISCOVER)).json.count).toBe(1)
  })

  it('counts a metrics batch once when the node resends it', async () => {
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url) })
    const { node_id: nodeId, node_token: token } = reg.json as { node_id: string; node_token: string }
    const beat = { node_id: nodeId, metrics: { tasks_success: 5, tasks_failed: 1, avg_latency_ms: 3 }, metrics_batch_id: 'batch-7' }
    const a = await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: beat })
    const b = await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: beat })
    expect(a.json.metrics_batch_accepted).toBe('batch-7')
    expect(b.json.metrics_batch_accepted).toBe('batch-7')
    expect(b.json.reputation_score).toBe(a.json.reputation_score)
    expect((await call(dir.url, 'GET', `/api/v1/node/${nodeId}`)).json.completed_tasks_count).toBe(5)
  })

  it('issues a relay bind ticket to an authenticated worker that verifies with the directory key', async () => {
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url) })
    const { node_id: nodeId, node_token: token } = reg.json as { node_id: string; node_token: string }
    const r = await call(dir.url, 'POST', '/api/v1/relay/ticket', { token, body: { relay_node_id: 'relay-1' } })
    expect(r.status).toBe(201)
    expect(r.json).toMatchObject({ worker_node_id: nodeId, relay_node_id: 'relay-1', algorithm: 'ed25519' })
    const v = await verifyRelayBindTicket(r.json.ticket as string, {
      publicKeyHex: dir.publicKeyHex, issuer: dir.url, subject: nodeId, audience: 'relay-1', nowSeconds: Math.floor(clock.now() / 1000),
    })
    expect(v.ok).toBe(true)
    expect((await call(dir.url, 'POST', '/api/v1/relay/ticket', { body: {} })).status).toBe(401)
  })

  it('records proxy telemetry as the target node\'s latency estimate', async () => {
    const proxy = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url, { node_id: 'proxy-node' }) })
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url, { node_id: 'worker-node' }) })
    const report = (latency: number): Promise<Awaited<ReturnType<typeof call>>> => call(dir.url, 'POST', '/api/v1/telemetry', {
      token: proxy.json.proxy_token as string,
      body: { node_id: 'worker-node', proxy_node_id: 'proxy-node', latency_ms_observed: latency, tokens_observed: 10, status: 'success', qos_met: true },
    })
    expect((await report(100)).json).toEqual({ recorded: true })
    await report(200)
    const nodes = (await call(dir.url, 'GET', DISCOVER)).json.nodes as Array<Record<string, unknown>>
    expect(nodes.find((n) => n.node_id === 'worker-node')?.latency_estimate_ms).toBe(110)
    const forged = await call(dir.url, 'POST', '/api/v1/telemetry', {
      token: proxy.json.proxy_token as string, body: { node_id: 'worker-node', proxy_node_id: 'worker-node', latency_ms_observed: 1 },
    })
    expect(forged.status).toBe(422)
  })

  it('lists live peers newest first in bootstrap', async () => {
    const a = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url, { node_id: 'peer-a' }) })
    clock.advance(1000)
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url, { node_id: 'peer-b' }) })
    expect(a.status).toBe(201)
    const r = await call(dir.url, 'GET', '/api/v1/bootstrap?limit=5')
    expect(r.json.count).toBe(2)
    expect((r.json.peers as Array<{ node_id: string }>).map((p) => p.node_id)).toEqual(['peer-b', 'peer-a'])
  })
})
