/**
 * The routing receipt and the external ranker seam over a real directory and real nodes: every result carries a
 * redacted receipt (strategy, policy, route source, eligible count, 8-character node prefix, no endpoint or
 * token); a ranker sees only redacted evidence (opaque refs, models, score, load, health, reachability, region),
 * its pick is where the task goes, a decline keeps the strategy's order, and an unknown ref or a throw refuses the
 * task with IICP-CANDIDATE-RANKER-REFUSED before anything is sent.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import type { CandidateEvidence, ClientConfig, RankerContext } from '../src/index.js'
import { startMesh } from './support/mesh.js'
import type { Mesh } from './support/mesh.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'ranker-secret-prompt-9917' }] }

let mesh: Mesh | undefined
const clients: IicpClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
  await mesh?.close()
  mesh = undefined
})

function client(m: Mesh, extra: ClientConfig = {}): IicpClient {
  const c = new IicpClient({
    directoryUrl: m.directoryUrl, allowPrivateEndpoints: true, allowPlaintext: true, selection: 'deterministic', nodeToken: 'consumer-secret-token-abcdef0123456789',
    consumerAuthMode: 'disabled', routeDiscovery: 'legacy', ...extra,
  })
  clients.push(c)
  return c
}

async function failure(p: Promise<unknown>): Promise<IicpError> {
  try {
    await p
  } catch (err) {
    expect(isIicpError(err)).toBe(true)
    return err as IicpError
  }
  throw new Error('expected a failure')
}

describe('the routing receipt', () => {
  it('is on every result, redacted to a node prefix and free of endpoints, tokens and payloads', async () => {
    mesh = await startMesh([{ nodeId: 'a1b2c3d4-node-one' }, { nodeId: 'e5f6a7b8-node-two' }])
    const r = await client(mesh).submit(CHAT, PAYLOAD)
    expect(r.receipt).toEqual({
      receipt_version: 'iicp-routing-receipt-v1', selection_profile: 'deterministic', routing_policy: 'standard', route_source: 'discover',
      eligible_candidate_count: 2, refused_candidate_count: 0, selected_node_id_prefix: r.nodeId.slice(0, 8), selected_region: 'local',
      consumer_auth: 'node_token', redaction: 'node_id_prefix_only',
    })
    const text = JSON.stringify(r.receipt)
    expect(text).not.toContain(r.nodeId)
    expect(text).not.toContain('127.0.0.1')
    expect(text).not.toContain('consumer-secret-token')
    expect(text).not.toContain('ranker-secret-prompt')
    expect(Object.isFrozen(r.receipt)).toBe(true)
  })
})

describe('the external ranker seam', () => {
  it('sees only redacted evidence, and its pick is the node that serves the task', async () => {
    mesh = await startMesh([{ nodeId: 'first-node' }, { nodeId: 'second-node' }])
    const seen: { evidence: readonly CandidateEvidence[]; context: RankerContext }[] = []
    const c = client(mesh, {
      ranker: (evidence, context) => {
        seen.push({ evidence, context })
        return evidence[evidence.length - 1]?.ref
      },
    })
    const r = await c.submit(CHAT, PAYLOAD)
    const [call] = seen
    if (!call) throw new Error('ranker not called')
    expect(call.evidence).toHaveLength(2)
    expect(call.context.intent).toBe(CHAT)
    expect(call.context.strategy).toBe('deterministic')
    for (const e of call.evidence) {
      expect(Object.keys(e).sort()).toEqual(['evidence_version', 'health_label', 'load', 'models', 'rank', 'reachability', 'ref', 'region', 'score'])
      expect(e.ref).toMatch(/^[0-9a-f]{64}$/)
      expect(e.reachability).toBe('direct')
    }
    const text = JSON.stringify(call.evidence)
    for (const leak of ['first-node', 'second-node', '127.0.0.1', 'consumer-secret-token', 'ranker-secret-prompt']) expect(text).not.toContain(leak)
    const picked = mesh.nodes.find((n) => n.requests.length === 1)
    expect(picked?.nodeId).toBe(r.nodeId)
    expect(mesh.nodes.map((n) => n.requests.length).reduce((a, b) => a + b, 0)).toBe(1)
    // The strategy put the directory's first node first; the ranker moved the other one ahead.
    const directoryFirst = (await c.discover(CHAT)).nodes[0]?.node_id
    expect(directoryFirst).toBeDefined()
    expect(r.nodeId).not.toBe(directoryFirst)
    expect(r.receipt.selection_profile).toBe('external_ranker/deterministic/picked')
    // References are stable within one client, so a ranker can learn across calls.
    await c.submit(CHAT, PAYLOAD)
    expect(seen[1]?.evidence.map((e) => e.ref)).toEqual(call.evidence.map((e) => e.ref))
  })

  it('keeps the strategy\'s order when the ranker declines', async () => {
    mesh = await startMesh([{ nodeId: 'first-node' }, { nodeId: 'second-node' }])
    const c = client(mesh, { ranker: async () => undefined })
    const first = (await c.discover(CHAT)).nodes[0]?.node_id
    const r = await c.submit(CHAT, PAYLOAD)
    expect(r.nodeId).toBe(first)
    expect(r.receipt.selection_profile).toBe('external_ranker/deterministic/declined')
  })

  it('refuses the task with IICP-CANDIDATE-RANKER-REFUSED on an unknown ref, a throw or a non-string, sending nothing', async () => {
    mesh = await startMesh([{ nodeId: 'only-node' }])
    const rankers = [() => 'f'.repeat(64), () => { throw new Error('ranker broke: ranker-secret-prompt-9917') }, () => 42 as unknown as string]
    for (const ranker of rankers) {
      const err = await failure(client(mesh, { ranker }).submit(CHAT, PAYLOAD))
      expect(err.code).toBe('IICP-CANDIDATE-RANKER-REFUSED')
      expect(err.retryable).toBe(false)
      expect(err.message).not.toContain('ranker-secret-prompt')
    }
    expect(mesh.nodes[0]?.requests).toHaveLength(0)
  })

  it('refuses a ranker option that is not a function at construction', () => {
    expect(() => new IicpClient({ ranker: 'best' as never })).toThrowError(expect.objectContaining({ code: 'invalid_config', fields: { ranker: ['a function'] } }))
  })
})
