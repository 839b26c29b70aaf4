// Proves the relay's bind safety rules (IICP-DIR §7.2–§7.4, DIR-RELAY-01..03) over real HTTP and WebSocket:
// an alive session is never displaced (409) whatever transport asks, a dead one may be; bind tickets are checked
// against a key fetched from a directory (signature, expiry, subject, audience, issuer) and are single use;
// unsigned binds need opt-in; the session cap (503) and the per-source new-bind rate limit (429) hold, and
// rebinding a known worker is exempt from both. Clocks are injected; nothing sleeps.
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateSigningKeyPair, isIicpError, randomHex, signRelayBindTicket } from '@iicp/protocol'
import type { RelayBindTicketClaims, SigningKeyPair } from '@iicp/protocol'
import { createRelayWorker, startRelayServer } from '@iicp/relay'
import type { StartRelayServerOptions, StartedRelayServer } from '@iicp/relay'
import { post } from './consumer.js'

const RELAY_ID = 'relay-node-1'
let directoryKey: SigningKeyPair
let otherKey: SigningKeyPair
let directory: Server
let directoryUrl: string
let directoryOriginUrl: string
let keyFetches = 0

beforeAll(async () => {
  directoryKey = await generateSigningKeyPair()
  otherKey = await generateSigningKeyPair()
  // A small real directory that serves only its signing key.
  directory = createServer((req, res) => {
    if (req.url === '/api/v1/directory-key') {
      keyFetches++
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ public_key: directoryKey.publicKeyHex, algorithm: 'ed25519' }))
      return
    }
    res.writeHead(404, { 'content-type': 'application/json' })
    res.end('{"error":{"code":"not_found","message":"no"}}')
  })
  await new Promise<void>((r) => directory.listen(0, '127.0.0.1', r))
  directoryOriginUrl = `http://127.0.0.1:${(directory.address() as AddressInfo).port}`
  directoryUrl = `${directoryOriginUrl}/api`
  return () => new Promise<void>((r) => directory.close(() => r()))
})

let relays: StartedRelayServer[] = []
afterEach(async () => {
  await Promise.all(relays.map((r) => r.close()))
  relays = []
})

async function relayWith(options: StartRelayServerOptions): Promise<StartedRelayServer> {
  const r = await startRelayServer(options)
  relays.push(r)
  return r
}

function claims(over: Partial<RelayBindTicketClaims> = {}): RelayBindTicketClaims {
  const iat = Math.floor(Date.now() / 1000)
  return { v: 1, typ: 'relay-bind-ticket', jti: randomHex(16), iss: directoryOriginUrl, sub: 'worker-t', aud: RELAY_ID, iat, exp: iat + 120, ...over }
}

function errorOf(json: unknown): { code: string; message: string; reason?: string } {
  return (json as { error: { code: string; message: string; reason?: string } }).error
}

describe('non-displacement (DIR-RELAY-01)', () => {
  it('refuses a second bind for an alive worker with 409 IICP-E038, across transports', async () => {
    const r = await relayWith({ allowUnsignedBinds: true })
    const worker = createRelayWorker({ relayUrl: r.url, workerId: 'w1', transport: 'ws', handleTask: async () => ({ status: 200, body: {} }) })
    try {
      await worker.start()
      const res = await post(`${r.url}/v1/relay/bind`, { worker_id: 'w1' })
      expect(res.status).toBe(409)
      expect(errorOf(res.json).code).toBe('IICP-E038')
      const intruder = createRelayWorker({ relayUrl: r.url, workerId: 'w1', transport: 'ws', handleTask: async () => ({ status: 200, body: {} }) })
      const err: unknown = await intruder.start().catch((e: unknown) => e)
      expect(isIicpError(err) && err.code).toBe('IICP-E038')
      expect(isIicpError(err) && err.status).toBe(409)
      expect(intruder.state).toBe('closed')
      expect(r.relay.sessions.get('w1')?.link.transport).toBe('ws')
    } finally {
      await worker.close()
    }
  })

  it('lets a new bind displace a long-poll session that stopped pulling past the liveness window', async () => {
    let now = Date.now()
    const r = await relayWith({ allowUnsignedBinds: true, sessionLivenessMs: 90_000, now: () => now })
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'w2' })).status).toBe(200)
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'w2' })).status).toBe(409)
    now += 90_001
    const again = await post(`${r.url}/v1/relay/bind`, { worker_id: 'w2' })
    expect(again.status).toBe(200)
    expect(r.relay.sessions.size).toBe(1)
  })
})

describe('bind tickets (DIR-RELAY-03)', () => {
  async function ticketRelay(extra: StartRelayServerOptions = {}): Promise<StartedRelayServer> {
    return relayWith({ nodeId: RELAY_ID, directoryUrl, ...extra })
  }

  it('binds with a valid directory-signed ticket, fetching the directory key once', async () => {
    const r = await ticketRelay()
    const before = keyFetches
    const t1 = await signRelayBindTicket(claims(), directoryKey)
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'worker-t', bind_ticket: t1 })).status).toBe(200)
    const t2 = await signRelayBindTicket(claims({ sub: 'worker-u', aud: '*' }), directoryKey)
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'worker-u', bind_ticket: t2 })).status).toBe(200)
    expect(keyFetches - before).toBe(1)
  })

  it('binds a WebSocket worker whose ticket provider supplies a fresh ticket', async () => {
    const r = await ticketRelay()
    let asked = 0
    const worker = createRelayWorker({
      relayUrl: r.url, workerId: 'worker-t', transport: 'ws', handleTask: async () => ({ status: 200, body: {} }),
      ticketProvider: async () => {
        asked++
        return signRelayBindTicket(claims(), directoryKey)
      },
    })
    try {
      await worker.start()
      expect(worker.state).toBe('bound')
      expect(asked).toBe(1)
    } finally {
      await worker.close()
    }
  })

  const refused: Array<[string, () => Promise<string>, string]> = [
    ['forged (signed by another key)', () => signRelayBindTicket(claims(), otherKey), 'bad_signature'],
    ['expired', () => signRelayBindTicket(claims({ iat: 1_000, exp: 1_120 }), directoryKey), 'expired'],
    ['for another worker', () => signRelayBindTicket(claims({ sub: 'someone-else' }), directoryKey), 'wrong_subject'],
    ['for another relay', () => signRelayBindTicket(claims({ aud: 'relay-node-2' }), directoryKey), 'wrong_audience'],
    ['from another issuer', () => signRelayBindTicket(claims({ iss: 'https://evil.example' }), directoryKey), 'wrong_issuer'],
    ['not a ticket at all', async () => 'not-a-ticket', 'malformed_token'],
  ]
  for (const [name, make, reason] of refused) {
    it(`refuses a ticket ${name} with 401 IICP-E040`, async () => {
      const r = await ticketRelay()
      const res = await post(`${r.url}/v1/relay/bind`, { worker_id: 'worker-t', bind_ticket: await make() })
      expect(res.status).toBe(401)
      expect(errorOf(res.json).code).toBe('IICP-E040')
      expect(errorOf(res.json).message).toBe(`relay bind ticket invalid: ${reason}`)
      expect(r.relay.sessions.size).toBe(0)
    })
  }

  it('refuses a replayed ticket with 409 IICP-E040 even after the first session unbound', async () => {
    const r = await ticketRelay()
    const ticket = await signRelayBindTicket(claims(), directoryKey)
    const first = await post(`${r.url}/v1/relay/bind`, { worker_id: 'worker-t', bind_ticket: ticket })
    expect(first.status).toBe(200)
    const token = (first.json as { session_token: string }).session_token
    expect((await post(`${r.url}/v1/relay/unbind`, {}, { authorization: `Bearer ${token}` })).status).toBe(204)
    const replay = await post(`${r.url}/v1/relay/bind`, { worker_id: 'worker-t', bind_ticket: ticket })
    expect(replay.status).toBe(409)
    expect(errorOf(replay.json)).toEqual({ code: 'IICP-E040', message: 'relay bind ticket replayed' })
  })

  it('refuses an unsigned bind with 401 IICP-E040 unless unsigned binds are allowed', async () => {
    const strict = await ticketRelay()
    const res = await post(`${strict.url}/v1/relay/bind`, { worker_id: 'worker-t' })
    expect(res.status).toBe(401)
    expect(errorOf(res.json)).toEqual({ code: 'IICP-E040', message: 'relay bind ticket required' })
    const soft = await ticketRelay({ allowUnsignedBinds: true })
    expect((await post(`${soft.url}/v1/relay/bind`, { worker_id: 'worker-t' })).status).toBe(200)
  })

  it('answers 503 when a ticket arrives and the directory key cannot be fetched', async () => {
    const r = await relayWith({ nodeId: RELAY_ID, directoryUrl: `${directoryOriginUrl}/nowhere` })
    const res = await post(`${r.url}/v1/relay/bind`, { worker_id: 'worker-t', bind_ticket: await signRelayBindTicket(claims(), directoryKey) })
    expect(res.status).toBe(503)
    expect(errorOf(res.json).code).toBe('service_unavailable')
  })
})

describe('session cap and bind rate limit (DIR-RELAY-02)', () => {
  it('refuses a bind past the session cap with 503 IICP-E039 but lets a known worker rebind', async () => {
    let now = Date.now()
    const r = await relayWith({ allowUnsignedBinds: true, maxSessions: 2, sessionLivenessMs: 1_000, now: () => now })
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'a' })).status).toBe(200)
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'b' })).status).toBe(200)
    const full = await post(`${r.url}/v1/relay/bind`, { worker_id: 'c' })
    expect(full.status).toBe(503)
    expect(errorOf(full.json)).toMatchObject({ code: 'IICP-E039', message: 'relay at session capacity' })
    // Both sessions go quiet; 'a' comes back first and is a rebind, so it is admitted at the cap.
    now += 1_001
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'a' })).status).toBe(200)
    expect(r.relay.sessions.size).toBeLessThanOrEqual(2)
  })

  it('limits new binds per source with 429 IICP-E039 relay_bind_rate_limited, exempting rebinds', async () => {
    let now = Date.now()
    const r = await relayWith({ allowUnsignedBinds: true, bindRateLimit: { max: 2, windowMs: 60_000 }, sessionLivenessMs: 1_000, now: () => now })
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'a' })).status).toBe(200)
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'b' })).status).toBe(200)
    const limited = await post(`${r.url}/v1/relay/bind`, { worker_id: 'c' })
    expect(limited.status).toBe(429)
    expect(errorOf(limited.json)).toMatchObject({ code: 'IICP-E039', reason: 'relay_bind_rate_limited' })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    now += 1_001
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'b' })).status).toBe(200)
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'c' })).status).toBe(429)
    now += 60_000
    expect((await post(`${r.url}/v1/relay/bind`, { worker_id: 'c' })).status).toBe(200)
  })
})
