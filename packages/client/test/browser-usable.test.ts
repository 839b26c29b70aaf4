/**
 * `browserUsableOnly` (official-sdks.md §2.2): the nodes a browser page could call are kept, namely https endpoints,
 * nodes the directory marks `browser_usable: true`, and, as the official SDKs have it, http on a loopback host (a
 * page may call its own machine). Other http endpoints are dropped before selection. Proven on the predicate, and
 * end to end: a loopback http node is served, and the routing receipt shows that the LAN and public http nodes
 * listed beside it were never candidates.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { NodeSummary } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import { isBrowserUsable } from '../src/endpoint-security.js'
import { startFakeDirectory } from './support/fake-directory.js'
import { startTestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'hi' }] }

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

describe('isBrowserUsable', () => {
  it('keeps https endpoints, whatever their host', () => {
    for (const endpoint of ['https://node.example.com', 'https://203.0.113.7:8443/base', 'HTTPS://Node.Example.com', 'https://10.0.0.7']) {
      expect(isBrowserUsable({ endpoint }), endpoint).toBe(true)
    }
  })

  it('keeps http on a loopback host: 127.0.0.0/8, ::1 and localhost', () => {
    for (const endpoint of ['http://127.0.0.1:9484', 'http://127.8.9.10', 'http://[::1]:9484', 'http://localhost:9484', 'http://LOCALHOST', 'http://[::ffff:127.0.0.1]:1']) {
      expect(isBrowserUsable({ endpoint }), endpoint).toBe(true)
    }
  })

  it('drops http on any other host, and endpoints that are not http(s) URLs', () => {
    for (const endpoint of ['http://10.0.0.7:9484', 'http://192.168.1.2', 'http://203.0.113.7', 'http://node.example.com', 'http://0.0.0.0:9484', 'iicp://127.0.0.1:9484', 'not a url', '']) {
      expect(isBrowserUsable({ endpoint }), endpoint).toBe(false)
    }
    expect(isBrowserUsable({})).toBe(false)
  })

  it('keeps any node the directory marks browser_usable: true, and only true', () => {
    expect(isBrowserUsable({ endpoint: 'http://203.0.113.7', browser_usable: true })).toBe(true)
    expect(isBrowserUsable({ endpoint: 'http://203.0.113.7', browser_usable: 'true' })).toBe(false)
    expect(isBrowserUsable({ endpoint: 'http://203.0.113.7', browser_usable: false })).toBe(false)
  })
})

describe('submit() with browserUsableOnly', () => {
  async function mesh(extra: readonly Partial<NodeSummary>[]) {
    const node = await startTestNode({ nodeId: 'loopback-node' })
    closers.push(() => node.close())
    // The loopback node comes first, so with directory-order selection no other node is ever contacted.
    const nodes = [node.summary(), ...extra.map((o, i) => node.summary({ node_id: `other-${i}`, ...o }))]
    const dir = await startFakeDirectory((req) => req.url.startsWith('/api/v1/discover')
      ? { status: 200, body: { nodes, count: nodes.length } }
      : { status: 404, body: { error: { code: 'not_found', message: 'x' } } })
    closers.push(() => dir.close())
    const client = new IicpClient({ directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', selection: 'deterministic' })
    closers.push(() => client.close())
    return { node, client }
  }

  it('serves a loopback http node and never makes the LAN or public http nodes beside it candidates', async () => {
    const { node, client } = await mesh([{ endpoint: 'http://10.0.0.7:9484' }, { endpoint: 'http://203.0.113.7:9484' }])
    const r = await client.submit(CHAT, PAYLOAD, { route: { browserUsableOnly: true } })
    expect(r.nodeId).toBe('loopback-node')
    expect(node.requests).toHaveLength(1)
    expect(r.receipt.eligible_candidate_count).toBe(1)
  })

  it('counts every listed node as a candidate without browserUsableOnly (the receipt above is the filter at work)', async () => {
    const { client } = await mesh([{ endpoint: 'http://10.0.0.7:9484' }, { endpoint: 'http://203.0.113.7:9484' }])
    const r = await client.submit(CHAT, PAYLOAD)
    expect(r.nodeId).toBe('loopback-node')
    expect(r.receipt.eligible_candidate_count).toBe(3)
  })

  it('keeps an https node and a browser_usable http node beside the loopback one', async () => {
    const { client } = await mesh([{ endpoint: 'https://node.example.com' }, { endpoint: 'http://203.0.113.7:9484', browser_usable: true } as Partial<NodeSummary>])
    const r = await client.submit(CHAT, PAYLOAD, { route: { browserUsableOnly: true } })
    expect(r.receipt.eligible_candidate_count).toBe(3)
  })

  it('answers IICP-E033 without sending anything when no listed node is browser-usable', async () => {
    // 0.0.0.0 is not loopback by name, yet a connection to it would only ever reach this machine.
    const { node, client } = await mesh([])
    const err = await client.submit(CHAT, PAYLOAD, { route: { browserUsableOnly: true }, node: node.summary({ endpoint: 'http://0.0.0.0:9' }) }).catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('IICP-E033')
    expect(node.requests).toHaveLength(0)
  })
})
