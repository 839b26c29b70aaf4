/**
 * Discover node fields the official SDKs read (wire.md §1.5; nodelist.json NodeSummary): `health_label` with
 * `health_confidence` and `health_reasons` (dir §3.4 thresholds over reachability 0.70 + liveness/latency 0.30),
 * `public_reachable`, `browser_usable` and `routing_hint`, each computed from what this directory actually observed,
 * and the same in the ticket route. Only loopback is ever contacted; other endpoints are listed unprobed.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { heartbeatChallengeResponse } from '@iicp/protocol'
import { startDirectory } from '@iicp/directory'
import type { DirectoryOptions, RunningDirectory } from '@iicp/directory'
import { call, registerBody, startHealthServer } from './http-support.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const DISCOVER = `/api/v1/discover?intent=${encodeURIComponent(CHAT)}&limit=50`
const FACTS = ['health_label', 'health_confidence', 'health_reasons', 'public_reachable', 'browser_usable', 'routing_hint'] as const

describe('discover route and health facts', () => {
  const open: Array<{ close: () => Promise<void> }> = []
  afterEach(async () => {
    while (open.length) await open.pop()?.close()
  })
  async function directory(opts: DirectoryOptions = {}): Promise<RunningDirectory> {
    const d = await startDirectory({ port: 0, pruneIntervalMs: 0, ...opts })
    open.push(d)
    return d
  }
  async function facts(dir: RunningDirectory, nodeId: string): Promise<Record<string, unknown>> {
    const nodes = (await call(dir.url, 'GET', DISCOVER)).json.nodes as Array<Record<string, unknown>>
    const n = nodes.find((x) => x.node_id === nodeId)
    if (!n) throw new Error(`${nodeId} not listed`)
    return Object.fromEntries(FACTS.map((k) => [k, n[k]]))
  }

  it('calls a node this directory probed healthy with high confidence; loopback http is browser-usable, not public', async () => {
    const dir = await directory()
    const node = await startHealthServer()
    open.push(node)
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(node.url, { node_id: 'probed' }) })
    expect(reg.status).toBe(201)
    expect(await facts(dir, 'probed')).toEqual({
      health_label: 'healthy', health_confidence: 'high',
      health_reasons: [
        { dimension: 'reachability', state: 'verified', reason: 'directory_probe', evidence: 'directory_observed' },
        { dimension: 'latency', state: 'unknown', reason: 'no_observations', evidence: 'none' },
      ],
      public_reachable: false, browser_usable: true, routing_hint: 'http_direct',
    })
    const t = await call(dir.url, 'POST', '/api/v1/dispatch/ticket', { body: { intent: CHAT } })
    expect(t.json.route).toMatchObject({ health_label: 'healthy', health_confidence: 'high', browser_usable: true, routing_hint: 'http_direct', public_reachable: false })
  })

  it('calls an unprobed LAN node degraded with low confidence, as the reference does, and not browser-usable', async () => {
    const dir = await directory({ skipLivenessCheck: true })
    expect((await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://10.0.0.5:9484', { node_id: 'lan' }) })).status).toBe(201)
    expect(await facts(dir, 'lan')).toMatchObject({
      health_label: 'degraded', health_confidence: 'low', public_reachable: false, browser_usable: false, routing_hint: 'http_direct',
      health_reasons: [{ dimension: 'reachability', state: 'unknown', reason: 'not_directory_observed', evidence: 'self_attested' }, { dimension: 'latency' }],
    })
  })

  it('raises an unprobed node to healthy, medium confidence, once its heartbeat answers the HMAC challenge', async () => {
    const dir = await directory({ skipLivenessCheck: true })
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://10.0.0.6:9484', { node_id: 'hmac' }) })
    const token = reg.json.node_token as string
    const first = await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: 'hmac' } })
    const challenge_response = await heartbeatChallengeResponse(reg.json.node_hmac_key as string, first.json.challenge as string)
    expect((await call(dir.url, 'POST', '/api/v1/heartbeat', { token, body: { node_id: 'hmac', challenge_response } })).status).toBe(200)
    expect(await facts(dir, 'hmac')).toMatchObject({
      health_label: 'healthy', health_confidence: 'medium',
      health_reasons: [{ dimension: 'reachability', state: 'verified', reason: 'heartbeat_challenge' }, { dimension: 'latency', state: 'unknown' }],
    })
  })

  it('marks a relayed https node relay-routed and browser-usable, with public reachability unknown until probed', async () => {
    const dir = await directory()
    // A declared NAT path skips the probe, so nothing is contacted.
    const body = registerBody('https://relay.example.org/w/abc', { node_id: 'relayed', nat_type: 'symmetric', transport_method: 'turn_relay', relay_endpoint: 'wss://relay.example.org/bind' })
    expect((await call(dir.url, 'POST', '/api/v1/register', { body })).status).toBe(201)
    expect(await facts(dir, 'relayed')).toMatchObject({ public_reachable: null, browser_usable: true, routing_hint: 'relay', health_confidence: 'low' })
  })

  it('reports consumer telemetry as latency evidence', async () => {
    const dir = await directory({ skipLivenessCheck: true })
    const reg = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://10.0.0.7:9484', { node_id: 'timed' }) })
    const r = await call(dir.url, 'POST', '/api/v1/telemetry', {
      token: reg.json.proxy_token as string, body: { node_id: 'timed', proxy_node_id: 'timed', latency_ms_observed: 120, status: 'success' },
    })
    expect(r.status).toBe(200)
    expect((await facts(dir, 'timed')).health_reasons).toContainEqual({ dimension: 'latency', state: 'observed', reason: 'consumer_telemetry', evidence: 'telemetry' })
  })
})
