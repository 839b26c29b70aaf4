/**
 * A payload JSON cannot carry (a BigInt, a circular reference, `undefined`, a throwing `toJSON`) is the caller's
 * mistake: submit() refuses it with a final `validation_error` (422) before discovery, so no directory or node sees a
 * request, no attempt is recorded and no circuit breaker moves. The message names the problem, never the payload.
 * The plaintext and IICP-CX paths share that one check. Real fake directory and test nodes on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import { startFakeDirectory } from './support/fake-directory.js'
import type { FakeDirectory } from './support/fake-directory.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const SECRET = 'payload-secret-7d1f'

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

async function setup(cx: boolean): Promise<{ node: TestNode; dir: FakeDirectory; client: IicpClient }> {
  const node = await startTestNode({ cx })
  closers.push(() => node.close())
  const dir = await startFakeDirectory(() => ({ status: 200, body: { nodes: [node.summary()], count: 1 } }))
  closers.push(() => dir.close())
  const client = new IicpClient({
    directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: !cx, routeDiscovery: 'legacy', selection: 'deterministic',
    sleep: async () => {},
  })
  closers.push(() => client.close())
  return { node, dir, client }
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

function circular(): Record<string, unknown> {
  const o: Record<string, unknown> = { messages: [{ role: 'user', content: SECRET }] }
  o.self = o
  return o
}

const BAD: [string, () => unknown, RegExp][] = [
  ['a BigInt', () => ({ messages: [{ role: 'user', content: SECRET }], seed: 12n }), /BigInt/],
  ['a circular reference', circular, /circular/],
  ['undefined', () => undefined, /not a JSON value/],
  ['a throwing toJSON', () => ({ content: SECRET, toJSON: () => { throw new Error(SECRET) } }), /toJSON/],
]

describe('submit: a payload JSON cannot carry', () => {
  for (const cx of [false, true]) {
    for (const [what, make, says] of BAD) {
      it(`refuses ${what} with a final validation_error before any traffic (${cx ? 'IICP-CX' : 'plaintext'} node)`, async () => {
        const { node, dir, client } = await setup(cx)
        const err = await failure(client.submit(CHAT, make()))
        expect(err.code).toBe('validation_error')
        expect(err.status).toBe(422)
        expect(err.retryable).toBe(false)
        expect(err.message).toMatch(says)
        expect(err.message).not.toContain(SECRET)
        expect(err.fields).toEqual({ payload: ['a JSON-serialisable value'] })
        expect(err.extra?.attempts).toBeUndefined()
        expect(dir.requests).toHaveLength(0)
        expect(node.requests).toHaveLength(0)
      })
    }
  }

  it('leaves the circuit breakers alone: after more refusals than the breaker threshold, a valid task goes through first time', async () => {
    const { node, client } = await setup(false)
    for (let i = 0; i < 8; i++) expect((await failure(client.submit(CHAT, { n: BigInt(i) }))).code).toBe('validation_error')
    const ok = await client.submit(CHAT, { messages: [{ role: 'user', content: 'hi' }] })
    expect(ok.attempts).toBe(1)
    expect(ok.errors).toEqual([])
    expect(node.requests).toHaveLength(1)
    expect(node.requests[0]?.payload).toEqual({ messages: [{ role: 'user', content: 'hi' }] })
  })

  it('sends the payload text it checked: a toJSON runs once, before discovery, and the node gets its output', async () => {
    const { node, client } = await setup(true)
    let calls = 0
    const payload = { toJSON: () => ({ messages: [{ role: 'user', content: `call ${++calls}` }] }) }
    // Three attempts on one node: the first two fail, the third carries the text serialised before the first.
    node.push({ kind: 'status', status: 503 }, { kind: 'status', status: 503 })
    const r = await client.submit(CHAT, payload)
    expect(r.attempts).toBe(3)
    expect(calls).toBe(1)
    expect(node.requests.map((q) => q.payload)).toEqual(Array.from({ length: 3 }, () => ({ messages: [{ role: 'user', content: 'call 1' }] })))
  })
})
