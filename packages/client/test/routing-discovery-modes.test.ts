/**
 * Route discovery modes and the official dispatch-ticket error codes (official-sdks §2.3): `legacy` never asks
 * for tickets, `ticketed` without a ticket endpoint is IICP-DISPATCH-TICKET-UNAVAILABLE, another ticket-endpoint
 * error is IICP-DISPATCH-TICKET-<status> with the directory's own error as its cause, a failed verification is
 * IICP-DISPATCH-TICKET-UNVERIFIED, and none of them sends anything to a node. `browserUsableOnly` keeps nodes the
 * directory marks browser-usable. IICP_ROUTE_DISCOVERY_MODE selects the mode.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { IicpClient, clientOptionsFromEnv } from '../src/index.js'
import type { ClientConfig } from '../src/index.js'
import { startFakeDirectory } from './support/fake-directory.js'
import type { FakeDirectory, FakeReply, FakeRequest } from './support/fake-directory.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'modes' }] }

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

async function setup(ticket: (req: FakeRequest) => FakeReply, summary: Record<string, unknown> = {}): Promise<{ dir: FakeDirectory; node: TestNode }> {
  const node = await startTestNode({ nodeId: 'mode-node' })
  closers.push(() => node.close())
  const dir = await startFakeDirectory((req) => req.url.startsWith('/api/v1/discover')
    ? { status: 200, body: { nodes: [node.summary(summary as never)], count: 1 } }
    : ticket(req))
  closers.push(() => dir.close())
  return { dir, node }
}

function client(dir: FakeDirectory, extra: ClientConfig = {}): IicpClient {
  const c = new IicpClient({ directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, sleep: async () => {}, ...extra })
  closers.push(() => c.close())
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

describe('route discovery modes', () => {
  it('legacy goes straight to discover and never asks for a ticket', async () => {
    const { dir, node } = await setup(() => ({ status: 500 }))
    const r = await client(dir, { routeDiscovery: 'legacy' }).submit(CHAT, PAYLOAD)
    expect(r.routeSource).toBe('discover')
    expect(dir.requests.map((q) => q.url.split('?')[0])).toEqual(['/api/v1/discover'])
    expect(node.requests).toHaveLength(1)
  })

  it('ticketed without a ticket endpoint fails with IICP-DISPATCH-TICKET-UNAVAILABLE and sends nothing', async () => {
    for (const status of [404, 405, 501]) {
      const { dir, node } = await setup(() => ({ status, body: { error: { code: 'not_found', message: 'no' } } }))
      const err = await failure(client(dir, { routeDiscovery: 'ticketed' }).submit(CHAT, PAYLOAD))
      expect(err.code).toBe('IICP-DISPATCH-TICKET-UNAVAILABLE')
      expect(err.status).toBe(status)
      expect(dir.requests.map((q) => q.url.split('?')[0])).toEqual(['/api/v1/dispatch/ticket'])
      expect(node.requests).toHaveLength(0)
    }
  })

  it('turns another ticket-endpoint error into IICP-DISPATCH-TICKET-<status>, keeping the directory\'s code as the cause', async () => {
    for (const [status, code] of [[422, 'validation_error'], [500, 'server_error'], [429, 'rate_limited']] as const) {
      const { dir, node } = await setup(() => ({ status, body: { error: { code, message: 'x' } }, headers: status === 429 ? { 'retry-after': '7' } : ({} as Record<string, string>) }))
      const err = await failure(client(dir).submit(CHAT, PAYLOAD))
      expect(err.code).toBe(`IICP-DISPATCH-TICKET-${status}`)
      expect(err.status).toBe(status)
      expect((err.cause as IicpError).code).toBe(code)
      if (status === 429) expect(err.retryAfterMs).toBe(7000)
      expect(node.requests).toHaveLength(0)
    }
  })

  it('refuses a ticket that does not verify with IICP-DISPATCH-TICKET-UNVERIFIED', async () => {
    const { dir, node } = await setup((req) => req.url === '/api/v1/directory-key'
      ? { status: 200, body: { public_key: 'a'.repeat(64), algorithm: 'ed25519' } }
      : {
          status: 201,
          body: {
            ticket: `${Buffer.from('{}').toString('base64url')}.${'0'.repeat(128)}`, ticket_id_prefix: 'abc', expires_at: 9_999_999_999, intent: CHAT,
            node_id: 'mode-node', node_id_prefix: 'mode-nod', route: { node_id: 'mode-node', endpoint: node.url }, algorithm: 'ed25519',
            data_class: 'ticketed_route_dispatch', route_fields_present: true, prompt_payload_accepted: false,
          },
        })
    const err = await failure(client(dir).submit(CHAT, PAYLOAD))
    expect(err.code).toBe('IICP-DISPATCH-TICKET-UNVERIFIED')
    expect(node.requests).toHaveLength(0)
  })

  it('reads IICP_ROUTE_DISCOVERY_MODE', () => {
    expect(clientOptionsFromEnv({ IICP_ROUTE_DISCOVERY_MODE: 'ticketed' })).toEqual({ routeDiscovery: 'ticketed' })
    expect(new IicpClient(clientOptionsFromEnv({ IICP_ROUTE_DISCOVERY_MODE: 'legacy' })).config.routeDiscovery).toBe('legacy')
    expect(() => new IicpClient(clientOptionsFromEnv({ IICP_ROUTE_DISCOVERY_MODE: 'sometimes' }))).toThrowError(expect.objectContaining({ code: 'invalid_config' }))
  })
})

describe('browserUsableOnly', () => {
  it('keeps a node the directory marks browser_usable, even on a loopback http endpoint', async () => {
    const { dir, node } = await setup(() => ({ status: 404 }), { browser_usable: true })
    const r = await client(dir, { routeDiscovery: 'legacy' }).submit(CHAT, PAYLOAD, { route: { browserUsableOnly: true } })
    expect(r.nodeId).toBe('mode-node')
    expect(node.requests).toHaveLength(1)
  })
})
