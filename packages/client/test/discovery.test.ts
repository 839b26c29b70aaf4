/**
 * Discovery and route discovery: discover() against the real directory (SDK-DISC-01 scores in [0, 1],
 * SDK-DISC-02 at most `limit` nodes, query parameters), signed dispatch tickets verified with the directory key
 * (wrong issuer or key refused), the fallback to GET /discover when the directory has no ticket endpoint,
 * federation 307s followed at most 3 times, the route cache that makes steady-state submit one POST, and the one
 * deadline that also covers discovery (a hanging directory ends the call with `timeout`, an abort with `aborted`).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { generateSigningKeyPair, isIicpError, signDispatchTicket } from '@iicp/protocol'
import type { IicpError, SigningKeyPair } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import type { ClientConfig } from '../src/index.js'
import { startFakeDirectory } from './support/fake-directory.js'
import type { FakeDirectory, FakeRequest, FakeReply } from './support/fake-directory.js'
import { startMesh } from './support/mesh.js'
import type { Mesh } from './support/mesh.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'hi' }] }

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})

function track<T extends { close(): Promise<void> }>(x: T): T {
  cleanups.push(() => x.close())
  return x
}

function makeClient(directoryUrl: string, extra: ClientConfig = {}): IicpClient {
  return track(new IicpClient({ directoryUrl, allowPrivateEndpoints: true, allowPlaintext: true, sleep: async () => {}, ...extra }))
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

function ticketDirectory(node: TestNode, key: SigningKeyPair, opts: { issuer?: (origin: string) => string; keyHex?: string } = {}): (req: FakeRequest, origin: string) => Promise<FakeReply> {
  return async (req, origin) => {
    if (req.url === '/api/v1/directory-key') return { status: 200, body: { public_key: opts.keyHex ?? key.publicKeyHex, algorithm: 'ed25519' } }
    if (req.url === '/api/v1/dispatch/ticket') {
      const body = req.body as { exclude_node_id_prefixes?: string[] }
      if ((body.exclude_node_id_prefixes ?? []).includes(node.nodeId)) return { status: 404, body: { error: { code: 'no_route_available', message: 'none' } } }
      const iat = Math.floor(Date.now() / 1000)
      const ticket = await signDispatchTicket({
        v: 1, typ: 'dispatch-route-ticket', iss: opts.issuer ? opts.issuer(origin) : origin, aud: 'iicp.directory.dispatch',
        jti: '0123456789abcdef01234567', node_id: node.nodeId, intent: CHAT, iat, exp: iat + 120,
      }, key)
      return {
        status: 201,
        body: {
          ticket, expires_at: iat + 120, intent: CHAT, node_id: node.nodeId,
          route: { node_id: node.nodeId, endpoint: node.url, score: 0.9, available: true },
          algorithm: 'ed25519', data_class: 'ticketed_route_dispatch', route_fields_present: true, prompt_payload_accepted: false,
        },
      }
    }
    return { status: 404, body: { error: { code: 'not_found', message: 'Resource not found' } } }
  }
}

describe('discover() against the real directory', () => {
  let mesh: Mesh
  afterEach(async () => mesh.close())

  it('SDK-DISC-01: returns a NodeList whose nodes[].score are all in [0.0, 1.0]', async () => {
    mesh = await startMesh([{}, {}, {}])
    const list = await makeClient(mesh.directoryUrl).discover(CHAT)
    expect(list.count).toBe(3)
    expect(list.nodes).toHaveLength(3)
    for (const n of list.nodes) {
      expect(n.score).toBeGreaterThanOrEqual(0)
      expect(n.score).toBeLessThanOrEqual(1)
    }
  })

  it('SDK-DISC-02: with limit=N returns at most N nodes', async () => {
    mesh = await startMesh([{}, {}, {}])
    const client = makeClient(mesh.directoryUrl)
    expect((await client.discover(CHAT, { limit: 2 })).nodes).toHaveLength(2)
    expect((await client.discover(CHAT, { limit: 1 })).nodes).toHaveLength(1)
  })

  it('passes region as a preference: the matching node comes first', async () => {
    mesh = await startMesh([{ region: 'eu-central' }, { region: 'us-west' }])
    const list = await makeClient(mesh.directoryUrl).discover(CHAT, { region: 'us-west' })
    expect(list.nodes[0]?.node_id).toBe(mesh.nodes[1]?.nodeId)
  })

  it('returns an empty list, not an error, for an intent nobody serves', async () => {
    mesh = await startMesh([{}])
    expect((await makeClient(mesh.directoryUrl).discover('urn:iicp:intent:llm:embedding:v1')).nodes).toEqual([])
  })

  it('validates the intent before any network traffic', async () => {
    mesh = await startMesh([{}])
    const err = await failure(makeClient(mesh.directoryUrl).discover('not-a-urn'))
    expect(err.code).toBe('invalid_intent')
  })
})

describe('discover() against a scripted directory', () => {
  it('sends every query parameter the options name', async () => {
    const dir = track(await startFakeDirectory(() => ({ status: 200, body: { nodes: [], count: 0 } })))
    await makeClient(dir.apiUrl).discover(CHAT, { region: 'eu', qos: 'batch', limit: 5, model: 'm', minReputation: 0.4, modality: 'image', relayCapable: true })
    const url = new URL(dir.requests[0]?.url ?? '', dir.origin)
    expect(url.pathname).toBe('/api/v1/discover')
    expect(Object.fromEntries(url.searchParams)).toEqual({
      intent: CHAT, limit: '5', region: 'eu', qos: 'batch', model: 'm', min_reputation: '0.4', modality: 'image', relay_capable: 'true',
    })
  })

  it('SDK-DISC-02: truncates to limit even when the directory returns more', async () => {
    const nodes = Array.from({ length: 8 }, (_, i) => ({ node_id: `n${i}`, endpoint: `http://127.0.0.1:${1000 + i}`, score: 0.5, available: true }))
    const dir = track(await startFakeDirectory(() => ({ status: 200, body: { nodes, count: 8 } })))
    expect((await makeClient(dir.apiUrl).discover(CHAT, { limit: 3 })).nodes.map((n) => n.node_id)).toEqual(['n0', 'n1', 'n2'])
  })

  it('SDK-DISC-01: drops a node whose score is outside [0, 1] instead of failing the whole list', async () => {
    const nodes = [{ node_id: 'bad', score: 1.5, available: true }, { node_id: 'good', score: 0.7, available: true }]
    const dir = track(await startFakeDirectory(() => ({ status: 200, body: { data: { nodes, count: 2 } } })))
    expect((await makeClient(dir.apiUrl).discover(CHAT)).nodes.map((n) => n.node_id)).toEqual(['good'])
  })

  it('turns a directory 422 into its IicpError code and an HTML answer into invalid_response', async () => {
    let html = false
    const dir = track(await startFakeDirectory(() => (html
      ? { status: 200, body: '<html>' }
      : { status: 422, body: { error: { code: 'validation_error', message: 'Input validation failed', fields: { qos: ['bad'] } } } })))
    const client = makeClient(dir.apiUrl)
    const e1 = await failure(client.discover(CHAT))
    expect(e1.code).toBe('validation_error')
    expect(e1.status).toBe(422)
    html = true
    expect((await failure(client.discover(CHAT))).code).toBe('invalid_response')
  })

  it('follows up to 3 consecutive 307 redirects and refuses a fourth', async () => {
    let hops = 0
    let limit = 3
    const dir = track(await startFakeDirectory((req) => {
      if (hops < limit) {
        hops += 1
        return { status: 307, headers: { location: `/api/v1/discover?hop=${hops}&${req.url.split('?')[1] ?? ''}`, 'retry-after': '5' } }
      }
      return { status: 200, body: { nodes: [{ node_id: 'x', score: 0.5, available: true }], count: 1 } }
    }))
    const client = makeClient(dir.apiUrl)
    expect((await client.discover(CHAT)).nodes).toHaveLength(1)
    expect(dir.requests).toHaveLength(4)
    hops = 0
    limit = 4
    const err = await failure(client.discover(CHAT))
    expect(err.code).toBe('invalid_response')
    expect(err.message).toContain('redirected more than 3 times')
  })
})

describe('route discovery for submit', () => {
  it('uses the real directory\'s signed tickets: ticket, directory key, then the task', async () => {
    const mesh = track(await startMesh([{}]))
    const r = await makeClient(mesh.directoryUrl).submit(CHAT, PAYLOAD)
    expect(r.routeSource).toBe('ticket')
    expect(r.nodeId).toBe(mesh.nodes[0]?.nodeId)
  })

  it('accepts a ticket signed by the directory key with the directory origin as issuer', async () => {
    const node = track(await startTestNode())
    const key = await generateSigningKeyPair()
    const dir = track(await startFakeDirectory(ticketDirectory(node, key)))
    const r = await makeClient(dir.apiUrl).submit(CHAT, PAYLOAD)
    expect(r.routeSource).toBe('ticket')
    expect(dir.requests.map((q) => q.url)).toEqual(['/api/v1/dispatch/ticket', '/api/v1/directory-key', '/api/v1/dispatch/ticket'])
    expect((dir.requests[2]?.body as { exclude_node_id_prefixes: string[] }).exclude_node_id_prefixes).toEqual([node.nodeId])
  })

  it('refuses a ticket whose issuer is not the directory origin (IICP-DISPATCH-TICKET-UNVERIFIED) and sends nothing to the node', async () => {
    const node = track(await startTestNode())
    const key = await generateSigningKeyPair()
    const dir = track(await startFakeDirectory(ticketDirectory(node, key, { issuer: () => 'https://evil.example.com' })))
    const err = await failure(makeClient(dir.apiUrl).submit(CHAT, PAYLOAD))
    expect(err.code).toBe('IICP-DISPATCH-TICKET-UNVERIFIED')
    expect(node.requests).toHaveLength(0)
  })

  it('refuses a ticket signed with another key (IICP-DISPATCH-TICKET-UNVERIFIED)', async () => {
    const node = track(await startTestNode())
    const key = await generateSigningKeyPair()
    const other = await generateSigningKeyPair()
    const dir = track(await startFakeDirectory(ticketDirectory(node, key, { keyHex: other.publicKeyHex })))
    expect((await failure(makeClient(dir.apiUrl).submit(CHAT, PAYLOAD))).code).toBe('IICP-DISPATCH-TICKET-UNVERIFIED')
    expect(node.requests).toHaveLength(0)
  })

  it('falls back to GET /discover when the directory has no ticket endpoint (404 not_found), and remembers it', async () => {
    const node = track(await startTestNode())
    const dir = track(await startFakeDirectory((req) => req.url.startsWith('/api/v1/discover')
      ? { status: 200, body: { nodes: [node.summary()], count: 1 } }
      : { status: 404, body: { error: { code: 'not_found', message: 'Resource not found' } } }))
    const client = makeClient(dir.apiUrl, { routeCacheMs: 0 })
    expect((await client.submit(CHAT, PAYLOAD)).routeSource).toBe('discover')
    expect((await client.submit(CHAT, PAYLOAD)).routeSource).toBe('discover')
    expect(dir.requests.map((q) => q.url.split('?')[0])).toEqual(['/api/v1/dispatch/ticket', '/api/v1/discover', '/api/v1/discover'])
  })

  it('falls back on 503 not_configured, but not in ticketed mode', async () => {
    const node = track(await startTestNode())
    const handler = (req: FakeRequest): FakeReply => req.url.startsWith('/api/v1/discover')
      ? { status: 200, body: { nodes: [node.summary()], count: 1 } }
      : { status: 503, body: { error: { code: 'not_configured', message: 'no key' } } }
    const dir: FakeDirectory = track(await startFakeDirectory(handler))
    expect((await makeClient(dir.apiUrl).submit(CHAT, PAYLOAD)).routeSource).toBe('discover')
    const strict = await failure(makeClient(dir.apiUrl, { routeDiscovery: 'ticketed' }).submit(CHAT, PAYLOAD))
    expect(strict.code).toBe('IICP-DISPATCH-TICKET-UNAVAILABLE')
  })

  it('answers IICP-E033 without falling back when the ticket endpoint says no_route_available', async () => {
    const dir = track(await startFakeDirectory(() => ({ status: 404, body: { error: { code: 'no_route_available', message: 'none' } } })))
    const err = await failure(makeClient(dir.apiUrl).submit(CHAT, PAYLOAD))
    expect(err.code).toBe('IICP-E033')
    expect(dir.requests.map((q) => q.url)).toEqual(['/api/v1/dispatch/ticket'])
  })

  it('sends a profile request to discover as profile_* parameters, and keeps route-only options out of the task', async () => {
    const node = track(await startTestNode())
    const dir = track(await startFakeDirectory((req) => req.url.startsWith('/api/v1/discover')
      ? { status: 200, body: { nodes: [node.summary()], count: 1 } }
      : { status: 404, body: { error: { code: 'not_found', message: 'x' } } }))
    await makeClient(dir.apiUrl).submit(CHAT, PAYLOAD, {
      route: { region: 'eu-central', minReputation: 0.5, profileRequest: { profileId: 'urn:iicp:profile:x', profileVersion: '0', required: true } },
    })
    const q = Object.fromEntries(new URL(dir.requests[0]?.url ?? '', dir.origin).searchParams)
    expect(q).toMatchObject({ region: 'eu-central', min_reputation: '0.5', profile_id: 'urn:iicp:profile:x', profile_version: '0', profile_required: 'true' })
    expect(JSON.stringify(node.requests[0]?.body)).not.toMatch(/eu-central|profile|min_reputation/)
  })

  it('drops a node on a non-loopback http endpoint when browserUsableOnly is asked for (test/browser-usable.test.ts has the rest)', async () => {
    const node = track(await startTestNode())
    // 0.0.0.0 is not loopback by name, yet a connection to it would only ever reach this machine.
    const dir = track(await startFakeDirectory(() => ({ status: 200, body: { nodes: [node.summary({ endpoint: 'http://0.0.0.0:9' })], count: 1 } })))
    const err = await failure(makeClient(dir.apiUrl, { routeDiscovery: 'legacy' }).submit(CHAT, PAYLOAD, { route: { browserUsableOnly: true } }))
    expect(err.code).toBe('IICP-E033')
    expect(node.requests).toHaveLength(0)
  })

  it('reuses a fresh route list, so steady-state submit is one POST to the node and no directory call', async () => {
    const node = track(await startTestNode())
    let now = 1_000_000
    const dir = track(await startFakeDirectory((req) => req.url.startsWith('/api/v1/discover')
      ? { status: 200, body: { nodes: [node.summary()], count: 1 } }
      : { status: 404, body: { error: { code: 'not_found', message: 'x' } } }))
    const client = makeClient(dir.apiUrl, { routeDiscovery: 'legacy', clock: () => now })
    for (let i = 0; i < 5; i++) await client.submit(CHAT, PAYLOAD)
    expect(dir.requests).toHaveLength(1)
    expect(node.requests).toHaveLength(5)
    now += 5_000
    await client.submit(CHAT, PAYLOAD)
    expect(dir.requests).toHaveLength(2)
  })

  it('shares one directory lookup between concurrent submits', async () => {
    const node = track(await startTestNode())
    const dir = track(await startFakeDirectory((req) => req.url.startsWith('/api/v1/discover')
      ? { status: 200, body: { nodes: [node.summary()], count: 1 } }
      : { status: 404, body: { error: { code: 'not_found', message: 'x' } } }))
    const client = makeClient(dir.apiUrl, { routeDiscovery: 'legacy' })
    await Promise.all(Array.from({ length: 10 }, () => client.submit(CHAT, PAYLOAD)))
    expect(dir.requests).toHaveLength(1)
    expect(node.requests).toHaveLength(10)
  })
})

/** A directory that takes every request and never answers; `asked` resolves when the first request has arrived. */
async function hangingDirectory(): Promise<{ dir: FakeDirectory; asked: Promise<void> }> {
  let arrived: () => void = () => {}
  const asked = new Promise<void>((resolve) => { arrived = resolve })
  const dir = track(await startFakeDirectory(() => {
    arrived()
    return new Promise<FakeReply>(() => {})
  }))
  return { dir, asked }
}

describe('one deadline over discovery and the attempts', () => {
  it('ends submit() and discover() with timeout at the call\'s deadline while the directory hangs, and asks no node', async () => {
    const node = track(await startTestNode())
    for (const routeDiscovery of ['auto', 'legacy'] as const) {
      const { dir, asked } = await hangingDirectory()
      // The client's own timeout is 30 s, so only the per-call deadline can end these calls in time.
      const client = makeClient(dir.apiUrl, { routeDiscovery })
      const submitted = await failure(client.submit(CHAT, PAYLOAD, { timeoutMs: 300 }))
      expect(submitted.code).toBe('timeout')
      await asked
      const discovered = await failure(client.discover(CHAT, { timeoutMs: 300 }))
      expect(discovered.code).toBe('timeout')
    }
    expect(node.requests).toHaveLength(0)
  })

  it('ends submit() with aborted when the caller aborts while the directory is being asked', async () => {
    const { dir, asked } = await hangingDirectory()
    const client = makeClient(dir.apiUrl)
    const ac = new AbortController()
    const outcome = failure(client.submit(CHAT, PAYLOAD, { signal: ac.signal }))
    await Promise.race([asked, outcome])
    ac.abort()
    const err = await outcome
    expect(err.code).toBe('aborted')
    expect(dir.requests.length).toBeGreaterThan(0)
  })

  it('ends discover() with aborted when the caller aborts while the directory is being asked', async () => {
    const { dir, asked } = await hangingDirectory()
    const client = makeClient(dir.apiUrl)
    const ac = new AbortController()
    const outcome = failure(client.discover(CHAT, { signal: ac.signal }))
    await Promise.race([asked, outcome])
    ac.abort()
    expect((await outcome).code).toBe('aborted')
    expect(dir.requests.map((q) => q.url.split('?')[0])).toEqual(['/api/v1/discover'])
  })
})
