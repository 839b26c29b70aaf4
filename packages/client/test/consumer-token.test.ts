/**
 * Consumer tokens from the client's side (dir §3.12; wire.md §1.8), against the real directory and a real node:
 * with the caller's own node token configured the client fetches `X-IICP-Consumer-Token` for the target and
 * intent, sends it instead of its node token (which never reaches the other node), reuses it until 30 s before
 * `exp` (injected clocks, no sleeping), and fetches a fresh one after. `required` refuses before sending when no
 * token can be had; `optional` falls back and does not ask again for a minute; `disabled` never asks.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpClient, clientOptionsFromEnv, consumerTokenExpiryMs } from '../src/index.js'
import type { ClientConfig } from '../src/index.js'
import { startFakeDirectory } from './support/fake-directory.js'
import type { FakeDirectory } from './support/fake-directory.js'
import { registerNode } from './support/mesh.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const PAYLOAD = { messages: [{ role: 'user', content: 'hi' }] }

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

function clock(start = Date.UTC(2026, 10, 26, 14, 0, 0)): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>
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

interface Setup { dir: RunningDirectory; target: TestNode; callerId: string; callerToken: string; time: ReturnType<typeof clock> }

/** A directory on a manual clock, a target node, and a caller node registered only for its token. */
async function setup(): Promise<Setup> {
  const time = clock()
  // A long expiry window: the clock jumps minutes ahead without heartbeats.
  const dir = await startDirectory({ port: 0, mode: 'local', pruneIntervalMs: 0, clock: time.now, expiryMs: 3_600_000 })
  closers.push(() => dir.close())
  const target = await startTestNode({ nodeId: 'target-node-1' })
  closers.push(() => target.close())
  await registerNode(dir.apiUrl, target)
  const callerNode = await startTestNode({ nodeId: 'caller-node-1', intents: ['urn:iicp:intent:llm:embedding:v1'] })
  closers.push(() => callerNode.close())
  const ack = await registerNode(dir.apiUrl, callerNode)
  return { dir, target, callerId: ack.node_id as string, callerToken: ack.node_token as string, time }
}

function client(s: { dir: { apiUrl: string }; time: { now: () => number } }, extra: ClientConfig): IicpClient {
  const c = new IicpClient({ directoryUrl: s.dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', clock: s.time.now, ...extra })
  closers.push(() => c.close())
  return c
}

describe('with the real directory and a real node', () => {
  it('sends a directory-signed token for the target and intent instead of the node token', async () => {
    const s = await setup()
    const r = await client(s, { nodeToken: s.callerToken }).submit(CHAT, PAYLOAD)
    expect(r.nodeId).toBe('target-node-1')
    const req = s.target.requests[0]
    if (!req) throw new Error('no request at the node')
    const token = req.headers['x-iicp-consumer-token'] as string
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[0-9a-f]{128}$/)
    const iat = Math.floor(s.time.now() / 1000)
    expect(claims(token)).toEqual({ v: 1, iss: s.dir.url, sub: s.callerId, aud: 'target-node-1', intent: CHAT, iat, exp: iat + 300 })
    // The caller's directory credential stays home.
    expect(req.headers.authorization).toBeUndefined()
    expect(req.body.auth).toBeUndefined()
    expect(JSON.stringify(req.headers)).not.toContain(s.callerToken)
    expect(r.receipt.consumer_auth).toBe('consumer_token')
  })

  it('reuses the token until 30 s before it expires, then fetches a fresh one', async () => {
    const s = await setup()
    const c = client(s, { nodeToken: s.callerToken })
    await c.submit(CHAT, PAYLOAD)
    const first = s.target.requests[0]?.headers['x-iicp-consumer-token'] as string
    s.time.advance(269_000)
    await c.submit(CHAT, PAYLOAD)
    // Had it asked again, the directory (on the same clock) would have signed a later iat.
    expect(s.target.requests[1]?.headers['x-iicp-consumer-token']).toBe(first)
    s.time.advance(2_000)
    await c.submit(CHAT, PAYLOAD)
    const third = s.target.requests[2]?.headers['x-iicp-consumer-token'] as string
    expect(third).not.toBe(first)
    expect(claims(third).iat).toBe(Math.floor(s.time.now() / 1000))
    expect(consumerTokenExpiryMs(third)).toBe((claims(third).exp as number) * 1000)
  })

  it('required: refuses with IICP-CONSUMER-AUTH-REQUIRED and sends nothing when the directory will not issue one', async () => {
    const s = await setup()
    const err = await failure(client(s, { nodeToken: 'a'.repeat(64), consumerAuthMode: 'required' }).submit(CHAT, PAYLOAD))
    expect(err.code).toBe('IICP-CONSUMER-AUTH-REQUIRED')
    expect(err.message).not.toContain('a'.repeat(64))
    expect(err.message).toMatch(/^The target node needs a consumer token, and none could be obtained \([\w-]+\)$/)
    expect(s.target.requests).toHaveLength(0)
  })

  it('optional: falls back to the configured node token when the directory will not issue one', async () => {
    const s = await setup()
    const r = await client(s, { nodeToken: 'b'.repeat(64) }).submit(CHAT, PAYLOAD)
    expect(s.target.requests[0]?.headers['x-iicp-consumer-token']).toBeUndefined()
    expect(s.target.requests[0]?.headers.authorization).toBe(`Bearer ${'b'.repeat(64)}`)
    expect(r.receipt.consumer_auth).toBe('node_token')
  })
})

describe('with a scripted directory', () => {
  async function scripted(tokenStatus: number): Promise<{ dir: FakeDirectory; node: TestNode; time: ReturnType<typeof clock> }> {
    const node = await startTestNode({ nodeId: 'n-1' })
    closers.push(() => node.close())
    const dir = await startFakeDirectory((req) => req.url.startsWith('/api/v1/discover')
      ? { status: 200, body: { nodes: [node.summary()], count: 1 } }
      : { status: tokenStatus, body: { error: { code: tokenStatus === 401 ? 'unauthorized' : 'not_found', message: 'no' } } })
    closers.push(() => dir.close())
    return { dir, node, time: clock() }
  }
  const tokenCalls = (d: FakeDirectory): number => d.requests.filter((r) => r.url === '/api/v1/consumer-token').length

  it('optional: after a refusal it does not ask again for a minute', async () => {
    const s = await scripted(401)
    const c = client(s, { nodeToken: 'c'.repeat(64), routeCacheMs: 0 })
    await c.submit(CHAT, PAYLOAD)
    await c.submit(CHAT, PAYLOAD)
    expect(tokenCalls(s.dir)).toBe(1)
    const asked = s.dir.requests.find((r) => r.url === '/api/v1/consumer-token')
    expect(asked?.headers.authorization).toBe(`Bearer ${'c'.repeat(64)}`)
    expect(asked?.body).toEqual({ target_node_id: 'n-1', intent: CHAT })
    s.time.advance(60_001)
    await c.submit(CHAT, PAYLOAD)
    expect(tokenCalls(s.dir)).toBe(2)
  })

  it('disabled never asks, and a client without a node token never asks', async () => {
    const s = await scripted(404)
    await client(s, { nodeToken: 'd'.repeat(64), consumerAuthMode: 'disabled' }).submit(CHAT, PAYLOAD)
    await client(s, {}).submit(CHAT, PAYLOAD)
    expect(tokenCalls(s.dir)).toBe(0)
    expect(s.node.requests).toHaveLength(2)
  })

  it('refuses consumerAuthMode required without a nodeToken at construction, and reads IICP_CONSUMER_AUTH_MODE', () => {
    const expected = "'optional' or 'disabled' without a nodeToken; 'required' needs the caller's node token"
    // Error text is redacted at construction; this wording must come through it whole.
    expect(() => new IicpClient({ consumerAuthMode: 'required' })).toThrowError(expect.objectContaining({
      code: 'invalid_config', message: `consumerAuthMode must be ${expected}`, fields: { consumerAuthMode: [expected] },
    }))
    expect(clientOptionsFromEnv({ IICP_CONSUMER_AUTH_MODE: 'Required' })).toEqual({ consumerAuthMode: 'required' })
    expect(() => new IicpClient({ consumerAuthMode: 'sometimes' as never })).toThrowError(expect.objectContaining({ code: 'invalid_config' }))
  })
})
