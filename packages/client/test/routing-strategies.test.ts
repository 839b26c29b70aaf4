/**
 * Selection strategies (official-sdks §2.4; selection-v1.json): each strategy's pick as a pure function, the
 * fixture's weighted_v1 vectors through the strategy API, a seeded client's exact pick sequence over a real
 * directory and real nodes (same seed → same sequence, seen at the nodes), the official defaults (epsilon,
 * ε 0.05, top-k 3, τ 0.04) and the IICP_ROUTING_* variables.
 */
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import {
  DEFAULT_STRATEGY_PARAMS, IicpClient, clientOptionsFromEnv, parseClientOptions, seededRandom, softmaxTopKOrder, strategyOrder,
} from '../src/index.js'
import type { ClientConfig } from '../src/index.js'
import { startMesh } from './support/mesh.js'
import type { Mesh } from './support/mesh.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'hi' }] }
const FIXTURE = JSON.parse(readFileSync(new URL('../../../fixtures/spec/research/pre-normative-profiles/fixtures/selection-v1.json', import.meta.url), 'utf8')) as {
  top_k: number
  vectors: { name: string; random: number; nodes: { node_id: string; score: number; load: number }[]; expected_order: string[] }[]
}

/** A random source that replays the given values. */
function replay(...values: number[]): () => number {
  let i = 0
  return () => {
    const v = values[i++]
    if (v === undefined) throw new Error('random source exhausted')
    return v
  }
}

const nodes = [{ score: 0.9, load: 0 }, { score: 0.8, load: 0 }, { score: 0.5, load: 0 }, { score: 0.4, load: 0 }]
const params = DEFAULT_STRATEGY_PARAMS

describe('strategy functions', () => {
  it('deterministic keeps directory order and draws nothing', () => {
    expect(strategyOrder(nodes, 'deterministic', params, replay())).toEqual([0, 1, 2, 3])
  })

  it('epsilon keeps directory order when the first draw is at or above ε', () => {
    expect(strategyOrder(nodes, 'epsilon', params, replay(0.05))).toEqual([0, 1, 2, 3])
  })

  it('epsilon explores below ε: the second draw picks uniformly among all candidates, the rest keep their order', () => {
    expect(strategyOrder(nodes, 'epsilon', params, replay(0.01, 0.99))).toEqual([3, 0, 1, 2])
    expect(strategyOrder(nodes, 'epsilon', params, replay(0.049, 0.3))).toEqual([1, 0, 2, 3])
  })

  it('softmax_top_k samples only the top k with weights exp((score − max)/τ)', () => {
    // τ 0.04: weights 1, e^-2.5 ≈ 0.082, e^-10 ≈ 0.00005 → node 0 takes about 92.4 % of the mass.
    expect(softmaxTopKOrder(nodes, 0.9, 3, 0.04)).toEqual([0, 1, 2, 3])
    expect(softmaxTopKOrder(nodes, 0.95, 3, 0.04)).toEqual([1, 0, 2, 3])
    expect(softmaxTopKOrder(nodes, 0.99999, 3, 0.04)).toEqual([2, 0, 1, 3])
    // The fourth node is outside the pool whatever the draw.
    for (let r = 0; r < 1; r += 0.01) expect(softmaxTopKOrder(nodes, r, 3, 0.04)[0]).not.toBe(3)
    // A large τ flattens the weights to near-uniform.
    expect(softmaxTopKOrder(nodes, 0.5, 3, 10)[0]).toBe(1)
  })

  for (const v of FIXTURE.vectors) {
    it(`weighted_v1 orders the selection-v1.json vector "${v.name}" as the fixture expects`, () => {
      const order = strategyOrder(v.nodes, 'weighted_v1', { ...params, topK: FIXTURE.top_k }, replay(v.random)).map((i) => v.nodes[i]?.node_id)
      expect(order).toEqual(v.expected_order)
    })
  }

  it('seededRandom gives the same sequence for the same seed and another for another seed', () => {
    const a = seededRandom(42)
    const b = seededRandom(42)
    const c = seededRandom(43)
    const sa = Array.from({ length: 5 }, a)
    expect(Array.from({ length: 5 }, b)).toEqual(sa)
    expect(Array.from({ length: 5 }, c)).not.toEqual(sa)
    expect(sa.every((x) => x >= 0 && x < 1)).toBe(true)
    // Pinned (mulberry32) so a change to the generator, and so to every seeded pick sequence, cannot go unnoticed.
    expect(sa.map((x) => Math.floor(x * 1e6))).toEqual([601103, 448290, 852465, 669734, 174813])
  })
})

describe('configuration', () => {
  it('defaults to epsilon with ε 0.05, top-k 3 and τ 0.04 (the official defaults)', () => {
    const o = parseClientOptions()
    expect([o.selection, o.selectionEpsilon, o.selectionTopK, o.selectionSoftmaxTau, o.selectionSeed]).toEqual(['epsilon', 0.05, 3, 0.04, undefined])
  })

  it('reads IICP_ROUTING_STRATEGY, IICP_ROUTING_EPSILON, IICP_ROUTING_TOP_K, IICP_ROUTING_SOFTMAX_TAU and IICP_ROUTING_SEED', () => {
    const c = clientOptionsFromEnv({
      IICP_ROUTING_STRATEGY: 'softmax_top_k', IICP_ROUTING_EPSILON: '0.2', IICP_ROUTING_TOP_K: '5', IICP_ROUTING_SOFTMAX_TAU: '.5', IICP_ROUTING_SEED: '7',
    })
    expect(c).toEqual({ selection: 'softmax_top_k', selectionEpsilon: 0.2, selectionTopK: 5, selectionSoftmaxTau: 0.5, selectionSeed: 7 })
    const o = parseClientOptions(c)
    expect([o.selection, o.selectionEpsilon, o.selectionTopK, o.selectionSoftmaxTau, o.selectionSeed]).toEqual(['softmax_top_k', 0.2, 5, 0.5, 7])
  })

  it('refuses out-of-range values with invalid_config naming the option', () => {
    const cases: [ClientConfig, string][] = [
      [{ selectionEpsilon: 1.5 }, 'selectionEpsilon'], [{ selectionSoftmaxTau: 0 }, 'selectionSoftmaxTau'], [{ selectionTopK: 0 }, 'selectionTopK'],
      [{ selectionSeed: -1 }, 'selectionSeed'], [{ selection: 'random' as never }, 'selection'],
    ]
    for (const [config, option] of cases) {
      expect(() => parseClientOptions(config)).toThrowError(expect.objectContaining({ code: 'invalid_config', fields: { [option]: [expect.any(String)] } }))
    }
    expect(() => clientOptionsFromEnv({ IICP_ROUTING_EPSILON: 'lots' })).toThrowError(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_ROUTING_EPSILON') }))
  })
})

describe('a seeded client over a real directory and real nodes', () => {
  let mesh: Mesh | undefined
  const clients: IicpClient[] = []
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close()
    await mesh?.close()
    mesh = undefined
  })

  async function picks(m: Mesh, config: ClientConfig, n: number): Promise<string[]> {
    const client = new IicpClient({ directoryUrl: m.directoryUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', ...config })
    clients.push(client)
    const out: string[] = []
    for (let i = 0; i < n; i++) out.push((await client.submit(CHAT, PAYLOAD)).nodeId)
    return out
  }

  it('repeats its exact pick sequence for the same seed, the nodes seeing exactly those tasks', async () => {
    mesh = await startMesh([{ nodeId: 'node-a' }, { nodeId: 'node-b' }, { nodeId: 'node-c' }])
    const order = (await picks(mesh, { selection: 'deterministic' }, 1))[0]
    const config: ClientConfig = { selection: 'epsilon', selectionEpsilon: 0.5, selectionSeed: 20261126 }
    const first = await picks(mesh, config, 12)
    const second = await picks(mesh, config, 12)
    expect(second).toEqual(first)
    // The sequence is the seeded generator's: replay it through the pure strategy on the directory's order.
    const probe = new IicpClient({ directoryUrl: mesh.directoryUrl, allowPrivateEndpoints: true })
    clients.push(probe)
    const dirOrder = (await probe.discover(CHAT)).nodes.map((x) => x.node_id as string)
    const r = seededRandom(20261126)
    const expected = Array.from({ length: 12 }, () => dirOrder[strategyOrder(dirOrder.map(() => ({ score: 0.5 })), 'epsilon', { ...params, epsilon: 0.5 }, r)[0] as number])
    expect(first).toEqual(expected)
    // ε 0.5 explores: more than one node served, and the directory's first node is the default pick.
    expect(new Set(first).size).toBeGreaterThan(1)
    expect(order).toBe(dirOrder[0])
    const served = mesh.nodes.map((x) => x.requests.length)
    expect(served.reduce((a, b) => a + b, 0)).toBe(1 + 24)
  })

  it('sends every task to the directory\'s first node with deterministic', async () => {
    mesh = await startMesh([{ nodeId: 'node-a' }, { nodeId: 'node-b' }])
    const got = await picks(mesh, { selection: 'deterministic' }, 5)
    expect(new Set(got).size).toBe(1)
  })
})
