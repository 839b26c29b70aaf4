// Proves relay election (IICP-DIR §7.6, DIR-RELAY-05): only relay-capable candidates with an endpoint and a
// reputation at or above 0.1 are eligible, the lowest load wins, the order is stable for a given worker, and
// excluded or self ids never come back, so a node can fail over down the list. Also pins the path-scoped endpoint.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RELAY_MIN_REPUTATION, electRelay, rankRelays, relayEndpointFor } from '@iicp/relay'
import type { RelayCandidate } from '@iicp/relay'

const relay = (node_id: string, over: Partial<RelayCandidate> = {}): RelayCandidate => ({
  node_id, endpoint: `https://${node_id}.example`, relay_capable: true, reputation_score: 0.5, load: 0, ...over,
})

describe('electRelay', () => {
  it('picks the lowest load among eligible relays', () => {
    const picked = electRelay([relay('a', { load: 0.7 }), relay('b', { load: 0.2 }), relay('c', { load: 0.4 })])
    expect(picked?.node_id).toBe('b')
  })

  it('never binds a relay below the 0.1 reputation floor or with no reputation', () => {
    expect(RELAY_MIN_REPUTATION).toBe(0.1)
    const picked = electRelay([
      relay('demoted', { reputation_score: 0.09, load: 0 }),
      relay('unknown', { reputation_score: null, load: 0 }),
      relay('ok', { reputation_score: 0.1, load: 0.9 }),
    ])
    expect(picked?.node_id).toBe('ok')
  })

  it('skips candidates that are not relay-capable or have no endpoint', () => {
    expect(electRelay([relay('x', { relay_capable: false }), relay('y', { endpoint: '' })])).toBeUndefined()
  })

  it('skips excluded relays and the worker itself', () => {
    const all = [relay('self'), relay('failed'), relay('next', { load: 0.3 })]
    expect(electRelay(all, { selfId: 'self', excludeIds: ['failed'] })?.node_id).toBe('next')
  })

  it('prefers a non-probationary relay, then higher reputation, at equal load', () => {
    const ranked = rankRelays([
      relay('probation', { probation: true, reputation_score: 0.9 }),
      relay('low', { reputation_score: 0.3 }),
      relay('high', { reputation_score: 0.8 }),
    ])
    expect(ranked.map((r) => r.node_id)).toEqual(['high', 'low', 'probation'])
  })

  it('breaks full ties the same way every time for one worker, whatever the input order', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 1, maxLength: 8 }), fc.string(), (ids, selfId) => {
      const candidates = ids.filter((id) => id !== selfId).map((id) => relay(id))
      const forward = rankRelays(candidates, { selfId }).map((r) => r.node_id)
      const backward = rankRelays([...candidates].reverse(), { selfId }).map((r) => r.node_id)
      expect(forward).toEqual(backward)
      expect([...forward].sort()).toEqual(candidates.map((c) => c.node_id).sort())
    }))
  })

  it('never returns an excluded, ineligible or self candidate', () => {
    const arb = fc.array(fc.record({
      node_id: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      endpoint: fc.constantFrom('', 'https://r.example'),
      relay_capable: fc.option(fc.boolean(), { nil: undefined }),
      reputation_score: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
      load: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    }), { maxLength: 10 })
    fc.assert(fc.property(arb, fc.subarray(['a', 'b', 'c']), (candidates, excludeIds) => {
      for (const r of rankRelays(candidates, { excludeIds, selfId: 'e' })) {
        expect(excludeIds).not.toContain(r.node_id)
        expect(r.node_id).not.toBe('e')
        expect(r.relay_capable).toBe(true)
        expect(r.endpoint).not.toBe('')
        expect(r.reputation_score).toBeGreaterThanOrEqual(0.1)
      }
    }))
  })
})

describe('relayEndpointFor', () => {
  it('builds the path-scoped endpoint consumers use, without doubling slashes', () => {
    expect(relayEndpointFor('https://relay.example:9484/', 'worker-1')).toBe('https://relay.example:9484/v1/relay-for/worker-1')
    expect(relayEndpointFor('http://127.0.0.1:9620', 'cap-worker-1')).toBe('http://127.0.0.1:9620/v1/relay-for/cap-worker-1')
  })
})
