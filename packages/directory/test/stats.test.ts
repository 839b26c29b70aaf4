/**
 * `GET /api/v1/stats` (dir §3.9b; cts DIR-STATS-01) over real HTTP: an empty directory reports an
 * `unavailable` mesh with score 0 (not a healthy one), and a populated one counts only the nodes discover
 * may return as active (a dormant node and one that said it is unavailable are `offline`), takes the median
 * of their health in [0, 1], flags a sample under three, and reports SDK adoption by language and effective
 * compatibility version. Time is an injected clock.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { SDK_VERSION } from '@iicp/protocol'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, manualClock, registerBody, startHealthServer } from './http-support.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const EMBED = 'urn:iicp:intent:llm:embedding:v1'

describe('public stats', () => {
  const open: Array<{ close: () => Promise<void> }> = []
  afterEach(async () => {
    while (open.length) await open.pop()?.close()
  })
  async function setup(): Promise<{ dir: RunningDirectory; clock: ReturnType<typeof manualClock> }> {
    const clock = manualClock()
    const dir = await startDirectory({ port: 0, pruneIntervalMs: 0, clock: clock.now })
    open.push(dir)
    return { dir, clock }
  }
  async function probedNode(dir: RunningDirectory, extra: Record<string, unknown>): Promise<{ id: string; token: string }> {
    const server = await startHealthServer()
    open.push(server)
    const r = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody(server.url, extra) })
    expect(r.status).toBe(201)
    return { id: r.json.node_id as string, token: r.json.node_token as string }
  }

  it('reports an empty directory as an unavailable mesh with score 0, as JSON a CDN may cache', async () => {
    const { dir } = await setup()
    const r = await call(dir.url, 'GET', '/api/v1/stats')
    expect(r.status).toBe(200)
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(r.headers['cache-control']).toBe('public, max-age=30')
    expect(r.json).toEqual({
      server: { active_nodes: 0, registered_nodes: 0, version: SDK_VERSION, implementation: '@iicp/directory', mode: 'local' },
      regions: 0,
      intents: [],
      mesh_health: {
        score: 0, label: 'unavailable', mean: null, p10: null, sample: 0, basis: 'active_provider_nodes', window: 'live',
        distribution: { healthy: 0, degraded: 0, impaired: 0, critical: 0, offline: 0 },
      },
      directory_health: { uptime_s: 0 },
      sdk_adoption: { total_active: 0, by_language: { rust: 0, python: 0, typescript: 0, browser: 0, unknown: 0 }, by_version: {} },
      credits_extension: false,
    })
  })

  it('counts active nodes, their regions and intents, the median health and SDK adoption', async () => {
    const { dir, clock } = await setup()
    // Registered first, then silent past the 90 s window: dormant.
    await probedNode(dir, { sdk_language: 'rust', sdk_version: '0.7.60' })
    clock.advance(90_001)

    await probedNode(dir, { sdk_language: 'typescript', sdk_version: '0.9.0', sdk_compatibility_version: '0.9.0' })
    await probedNode(dir, { sdk_language: 'Python', sdk_version: '0.7.75', capabilities: [{ intent: CHAT }, { intent: EMBED }] })
    // A declared NAT path is not probed: reachability unverified, health 65 ("degraded").
    const nat = await call(dir.url, 'POST', '/api/v1/register', {
      body: registerBody('http://127.0.0.1:9', { region: 'us-east', nat_type: 'full_cone', transport_method: 'upnp_mapped', sdk_language: 'cobol', sdk_compatibility_version: '0.9.0' }),
    })
    expect(nat.status).toBe(201)
    // Heartbeating but unavailable: discover skips it, so it is not active either.
    const busy = await probedNode(dir, { sdk_language: 'browser' })
    expect((await call(dir.url, 'POST', '/api/v1/heartbeat', { token: busy.token, body: { node_id: busy.id, available: false } })).status).toBe(200)

    const r = await call(dir.url, 'GET', '/api/v1/stats')
    expect(r.status).toBe(200)
    const body = r.json
    expect(body.server).toMatchObject({ active_nodes: 3, registered_nodes: 5 })
    expect(body.regions).toBe(2)
    expect(body.intents).toEqual(expect.arrayContaining([{ urn: CHAT, node_count: 3 }, { urn: EMBED, node_count: 1 }]))
    expect(body.intents).toHaveLength(2)
    // Healths 65, 100, 100: median 1.0, mean 0.883, worst decile 0.65.
    expect(body.mesh_health).toEqual({
      score: 1, label: 'healthy', mean: 0.883, p10: 0.65, sample: 3, basis: 'active_provider_nodes', window: 'live',
      distribution: { healthy: 2, degraded: 1, impaired: 0, critical: 0, offline: 2 },
    })
    expect(body.directory_health).toEqual({ uptime_s: 90 })
    expect(body.sdk_adoption).toEqual({
      total_active: 3,
      by_language: { rust: 0, python: 1, typescript: 1, browser: 0, unknown: 1 },
      by_version: { '0.9.0': 2, '0.7.75': 1 },
    })
    expect(Object.keys((body.sdk_adoption as { by_version: object }).by_version)).toEqual(['0.9.0', '0.7.75'])
  })

  it('flags fewer than three active nodes as an insufficient sample, its score still in [0, 1] (DIR-STATS-01)', async () => {
    const { dir } = await setup()
    await call(dir.url, 'POST', '/api/v1/register', {
      body: registerBody('http://127.0.0.1:9', { nat_type: 'full_cone', transport_method: 'upnp_mapped' }),
    })
    await probedNode(dir, {})
    const health = (await call(dir.url, 'GET', '/api/v1/stats')).json.mesh_health as Record<string, unknown>
    expect(health).toMatchObject({ label: 'insufficient_sample', sample: 2, score: 0.65, window: 'live' })
    expect(typeof health.score).toBe('number')
    expect(health.score).toBeGreaterThanOrEqual(0)
    expect(health.score).toBeLessThanOrEqual(1)
  })
})
