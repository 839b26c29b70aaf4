/**
 * Candidate selection: the spec's `weighted_v1` vectors (selection-v1.json, including the 1000-sample
 * distributions), directory order by default, unavailable / intent-less / open-breaker nodes skipped, direct routes
 * before relay routes, keyless nodes refused unless plaintext is allowed, randomized strategies exploring only
 * nodes that may serve the requested model, and the endpoint-security fixture (endpoint-security-v1.json) applied
 * to discovered endpoints.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { NodeSummary } from '@iicp/protocol'
import { addressAllowed, checkEndpoint, hostnameAllowed, mayServeModel, redirectDecision, selectNodes, weightedV1Order } from '../src/index.js'
import type { SelectionPolicy } from '../src/index.js'

const FIX = '../../../fixtures/spec/research/pre-normative-profiles/fixtures/'
function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(FIX + name, import.meta.url), 'utf8')) as T
}

interface SelNode { node_id: string; score: number; load: number }
const selection = fixture<{
  top_k: number
  vectors: { name: string; random: number; nodes: SelNode[]; expected_order: string[] }[]
  distribution_vectors: { name: string; sample_count: number; top_k: number; nodes: SelNode[]; expected_first_counts: Record<string, number> }[]
}>('selection-v1.json')

const INTENT = 'urn:iicp:intent:llm:chat:v1'
function node(id: string, extra: Partial<NodeSummary> = {}): NodeSummary {
  return {
    node_id: id, endpoint: `https://${id}.example.com`, score: 0.5, available: true, load: 0,
    capabilities: [{ intent: INTENT }], cx_public_key: { algorithm: 'X25519', encoding: 'base64url', key: 'k', key_id: 'cx-1' },
    ...extra,
  } as NodeSummary
}
const policy: SelectionPolicy = {
  intent: INTENT, allowPrivateEndpoints: false, allowPlaintext: false, strategy: 'directory_order', topK: 3,
  random: () => 0.5, breakerAllows: () => true,
}

describe('weighted_v1 (selection-v1.json)', () => {
  for (const v of selection.vectors) {
    it(`orders the vector "${v.name}" as the fixture expects`, () => {
      const order = weightedV1Order(v.nodes, v.random, selection.top_k).map((i) => v.nodes[i]?.node_id)
      expect(order).toEqual(v.expected_order)
    })
  }
  for (const d of selection.distribution_vectors) {
    it(`reproduces the first-pick counts of "${d.name}" with r_i = (i + 0.5) / N`, () => {
      const counts: Record<string, number> = Object.fromEntries(d.nodes.map((n) => [n.node_id, 0]))
      for (let i = 0; i < d.sample_count; i++) {
        const first = weightedV1Order(d.nodes, (i + 0.5) / d.sample_count, d.top_k)[0] as number
        const id = d.nodes[first]?.node_id as string
        counts[id] = (counts[id] ?? 0) + 1
      }
      expect(counts).toEqual(d.expected_first_counts)
    })
  }
  it('is used by selectNodes when the strategy is weighted_v1', () => {
    const v = selection.vectors.find((x) => x.name === 'lower_load_spreads_selection')
    if (!v) throw new Error('vector missing')
    const nodes = v.nodes.map((n) => node(n.node_id, { score: n.score, load: n.load }))
    const s = selectNodes(nodes, { ...policy, strategy: 'weighted_v1', random: () => v.random })
    expect(s.candidates.map((c) => c.nodeId)).toEqual(v.expected_order)
  })
})

describe('selectNodes', () => {
  it('keeps directory order by default', () => {
    const s = selectNodes([node('c', { score: 0.2 }), node('a', { score: 0.9 }), node('b')], policy)
    expect(s.candidates.map((c) => c.nodeId)).toEqual(['c', 'a', 'b'])
  })

  it('skips unavailable nodes, nodes not listing the intent and nodes whose breaker is open, saying why', () => {
    const s = selectNodes(
      [node('a', { available: false }), node('b', { capabilities: [{ intent: 'urn:iicp:intent:llm:embedding:v1' }] }), node('c'), node('d')],
      { ...policy, breakerAllows: (id) => id !== 'c' },
    )
    expect(s.candidates.map((c) => c.nodeId)).toEqual(['d'])
    expect(s.refused).toEqual([
      { nodeId: 'a', reason: 'unavailable' }, { nodeId: 'b', reason: 'intent_not_listed' }, { nodeId: 'c', reason: 'breaker_open' },
    ])
  })

  it('prefers direct routes over relay routes, keeping order within each', () => {
    const s = selectNodes([node('r1', { reachability_tier: 'relay' }), node('d1'), node('r2', { transport_method: 'turn_relay' }), node('d2')], policy)
    expect(s.candidates.map((c) => [c.nodeId, c.route])).toEqual([['d1', 'direct'], ['d2', 'direct'], ['r1', 'relay'], ['r2', 'relay']])
  })

  it('refuses keyless nodes unless plaintext is allowed', () => {
    const keyless = node('k', { cx_public_key: null })
    expect(selectNodes([keyless], policy).refused).toEqual([{ nodeId: 'k', reason: 'cx_required' }])
    expect(selectNodes([keyless], { ...policy, allowPlaintext: true }).candidates).toHaveLength(1)
  })

  it('refuses loopback and private endpoints unless allowPrivateEndpoints is set', () => {
    const local = node('l', { endpoint: 'http://127.0.0.1:9484' })
    expect(selectNodes([local], policy).refused).toEqual([{ nodeId: 'l', reason: 'endpoint_refused' }])
    const c = selectNodes([local], { ...policy, allowPrivateEndpoints: true }).candidates[0]
    expect(c?.origin).toBe('http://127.0.0.1:9484')
    expect(c?.taskPath).toBe('/v1/task')
  })

  it('keeps an endpoint path prefix (relay-for routes) in front of /v1/task', () => {
    const c = selectNodes([node('w', { endpoint: 'https://relay.example.com/v1/relay-for/w/' })], policy).candidates[0]
    expect(c?.taskPath).toBe('/v1/relay-for/w/v1/task')
  })
})

describe('selectNodes with a requested model', () => {
  // The directory only scores by model, so a node listing other models can come back, even first.
  const other = node('other', { capabilities: [{ intent: INTENT, models: ['llava:latest'] }] } as Partial<NodeSummary>)
  const serving = node('serving', { capabilities: [{ intent: INTENT, models: ['echo-1', 'echo-2'] }] } as Partial<NodeSummary>)
  const silent = node('silent', { capabilities: [{ intent: INTENT }] })
  const draws = (...values: number[]): (() => number) => {
    let i = 0
    return () => values[i++ % values.length] as number
  }

  it('explores only among nodes that list the model or no models, whatever the draw, and keeps the rest as fallbacks', () => {
    for (const pick of [0, 0.34, 0.67, 0.99]) {
      const s = selectNodes([other, serving, silent], { ...policy, strategy: 'epsilon', epsilon: 1, random: draws(0, pick), model: 'echo-1' })
      expect(s.candidates.map((c) => c.nodeId).slice(0, 2).sort()).toEqual(['serving', 'silent'])
      expect(s.candidates.map((c) => c.nodeId)[2]).toBe('other')
    }
    // A ticketed route carries no capabilities, only the top-level models of the queried intent.
    const ticketed = node('ticketed', { capabilities: undefined, models: ['llava:latest'] } as Partial<NodeSummary>)
    const s = selectNodes([ticketed, serving], { ...policy, strategy: 'epsilon', epsilon: 1, random: draws(0, 0), model: 'echo-1' })
    expect(s.candidates.map((c) => c.nodeId)).toEqual(['serving', 'ticketed'])
    for (const strategy of ['softmax_top_k', 'weighted_v1'] as const) {
      const s = selectNodes([other, serving], { ...policy, strategy, random: () => 0, model: 'echo-1' })
      expect(s.candidates.map((c) => c.nodeId)).toEqual(['serving', 'other'])
    }
  })

  it('leaves the order alone without a model, when no node lists it, and for directory order', () => {
    const ids = (p: Partial<SelectionPolicy>): string[] =>
      selectNodes([other, serving], { ...policy, strategy: 'epsilon', epsilon: 0, ...p }).candidates.map((c) => c.nodeId)
    expect(ids({})).toEqual(['other', 'serving'])
    expect(ids({ model: 'mistral' })).toEqual(['other', 'serving'])
    expect(ids({ model: 'echo-1', strategy: 'directory_order' })).toEqual(['other', 'serving'])
    expect(ids({ model: 'echo-1', strategy: 'deterministic' })).toEqual(['other', 'serving'])
  })

  it('mayServeModel is the same test, public for callers that filter instead of ordering', () => {
    expect([other, serving, silent].filter((n) => mayServeModel(n, INTENT, 'echo-2')).map((n) => n.node_id)).toEqual(['serving', 'silent'])
    // Models listed under another intent say nothing about this one.
    const elsewhere = node('elsewhere', { capabilities: [{ intent: INTENT, models: ['a'] }, { intent: 'urn:iicp:intent:x.other:v1', models: ['echo-1'] }] } as Partial<NodeSummary>)
    expect(mayServeModel(elsewhere, INTENT, 'echo-1')).toBe(false)
    expect(mayServeModel(node('ticketed', { capabilities: undefined, models: ['llava:latest'] } as Partial<NodeSummary>), INTENT, 'echo-1')).toBe(false)
    expect(mayServeModel(node('bare', { capabilities: undefined, models: [] } as Partial<NodeSummary>), INTENT, 'echo-1')).toBe(true)
  })
})

const security = fixture<{
  address_vectors: { id: string; addresses: string[]; allow_private: boolean; allowed: boolean }[]
  hostname_vectors: { id: string; host: string; allowed: boolean }[]
  resolution_attempt_vectors: { id: string; attempts: string[][]; allow_private: boolean; expected: string[] }[]
  redirect_vectors: { id: string; status: number; same_origin: boolean; target_addresses: string[]; allow_private: boolean; expected: string }[]
}>('endpoint-security-v1.json')

describe('endpoint security (endpoint-security-v1.json)', () => {
  for (const v of security.address_vectors) {
    it(`${v.allowed ? 'allows' : 'refuses'} the address set "${v.id}"`, () => {
      expect(addressAllowed(v.addresses, v.allow_private)).toBe(v.allowed)
    })
  }
  for (const v of security.hostname_vectors) {
    it(`${v.allowed ? 'allows' : 'refuses'} the host name "${v.id}"`, () => {
      expect(hostnameAllowed(v.host)).toBe(v.allowed)
      expect(checkEndpoint(`https://${v.host}/`, false).ok).toBe(v.allowed)
    })
  }
  for (const v of security.resolution_attempt_vectors) {
    it(`re-validates every resolution: "${v.id}"`, () => {
      expect(v.attempts.map((a) => (addressAllowed(a, v.allow_private) ? 'allow' : 'refuse'))).toEqual(v.expected)
    })
  }
  for (const v of security.redirect_vectors) {
    it(`redirect "${v.id}" → ${v.expected}`, () => {
      const d = redirectDecision({ status: v.status, sameOrigin: v.same_origin, targetAddresses: v.target_addresses, allowPrivate: v.allow_private, hops: 0 })
      expect(d === 'follow' ? 'follow_after_revalidation' : 'refuse').toBe(v.expected)
    })
  }
  it('refuses a fourth consecutive redirect', () => {
    expect(redirectDecision({ status: 307, sameOrigin: true, targetAddresses: ['93.184.216.34'], allowPrivate: false, hops: 3 })).toBe('refuse')
  })
  it('refuses endpoints with credentials, queries or non-http schemes', () => {
    for (const e of ['https://u:p@node.example.com', 'https://node.example.com/?x=1', 'ftp://node.example.com', 'nonsense']) {
      expect(checkEndpoint(e, true).ok).toBe(false)
    }
  })
})
