/**
 * Strict on write (issue 2; wire.md §2.2): the task body our client actually puts on the wire, as a real loopback
 * node receives it, passes TaskRequestWriteSchema — plaintext with a node token and every execution constraint, and
 * IICP-CX to a node that advertises the Python fixture's key.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TaskRequestWriteSchema, safeParseWire } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import { startTestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'hi' }] }

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})

function writeProblems(body: unknown): string[] {
  const r = safeParseWire(TaskRequestWriteSchema, body)
  return r.ok ? [] : Object.entries(r.error.fields ?? { '': [r.error.message] }).map(([k, v]) => `${k}: ${v.join(', ')}`)
}

describe('the task body on the wire passes the strict write schema', () => {
  it('plaintext, with a node token and qos, model and max_tokens constraints', { timeout: 60_000 }, async () => {
    const node = await startTestNode()
    cleanups.push(() => node.close())
    const client = new IicpClient({ nodeToken: 'tok-4f9a2c7e8b1d3a5f', allowPrivateEndpoints: true, allowPlaintext: true })
    cleanups.push(() => client.close())
    await client.submit(CHAT, PAYLOAD, { node: node.summary(), qos: 'batch', model: 'echo-1', maxTokens: 64 })
    const body = node.requests[0]?.body
    expect(writeProblems(body)).toEqual([])
    expect(body).toMatchObject({ payload: PAYLOAD, auth: { node_token: 'tok-4f9a2c7e8b1d3a5f' }, constraints: { qos: 'batch', model: 'echo-1', max_tokens: 64 } })
  })

  it('IICP-CX, with response encryption asked for', { timeout: 60_000 }, async () => {
    const node = await startTestNode({ cx: true })
    cleanups.push(() => node.close())
    const client = new IicpClient({ allowPrivateEndpoints: true })
    cleanups.push(() => client.close())
    await client.submit(CHAT, PAYLOAD, { node: node.summary() })
    const body = node.requests[0]?.body
    expect(writeProblems(body)).toEqual([])
    expect(body).not.toHaveProperty('payload')
    expect(body).toHaveProperty('iicp_conf')
    expect(body?.cx_response_encryption).toBe('required')
  })

  it('the check has teeth: an extra field in the same captured body is refused', { timeout: 60_000 }, async () => {
    const node = await startTestNode()
    cleanups.push(() => node.close())
    const client = new IicpClient({ allowPrivateEndpoints: true, allowPlaintext: true })
    cleanups.push(() => client.close())
    await client.submit(CHAT, PAYLOAD, { node: node.summary() })
    expect(writeProblems({ ...node.requests[0]?.body, route: { region: 'x' } }).length).toBeGreaterThan(0)
  })
})
