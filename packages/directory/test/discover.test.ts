/**
 * Discover answers what wire.md §1.5 and sem §3.1 say: the score formula (0.35/0.28/0.18/0.09/0.10, model
 * weights with `model=`), region as a preference, every filter, the probation rule in public mode, the
 * public view, and `relay_available`. The indexed top-k is checked against a brute-force ranking of
 * every node for generated queries.
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { MODEL_SCORE_WEIGHTS, SCORE_WEIGHTS, seedNodes, startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { call, manualClock, registerBody } from './http-support.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const Q = `/api/v1/discover?intent=${encodeURIComponent(CHAT)}`

interface Summary {
  node_id: string; score: number; region: string; load: number; active_jobs: number; max_concurrent: number; reputation_score: number; models: string[]
  pricing: { credit_cost_multiplier: number }; cip_policy: { allow_remote_inference: boolean }; cip_conformance_level: string
}

function lcg(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

interface Query { region?: string; model?: string; minRep?: number; maxMult?: number; cip?: boolean; limit: number }

function expected(nodes: Summary[], q: Query): Array<[string, number]> {
  const cheapest = Math.min(...nodes.map((n) => n.pricing.credit_cost_multiplier))
  const scored = nodes
    .filter((n) => q.minRep === undefined || n.reputation_score >= q.minRep)
    .filter((n) => q.maxMult === undefined || n.pricing.credit_cost_multiplier <= q.maxMult)
    .filter((n) => q.cip !== true || n.cip_policy.allow_remote_inference)
    .map((n) => {
      const cap = Math.max(0, (n.max_concurrent - n.active_jobs) / n.max_concurrent)
      const rm = q.region === undefined ? 0.5 : n.region === q.region ? 1 : 0
      const w = q.model === undefined ? SCORE_WEIGHTS : MODEL_SCORE_WEIGHTS
      let s = w.availability + w.load * (1 - n.load) + w.capacity * cap + w.region * rm + w.reputation * n.reputation_score
      if (q.model !== undefined) {
        // sem §3.1 price_score: the normalised inverse of the multiplier, 1.0 for the cheapest candidate.
        const price = cheapest / n.pricing.credit_cost_multiplier
        s += MODEL_SCORE_WEIGHTS.model * (n.models.includes(q.model) ? 1 : 0) + MODEL_SCORE_WEIGHTS.price * price
      }
      return { id: n.node_id, s }
    })
    .sort((a, b) => b.s - a.s || (a.id < b.id ? -1 : 1))
  return scored.slice(0, q.limit).map((x) => [x.id, Math.round(x.s * 1000) / 1000])
}

describe('discover', () => {
  const open: RunningDirectory[] = []
  afterEach(async () => {
    while (open.length) await open.pop()?.close()
  })
  async function directory(opts: Parameters<typeof startDirectory>[0] = {}): Promise<RunningDirectory> {
    const d = await startDirectory({ port: 0, pruneIntervalMs: 0, skipLivenessCheck: true, ...opts })
    open.push(d)
    return d
  }

  it('scores a fresh idle node 0.905 without a region, 0.95 in its region and 0.86 elsewhere', async () => {
    const dir = await directory()
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })
    const score = async (suffix: string): Promise<number> => ((await call(dir.url, 'GET', Q + suffix)).json.nodes as Summary[])[0]?.score ?? -1
    expect(await score('')).toBe(0.905)
    expect(await score('&region=eu-central')).toBe(0.95)
    expect(await score('&region=us-west')).toBe(0.86)
  })

  it('returns the same top-k as a brute-force ranking for generated queries', async () => {
    const dir = await directory()
    const multipliers = [0.5, 1, 2, 4]
    seedNodes(dir.directory, 45, {
      random: lcg(7),
      regions: ['eu-central', 'us-west', 'ap-south'],
      meta: (i) => ({ pricing: { credit_cost_multiplier: multipliers[i % 4] }, policy: { allow_remote_inference: i % 3 === 0 } }),
    })
    const all = (await call(dir.url, 'GET', `${Q}&limit=50`)).json.nodes as Summary[]
    expect(all).toHaveLength(45)
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          region: fc.option(fc.constantFrom('eu-central', 'us-west', 'ap-south', 'nowhere'), { nil: undefined }),
          model: fc.option(fc.constantFrom('model-1', 'model-3', 'absent'), { nil: undefined }),
          minRep: fc.option(fc.constantFrom(0, 0.5, 0.8, 0.95), { nil: undefined }),
          maxMult: fc.option(fc.constantFrom(0, 0.5, 1.5, 2, 10), { nil: undefined }),
          cip: fc.option(fc.boolean(), { nil: undefined }),
          limit: fc.integer({ min: 1, max: 50 }),
        }),
        async (q) => {
          let path = `${Q}&limit=${q.limit}`
          if (q.region !== undefined) path += `&region=${q.region}`
          if (q.model !== undefined) path += `&model=${q.model}`
          if (q.minRep !== undefined) path += `&min_reputation=${q.minRep}`
          if (q.maxMult !== undefined) path += `&max_multiplier=${q.maxMult}`
          if (q.cip !== undefined) path += `&cip_capable=${q.cip ? '1' : 'false'}`
          const got = (await call(dir.url, 'GET', path)).json.nodes as Summary[]
          const want = expected(all, q)
          expect(got.map((n) => n.node_id)).toEqual(want.map(([id]) => id))
          // Summation order differs from the brute force, so the third decimal may round the other way.
          got.forEach((n, i) => expect(Math.abs(n.score - (want[i]?.[1] ?? -1))).toBeLessThanOrEqual(0.0011))
        },
      ),
      { numRuns: 40 },
    )
  })

  it('applies min_quality_score to the scores it reports, on the indexed and the model path', async () => {
    const dir = await directory()
    seedNodes(dir.directory, 40, { random: lcg(11), regions: ['eu-central', 'us-west'] })
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          region: fc.option(fc.constantFrom('eu-central', 'nowhere'), { nil: undefined }),
          model: fc.option(fc.constantFrom('model-2', 'absent'), { nil: undefined }),
          minQuality: fc.integer({ min: 0, max: 1000 }).map((x) => x / 1000),
          limit: fc.integer({ min: 1, max: 50 }),
        }),
        async (q) => {
          let base = Q
          if (q.region !== undefined) base += `&region=${q.region}`
          if (q.model !== undefined) base += `&model=${q.model}`
          // The same query unfiltered is the reference: the filter keeps exactly its nodes scoring ≥ the floor.
          const unfiltered = (await call(dir.url, 'GET', `${base}&limit=50`)).json.nodes as Summary[]
          const got = (await call(dir.url, 'GET', `${base}&limit=${q.limit}&min_quality_score=${q.minQuality}`)).json.nodes as Summary[]
          const want = unfiltered.filter((n) => n.score >= q.minQuality).slice(0, q.limit)
          expect(got.map((n) => [n.node_id, n.score])).toEqual(want.map((n) => [n.node_id, n.score]))
        },
      ),
      { numRuns: 40 },
    )
  })

  it('filters on declared pricing and CIP policy and shows them in the node summary', async () => {
    const dir = await directory()
    const reg = (id: string, extra: Record<string, unknown>) => call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: id, ...extra }) })
    expect((await reg('plain', {})).status).toBe(201)
    expect((await reg('dear-cip', { pricing: { credit_cost_multiplier: 2.5, pricing_model: 'per_request' }, policy: { allow_remote_inference: true } })).status).toBe(201)
    expect((await reg('cheap', { pricing: { credit_cost_multiplier: 0.5 }, policy: { allow_remote_inference: false } })).status).toBe(201)
    const ids = async (suffix: string): Promise<string[]> => ((await call(dir.url, 'GET', Q + suffix)).json.nodes as Summary[]).map((n) => n.node_id).sort()
    expect(await ids('')).toEqual(['cheap', 'dear-cip', 'plain'])
    expect(await ids('&max_multiplier=1')).toEqual(['cheap', 'plain'])
    expect(await ids('&max_multiplier=0.5')).toEqual(['cheap'])
    expect(await ids('&max_multiplier=0.25')).toEqual([])
    expect(await ids('&cip_capable=true')).toEqual(['dear-cip'])
    expect(await ids('&cip_capable=1&region=eu-central')).toEqual(['dear-cip'])
    expect(await ids('&cip_capable=false')).toEqual(['cheap', 'dear-cip', 'plain'])
    expect(await ids('&min_quality_score=0.9')).toEqual(['cheap', 'dear-cip', 'plain'])
    expect(await ids('&min_quality_score=0.91')).toEqual([])
    const byId = new Map(((await call(dir.url, 'GET', Q)).json.nodes as Array<Record<string, unknown>>).map((n) => [n.node_id, n]))
    expect(byId.get('dear-cip')).toMatchObject({
      cip_conformance_level: 'CIP-Provider',
      cip_policy: { allow_remote_inference: true },
      pricing: { credit_cost_multiplier: 2.5, pricing_model: 'per_request', currency: 'credits', attested: false },
    })
    expect(byId.get('plain')).toMatchObject({ cip_conformance_level: 'CIP-None', pricing: { credit_cost_multiplier: 1, pricing_model: 'per_token' } })
    // A dispatch ticket honours the same filters.
    const t = await call(dir.url, 'POST', '/api/v1/dispatch/ticket', { body: { intent: CHAT, cip_capable: true } })
    expect(t.status).toBe(201)
    expect(t.json.node_id).toBe('dear-cip')
    const none = await call(dir.url, 'POST', '/api/v1/dispatch/ticket', { body: { intent: CHAT, max_multiplier: 0.1 } })
    expect(none.status).toBe(404)
  })

  it('prices the model score relative to the cheapest candidate', async () => {
    const dir = await directory()
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'x1', pricing: { credit_cost_multiplier: 1 } }) })
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'x4', pricing: { credit_cost_multiplier: 4 } }) })
    const nodes = (await call(dir.url, 'GET', `${Q}&model=fixture-model`)).json.nodes as Summary[]
    // Fresh idle nodes: 0.25 + 0.20 + 0.15 + 0.05 + 0.05 + 0.10 = 0.80, plus 0.10·price (1 and 1/4).
    expect(nodes.map((n) => [n.node_id, n.score])).toEqual([['x1', 0.9], ['x4', 0.825]])
  })

  it('returns 10 nodes by default and honours limit', async () => {
    const dir = await directory()
    seedNodes(dir.directory, 30)
    expect((await call(dir.url, 'GET', Q)).json.count).toBe(10)
    expect((await call(dir.url, 'GET', `${Q}&limit=3`)).json.count).toBe(3)
    expect((await call(dir.url, 'GET', `${Q}&limit=50`)).json.count).toBe(30)
  })

  it('filters by modality and relay capability and reports relay_available', async () => {
    const dir = await directory()
    const vision = { intent: CHAT, models: ['v'], max_tokens: 100, input_modalities: ['text', 'image'] }
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'text-only' }) })
    expect((await call(dir.url, 'GET', Q)).json.relay_available).toBe(false)
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'vision-relay', capabilities: [vision], relay_capable: true }) })
    const ids = async (suffix: string): Promise<string[]> => ((await call(dir.url, 'GET', Q + suffix)).json.nodes as Summary[]).map((n) => n.node_id).sort()
    expect(await ids('&modality=image')).toEqual(['vision-relay'])
    expect(await ids('&modality=text')).toEqual(['text-only', 'vision-relay'])
    expect(await ids('&relay_capable=true')).toEqual(['vision-relay'])
    expect(await ids('&relay_capable=false')).toEqual(['text-only'])
    expect((await call(dir.url, 'GET', Q)).json.relay_available).toBe(true)
  })

  it('accepts vendor x. intents and only returns nodes registered for that exact URN', async () => {
    const dir = await directory()
    const vendor = 'urn:iicp:intent:x.acme:invoice-classify:v1'
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'acme', capabilities: [{ intent: vendor }] }) })
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'chat' }) })
    const r = await call(dir.url, 'GET', `/api/v1/discover?intent=${encodeURIComponent(vendor)}`)
    expect((r.json.nodes as Summary[]).map((n) => n.node_id)).toEqual(['acme'])
  })

  it('hides probationary nodes from interactive and realtime queries in public mode only', async () => {
    const pub = await directory({ mode: 'public' })
    await call(pub.url, 'POST', '/api/v1/register', { body: registerBody('https://node.example.com') })
    expect((await call(pub.url, 'GET', `${Q}&qos=interactive`)).json.count).toBe(0)
    expect((await call(pub.url, 'GET', `${Q}&qos=batch`)).json.count).toBe(1)
    expect((await call(pub.url, 'GET', Q)).json.count).toBe(1)
    const local = await directory()
    await call(local.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9') })
    expect((await call(local.url, 'GET', `${Q}&qos=interactive`)).json.count).toBe(1)
    expect((await call(local.url, 'GET', `${Q}&qos=realtime`)).json.count).toBe(1)
  })

  it('serves a redacted public view without endpoints or node ids', async () => {
    const dir = await directory()
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'public-view-node' }) })
    const r = await call(dir.url, 'GET', `${Q}&view=public`)
    expect(r.json).toMatchObject({ view: 'public', data_class: 'public_presentation', route_fields_present: false, count: 1 })
    const n = (r.json.nodes as Array<Record<string, unknown>>)[0]
    expect(n).toEqual({ node_id_prefix: 'public-v', region: 'eu-central', score: 0.905, route_class: 'direct', key_ready: false, reputation_tier: 'silver', models: ['fixture-model'] })
    expect(r.text).not.toContain('127.0.0.1:9')
  })

  it('halves the availability term outside a declared availability window', async () => {
    const clock = manualClock(Date.UTC(2026, 10, 26, 12, 30))
    // A day-long expiry window keeps the node live while the clock moves through the day.
    const dir = await directory({ clock: clock.now, expiryMs: 86_400_000 })
    await call(dir.url, 'POST', '/api/v1/register', {
      body: registerBody('http://127.0.0.1:9', { availability: [{ start: '22:00', end: '13:00', share: 1 }] }),
    })
    const score = async (): Promise<number> => ((await call(dir.url, 'GET', Q)).json.nodes as Summary[])[0]?.score ?? -1
    expect(await score()).toBe(0.905)
    clock.advance(60 * 60_000)
    dir.directory.prune()
    expect(await score()).toBe(0.73)
    clock.advance(10 * 60 * 60_000)
    dir.directory.prune()
    expect(await score()).toBe(0.905)
  })

  it('moves a node down the ranking as its heartbeats report load', async () => {
    const dir = await directory()
    const a = await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'busy' }) })
    await call(dir.url, 'POST', '/api/v1/register', { body: registerBody('http://127.0.0.1:9', { node_id: 'idle' }) })
    await call(dir.url, 'POST', '/api/v1/heartbeat', { token: a.json.node_token as string, body: { node_id: 'busy', load: 1, active_jobs: 4 } })
    const nodes = (await call(dir.url, 'GET', Q)).json.nodes as Summary[]
    expect(nodes.map((n) => [n.node_id, n.score])).toEqual([['idle', 0.905], ['busy', 0.445]])
  })
})
