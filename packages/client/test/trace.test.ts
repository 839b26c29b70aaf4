/**
 * W3C trace context (README SDK-06; cts TRACE-01..04): the caller's traceparent is continued or a new one
 * started; the ticket, directory-key and task calls of one submit carry the same trace id with a fresh span id
 * each, and so do the legacy GET /discover call and the task call; tracestate is passed through; the task body
 * carries trace.trace_id.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { generateSigningKeyPair, parseTraceparent, signDispatchTicket } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import { startFakeDirectory } from './support/fake-directory.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})

async function setup(): Promise<{ node: TestNode; client: IicpClient; headers: () => string[] }> {
  const node = await startTestNode()
  cleanups.push(() => node.close())
  const key = await generateSigningKeyPair()
  const dir = await startFakeDirectory(async (req, origin) => {
    if (req.url === '/api/v1/directory-key') return { status: 200, body: { public_key: key.publicKeyHex, algorithm: 'ed25519' } }
    if ((req.body as { exclude_node_id_prefixes?: string[] } | undefined)?.exclude_node_id_prefixes?.length) {
      return { status: 404, body: { error: { code: 'no_route_available', message: 'none' } } }
    }
    const iat = Math.floor(Date.now() / 1000)
    const ticket = await signDispatchTicket({ v: 1, typ: 'dispatch-route-ticket', iss: origin, aud: 'iicp.directory.dispatch', jti: 'a'.repeat(24), node_id: node.nodeId, intent: CHAT, iat, exp: iat + 60 }, key)
    return { status: 201, body: { ticket, expires_at: iat + 60, intent: CHAT, node_id: node.nodeId, route: { node_id: node.nodeId, endpoint: node.url }, algorithm: 'ed25519', data_class: 'ticketed_route_dispatch', route_fields_present: true, prompt_payload_accepted: false } }
  })
  cleanups.push(() => dir.close())
  const client = new IicpClient({ directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true })
  cleanups.push(() => client.close())
  return { node, client, headers: () => [...dir.requests.map((r) => String(r.headers.traceparent)), ...node.requests.map((r) => String(r.headers.traceparent))] }
}

describe('trace context', () => {
  it('README SDK-06: starts a trace and sends the same trace id with a fresh span id on the ticket, key and task calls', async () => {
    const { client, node, headers } = await setup()
    const r = await client.submit(CHAT, { messages: [{ role: 'user', content: 'x' }] })
    const parsed = headers().map((h) => parseTraceparent(h))
    expect(parsed).toHaveLength(4)
    for (const p of parsed) expect(p?.traceId).toBe(r.traceId)
    expect(new Set(parsed.map((p) => p?.spanId)).size).toBe(4)
    expect(node.requests[0]?.body.trace).toEqual({ trace_id: r.traceId })
    expect(headers()[0]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
  })

  it('README SDK-06: continues the caller\'s traceparent as a child span and passes tracestate through', async () => {
    const { client, node, headers } = await setup()
    const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const r = await client.submit(CHAT, { messages: [] }, { traceparent: caller, tracestate: 'vendor=abc' })
    expect(r.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
    for (const h of headers()) {
      expect(parseTraceparent(h)?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
      expect(parseTraceparent(h)?.spanId).not.toBe('00f067aa0ba902b7')
    }
    expect(node.requests[0]?.headers.tracestate).toBe('vendor=abc')
  })

  it('README SDK-06: sends the legacy GET /discover call the same trace id as the task call, each with its own span id', async () => {
    const node = await startTestNode()
    cleanups.push(() => node.close())
    const dir = await startFakeDirectory(() => ({ status: 200, body: { nodes: [node.summary()], count: 1 } }))
    cleanups.push(() => dir.close())
    // routeCacheMs 0: each submit asks the directory again, under its own trace.
    const client = new IicpClient({ directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', routeCacheMs: 0 })
    cleanups.push(() => client.close())
    const caller = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const fresh = await client.submit(CHAT, { messages: [] })
    const continued = await client.submit(CHAT, { messages: [] }, { traceparent: caller })
    expect(continued.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
    expect(fresh.traceId).not.toBe(continued.traceId)
    expect(dir.requests.map((q) => q.url.split('?')[0])).toEqual(['/api/v1/discover', '/api/v1/discover'])
    for (const [i, r] of [fresh, continued].entries()) {
      const discover = parseTraceparent(String(dir.requests[i]?.headers.traceparent))
      const task = parseTraceparent(String(node.requests[i]?.headers.traceparent))
      expect(discover?.traceId).toBe(r.traceId)
      expect(task?.traceId).toBe(r.traceId)
      expect(discover?.spanId).not.toBe(task?.spanId)
      expect(node.requests[i]?.body.trace).toEqual({ trace_id: r.traceId })
    }
  })

  it('starts a new trace when the caller\'s traceparent is malformed, and drops its tracestate', async () => {
    const { client, node } = await setup()
    const r = await client.submit(CHAT, { messages: [] }, { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01', tracestate: 'x=y' })
    expect(r.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(r.traceId).not.toBe('00000000000000000000000000000000')
    expect(node.requests[0]?.headers.tracestate).toBeUndefined()
  })

  it('gives two submits two different trace ids', async () => {
    const { client } = await setup()
    const a = await client.submit(CHAT, { messages: [] })
    const b = await client.submit(CHAT, { messages: [] })
    expect(a.traceId).not.toBe(b.traceId)
  })
})
