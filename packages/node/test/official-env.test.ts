/**
 * What this proves, with real nodes, the in-repo directory and real HTTP on loopback: the official SDKs' environment
 * names that `nodeOptionsFromEnv` reads do what they do there (official-sdks §3.1, §4.5, §7).
 * `IICP_DISABLE_NATIVE_TRANSPORT=1` registers no `transport_endpoint` while the port still speaks native frames;
 * `IICP_RELAY_REQUIRE_BIND_TICKET=0` lets a relay take an unsigned bind that it refuses by default;
 * `IICP_RELAY_BIND_TICKET_PUBLIC_KEY` is the key a relay verifies tickets with (a ticket signed by another key is
 * refused); `IICP_RELAY_BIND_RATE_LIMIT=1` refuses a second new bind from the same source with 429 `IICP-E039`;
 * `IICP_AUTO_UPDATE` is accepted and changes nothing. Every bad value is an `invalid_config` IicpError naming the
 * variable and never repeating the value.
 */
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { generateSigningKeyPair, signRelayBindTicket } from '@iicp/protocol'
import type { SigningKeyPair } from '@iicp/protocol'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo, nodeOptionsFromEnv } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { directory, nodeRecord } from './support/directory.js'
import { call } from './support/http.js'
import { ManualTimers } from './support/manual-timers.js'
import { nativePeer } from './support/native-peer.js'

const EVENTUALLY = { timeout: 15_000 }
const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function startDirectory(): Promise<RunningDirectory> {
  const d = await directory()
  cleanup.push(() => d.close())
  return d
}

async function serve(env: Record<string, string>, extra: Partial<NodeOptions> = {}): Promise<IicpNode> {
  const n = new IicpNode({
    directoryUrl: null, host: '127.0.0.1', port: 0, persistState: false, cx: false, timers: new ManualTimers(), backend: echo(),
    ...nodeOptionsFromEnv(env), ...extra,
  } as NodeOptions)
  cleanup.push(() => n.close())
  await n.serve()
  return n
}

/** A relay-capable node configured only through the environment (no native accept port: 9485 may be taken here). */
function relayNode(env: Record<string, string>): Promise<IicpNode> {
  return serve({ IICP_RELAY_CAPABLE: '1', IICP_RELAY_ACCEPT_PORT: 'off', ...env })
}

async function ticket(key: SigningKeyPair, workerId: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return signRelayBindTicket({
    v: 1, typ: 'relay-bind-ticket', jti: randomBytes(16).toString('hex'), iss: 'https://directory.example', sub: workerId, aud: '*',
    iat: now, exp: now + 300,
  }, key)
}

function bind(relay: IicpNode, body: Record<string, unknown>): Promise<{ status: number; json: unknown }> {
  return call(`${relay.url}/v1/relay/bind`, { body })
}

const codeOf = (json: unknown): unknown => (json as { error?: { code?: unknown } }).error?.code

describe('IICP_DISABLE_NATIVE_TRANSPORT', { timeout: 60_000 }, () => {
  it('registers no transport_endpoint, while the port still answers native frames', async () => {
    const d = await startDirectory()
    const plain = await serve({}, { directoryUrl: d.apiUrl })
    const quiet = await serve({ IICP_DISABLE_NATIVE_TRANSPORT: '1' }, { directoryUrl: d.apiUrl })
    await expect.poll(() => plain.isRegistered && quiet.isRegistered, EVENTUALLY).toBe(true)
    expect((await nodeRecord(d, plain.nodeId))?.transport_endpoint).toBe(`iicp://127.0.0.1:${plain.port}`)
    expect((await nodeRecord(d, quiet.nodeId))?.transport_endpoint ?? null).toBeNull()
    expect(quiet.transportEndpoint).toBeUndefined()

    const peer = await nativePeer(quiet.port as number)
    cleanup.push(async () => peer.close())
    peer.send({ kind: 'init', protocolVersion: 1 })
    expect(await peer.next()).toEqual({ kind: 'ack', protocolVersion: 1, nodeId: quiet.nodeId })
  })

  it('maps 1 to native: { advertise: false } and 0 to nothing; IICP_NATIVE=0 still turns native off altogether', () => {
    expect(nodeOptionsFromEnv({ IICP_DISABLE_NATIVE_TRANSPORT: '1' }).native).toEqual({ advertise: false })
    expect(nodeOptionsFromEnv({ IICP_DISABLE_NATIVE_TRANSPORT: 'false' })).toEqual({})
    expect(nodeOptionsFromEnv({ IICP_DISABLE_NATIVE_TRANSPORT: '1', IICP_NATIVE: '0' }).native).toBe(false)
    expect(() => nodeOptionsFromEnv({ IICP_DISABLE_NATIVE_TRANSPORT: 'sometimes' }))
      .toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_DISABLE_NATIVE_TRANSPORT') }))
  })
})

describe('IICP_RELAY_REQUIRE_BIND_TICKET', { timeout: 60_000 }, () => {
  it('0 lets the relay take an unsigned bind, which it refuses unset or at 1 (401 IICP-E040)', async () => {
    const strict = await relayNode({})
    const refused = await bind(strict, { worker_id: 'worker-unsigned' })
    expect(refused.status).toBe(401)
    expect(codeOf(refused.json)).toBe('IICP-E040')
    const explicit = await relayNode({ IICP_RELAY_REQUIRE_BIND_TICKET: '1' })
    expect((await bind(explicit, { worker_id: 'worker-unsigned' })).status).toBe(401)

    const soft = await relayNode({ IICP_RELAY_REQUIRE_BIND_TICKET: '0' })
    const taken = await bind(soft, { worker_id: 'worker-unsigned' })
    expect(taken.status).toBe(200)
    expect(taken.json).toMatchObject({ worker_endpoint_path: '/v1/relay-for/worker-unsigned' })
  })
})

describe('IICP_RELAY_BIND_TICKET_PUBLIC_KEY', { timeout: 60_000 }, () => {
  it('is the key bind tickets are verified with: its own ticket binds, another key\'s is refused', async () => {
    const key = await generateSigningKeyPair()
    const other = await generateSigningKeyPair()
    const relay = await relayNode({ IICP_RELAY_BIND_TICKET_PUBLIC_KEY: key.publicKeyHex.toUpperCase() })
    const forged = await bind(relay, { worker_id: 'worker-k', bind_ticket: await ticket(other, 'worker-k') })
    expect(forged.status).toBe(401)
    expect(codeOf(forged.json)).toBe('IICP-E040')
    const good = await bind(relay, { worker_id: 'worker-k', bind_ticket: await ticket(key, 'worker-k') })
    expect(good.status).toBe(200)
  })

  it('refuses anything but 64 hex characters, naming the variable and not the value', () => {
    const secret = 'c2VjcmV0LXByaXZhdGUta2V5LW1hdGVyaWFsLXRoYXQtbXVzdC1ub3QtbGVhaw'
    let caught: unknown
    try {
      nodeOptionsFromEnv({ IICP_RELAY_BIND_TICKET_PUBLIC_KEY: secret })
    } catch (err) {
      caught = err
    }
    expect(caught).toMatchObject({ code: 'invalid_config', message: expect.stringContaining('IICP_RELAY_BIND_TICKET_PUBLIC_KEY') })
    expect((caught as Error).message).not.toContain(secret.slice(0, 12))
  })
})

describe('IICP_RELAY_BIND_RATE_LIMIT', { timeout: 60_000 }, () => {
  it('caps new binds per source per 60 s: the second worker from this host gets 429 IICP-E039', async () => {
    const relay = await relayNode({ IICP_RELAY_BIND_RATE_LIMIT: '1', IICP_RELAY_REQUIRE_BIND_TICKET: '0' })
    expect((await bind(relay, { worker_id: 'worker-a' })).status).toBe(200)
    const limited = await bind(relay, { worker_id: 'worker-b' })
    expect(limited.status).toBe(429)
    expect(codeOf(limited.json)).toBe('IICP-E039')

    // The default (30 per 60 s) takes both.
    const roomy = await relayNode({ IICP_RELAY_REQUIRE_BIND_TICKET: '0' })
    expect((await bind(roomy, { worker_id: 'worker-a' })).status).toBe(200)
    expect((await bind(roomy, { worker_id: 'worker-b' })).status).toBe(200)
  })

  it('maps to relayServer.bindRateLimit and refuses 0, fractions and words', () => {
    expect(nodeOptionsFromEnv({ IICP_RELAY_BIND_RATE_LIMIT: '45' }).relayServer).toEqual({ bindRateLimit: { max: 45, windowMs: 60_000 } })
    for (const bad of ['0', '1.5', 'many', '-3']) {
      expect(() => nodeOptionsFromEnv({ IICP_RELAY_BIND_RATE_LIMIT: bad }))
        .toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_RELAY_BIND_RATE_LIMIT') }))
    }
  })
})

describe('IICP_AUTO_UPDATE', () => {
  it('is accepted and changes nothing (this SDK never updates itself); a malformed value is refused', () => {
    expect(nodeOptionsFromEnv({ IICP_AUTO_UPDATE: '0' })).toEqual({})
    expect(nodeOptionsFromEnv({ IICP_AUTO_UPDATE: '1', IICP_AUTO_UPDATE_INTERVAL_S: '3600' })).toEqual({})
    expect(() => nodeOptionsFromEnv({ IICP_AUTO_UPDATE: 'weekly' }))
      .toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_AUTO_UPDATE') }))
    expect(() => nodeOptionsFromEnv({ IICP_AUTO_UPDATE_INTERVAL_S: 'hourly' }))
      .toThrow(expect.objectContaining({ code: 'invalid_config', message: expect.stringContaining('IICP_AUTO_UPDATE_INTERVAL_S') }))
  })
})
