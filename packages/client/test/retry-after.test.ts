/**
 * Retry-After holds per node for the whole task (wire.md §4.3; the README's SDK-05): when the failover loop comes
 * round to a node that asked for time, it skips it for a node that is free, or, when none is, waits until the
 * soonest one is free, and it ends the task with `no_available_node` (carrying the per-attempt errors and the wait
 * as retryAfterMs) when that wait would outlast the deadline. Each attempt's `constraints.timeout_ms` is what is
 * left of the deadline, and no attempt is made with less than the 100 ms a node accepts. Real fake directory and test nodes on loopback; the
 * clock and sleep are injected and advance together, so the test reads the order of attempts and the waits the
 * client chose, never elapsed time.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import { startFakeDirectory } from './support/fake-directory.js'
import { startTestNode } from './support/test-node.js'
import type { Behaviour, TestNode, TestNodeOptions } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'hello mesh' }] }

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

function rateLimited(seconds: number): Behaviour {
  return { kind: 'status', status: 429, headers: { 'retry-after': String(seconds) }, body: { error: { code: 'rate_limited', message: 'slow down' } } }
}

interface Setup {
  readonly nodes: TestNode[]
  readonly client: IicpClient
  /** Every backoff or Retry-After wait the client asked for, in order. */
  readonly sleeps: number[]
}

/** Nodes in this order behind a directory that lists them so; clock and sleep advance together. */
async function setup(nodes: TestNodeOptions[], timeoutMs = 30_000): Promise<Setup> {
  const started: TestNode[] = []
  for (const o of nodes) {
    const n = await startTestNode(o)
    closers.push(() => n.close())
    started.push(n)
  }
  const dir = await startFakeDirectory(() => ({ status: 200, body: { nodes: started.map((n) => n.summary()), count: started.length } }))
  closers.push(() => dir.close())
  let now = 1_000_000
  const sleeps: number[] = []
  const client = new IicpClient({
    directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', selection: 'deterministic',
    timeoutMs, random: () => 0.5, clock: () => now,
    sleep: async (ms) => {
      sleeps.push(ms)
      now += ms
    },
  })
  closers.push(() => client.close())
  return { nodes: started, client, sleeps }
}

async function failure(p: Promise<unknown>): Promise<IicpError> {
  try {
    await p
  } catch (err) {
    expect(isIicpError(err)).toBe(true)
    return err as IicpError
  }
  throw new Error('expected a rejection')
}

function attemptNodes(errors: readonly { nodeId: string }[], last?: string): string[] {
  return [...errors.map((e) => e.nodeId), ...(last === undefined ? [] : [last])]
}

describe('Retry-After across the whole task', () => {
  it('skips a node still inside its Retry-After when coming round to it, for a node that is free (429 Retry-After 5 s, then 503)', async () => {
    const { nodes: [a, b], client, sleeps } = await setup([
      { fallback: rateLimited(5) },
      { behaviours: [{ kind: 'status', status: 503, body: { error: { code: 'service_unavailable', message: 'busy' } } }] },
    ])
    const r = await client.submit(CHAT, PAYLOAD)
    expect(attemptNodes(r.errors, r.nodeId)).toEqual([a?.nodeId, b?.nodeId, b?.nodeId])
    expect(r.errors.map((e) => e.code)).toEqual(['rate_limited', 'service_unavailable'])
    // Backoff only (200, 400): nobody waited for A, and A was not asked again.
    expect(sleeps).toEqual([200, 400])
    expect(a?.requests).toHaveLength(1)
  })

  it('waits for the node free soonest when every node asked for time', async () => {
    const { nodes: [a, b], client, sleeps } = await setup([
      { fallback: rateLimited(5) },
      { behaviours: [rateLimited(2)] },
    ])
    const r = await client.submit(CHAT, PAYLOAD)
    expect(attemptNodes(r.errors, r.nodeId)).toEqual([a?.nodeId, b?.nodeId, b?.nodeId])
    // B failed 200 ms after A with Retry-After 2 s: B is free 2 s later, A only 4.8 s later.
    expect(sleeps).toEqual([200, 2000])
    expect(a?.requests).toHaveLength(1)
  })

  it('waits only for what is left of a node\'s Retry-After when it comes round to it after a switch', async () => {
    const { nodes: [a, b], client, sleeps } = await setup([
      { behaviours: [rateLimited(1)] },
      { fallback: { kind: 'status', status: 429, body: { error: { code: 'capacity_exceeded', message: 'full' } } } },
    ])
    const r = await client.submit(CHAT, PAYLOAD)
    expect(attemptNodes(r.errors, r.nodeId)).toEqual([a?.nodeId, b?.nodeId, a?.nodeId])
    expect(r.errors.map((e) => e.code)).toEqual(['rate_limited', 'capacity_exceeded'])
    // 200 ms of backoff already ran, so 800 ms of A's 1 s remain; capacity_exceeded itself adds no backoff.
    expect(sleeps).toEqual([200, 800])
  })

  it('sends as constraints.timeout_ms what is left of the deadline, and makes no attempt with less than the 100 ms a node accepts', async () => {
    const busy = (ms: number): Behaviour => ({ kind: 'status', status: 503, body: { error: { code: 'service_unavailable', message: 'busy', retry_after_ms: ms } } })
    const { nodes: [n], client, sleeps } = await setup([{ behaviours: [busy(2000)] }], 5000)
    await client.submit(CHAT, PAYLOAD)
    expect(sleeps).toEqual([2000])
    expect(n?.requests.map((q) => (q.body.constraints as { timeout_ms: number }).timeout_ms)).toEqual([5000, 3000])

    n?.push(busy(4950))
    const err = await failure(client.submit(CHAT, PAYLOAD, { timeoutMs: 5000 }))
    // 50 ms were left after the wait: timeout_ms 50 would be refused (task.json 100..300000), 100 would outlast the deadline.
    expect(err.code).toBe('timeout')
    expect(err.extra?.attempts).toEqual([{ nodeId: n?.nodeId, code: 'service_unavailable', status: 503, message: 'busy' }])
    expect(sleeps).toEqual([2000, 4950])
    expect(n?.requests).toHaveLength(3)
  })

  it('ends with no_available_node, the per-attempt errors and the wait as retryAfterMs when no node is free before the deadline', async () => {
    const { nodes: [a, b], client, sleeps } = await setup([{ fallback: rateLimited(60) }, { fallback: rateLimited(60) }], 30_000)
    const err = await failure(client.submit(CHAT, PAYLOAD))
    expect(err.code).toBe('no_available_node')
    expect(err.retryAfterMs).toBe(59_800)
    expect(err.extra?.attempts).toEqual([
      { nodeId: a?.nodeId, code: 'rate_limited', status: 429, message: 'slow down' },
      { nodeId: b?.nodeId, code: 'rate_limited', status: 429, message: 'slow down' },
    ])
    expect(sleeps).toEqual([200])
    expect(a?.requests).toHaveLength(1)
    expect(b?.requests).toHaveLength(1)
  })
})
