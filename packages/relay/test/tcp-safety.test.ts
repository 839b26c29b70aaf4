// Proves the TCP accept port keeps the relay's bind rules (IICP-DIR §7.2–§7.4, DIR-RELAY-01..03) because it shares
// the one session table with the WebSocket and long-poll transports: an alive session is never displaced (whatever
// transport the newcomer uses), the session cap and per-source rate limit hold, tickets are required, verified and
// single-use, each refusal is a RELAY_ACK with the reference relay's reason followed by the relay closing, and a
// connection that sends garbage, an oversized frame or no bind is dropped.
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import {
  NativeMessageType, encodeFrame, encodeNativeMessage, generateSigningKeyPair, randomHex, signRelayBindTicket,
} from '@iicp/protocol'
import type { SigningKeyPair } from '@iicp/protocol'
import { RELAY_ACK_REASONS, createRelayWorker, createTcpRelayWorker } from '@iicp/relay'
import type { RelayTaskHandler } from '@iicp/relay'
import { post, task } from './consumer.js'
import { RawPeer, startTcpRelay } from './tcp-harness.js'
import type { TcpRelay } from './tcp-harness.js'

const ok: RelayTaskHandler = async () => ({ status: 200, body: { ok: true } })
const INIT = encodeNativeMessage({ kind: 'init', protocolVersion: 1 })

const cleanups: Array<() => Promise<unknown> | void> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)()
})

async function relay(...args: Parameters<typeof startTcpRelay>): Promise<TcpRelay> {
  const r = await startTcpRelay(...args)
  cleanups.push(() => r.close())
  return r
}

/** Bind by hand; returns the RELAY_ACK and whether the relay then closed the connection. */
async function rawBind(r: TcpRelay, workerId: string, ticket?: string): Promise<{ status: string; reason?: string | undefined; closed: boolean; peer: RawPeer }> {
  const peer = await RawPeer.connect(r.acceptor.port)
  cleanups.push(() => peer.close())
  peer.write(INIT)
  const ack = await peer.nextMessage()
  expect(ack).toEqual({ kind: 'ack', protocolVersion: 1 })
  peer.write(encodeNativeMessage({ kind: 'relayBind', workerId, intent: 'urn:iicp:intent:llm:chat:v1', models: [], ...(ticket ? { bindTicket: ticket } : {}) }))
  const answer = await peer.nextMessage()
  if (answer?.kind !== 'relayAck') throw new Error(`expected RELAY_ACK, got ${answer?.kind ?? 'EOF'}`)
  let closed = false
  if (answer.status !== 'ok') closed = (await peer.next()) === undefined
  return { status: answer.status, reason: answer.reason, closed, peer }
}

async function ticketFor(key: SigningKeyPair, sub: string, aud = '*', jti = randomHex(16)): Promise<string> {
  const iat = Math.floor(Date.now() / 1000)
  return signRelayBindTicket({ v: 1, typ: 'relay-bind-ticket', jti, iss: 'dir', sub, aud, iat, exp: iat + 60 }, key)
}

describe('TCP relay bind rules', () => {
  it('never displaces an alive session: a second bind gets the reference refusal and the relay closes', async () => {
    const r = await relay()
    const first = await rawBind(r, 'w-alive')
    expect(first.status).toBe('ok')
    const second = await rawBind(r, 'w-alive')
    expect(second).toMatchObject({ status: 'error', reason: RELAY_ACK_REASONS.alive, closed: true })
    expect(r.http.relay.sessions.get('w-alive')?.link.transport).toBe('tcp')
    expect(r.acceptor.boundCount).toBe(1)
  })

  it('refuses a TCP bind for a worker bound over WebSocket, since all transports share one table', async () => {
    const r = await relay()
    const ws = createRelayWorker({ relayUrl: r.http.url, workerId: 'w-shared', transport: 'ws', handleTask: ok })
    cleanups.push(() => ws.close())
    await ws.start()
    const tcp = createTcpRelayWorker({ relay: r.address, workerId: 'w-shared', handleTask: ok })
    await expect(tcp.start()).rejects.toMatchObject({ code: 'IICP-E038', status: 409 })
    expect(r.http.relay.sessions.get('w-shared')?.link.transport).toBe('ws')
    const res = await post(`${ws.relayEndpoint}/v1/task`, task('still ws'))
    expect(res.json).toEqual({ ok: true })
  })

  it('lets a worker rebind once its dead session is gone', async () => {
    const r = await relay()
    const first = await rawBind(r, 'w-re')
    const dropped = new Promise((resolve) => r.http.relay.once('unbound', resolve))
    first.peer.close()
    await dropped
    expect((await rawBind(r, 'w-re')).status).toBe('ok')
  })

  it('holds the session cap: a new worker past it is refused as at capacity', async () => {
    const r = await relay({ maxSessions: 1 })
    expect((await rawBind(r, 'cap-1')).status).toBe('ok')
    const refused = createTcpRelayWorker({ relay: r.address, workerId: 'cap-2', handleTask: ok })
    await expect(refused.start()).rejects.toMatchObject({ code: 'IICP-E039', status: 503, extra: { reason: 'relay_at_capacity' } })
    expect((await rawBind(r, 'cap-3')).reason).toBe(RELAY_ACK_REASONS.capacity)
  })

  it('rate-limits new binds per source address', async () => {
    const r = await relay({ bindRateLimit: { max: 1, windowMs: 60_000 } })
    expect((await rawBind(r, 'rl-1')).status).toBe('ok')
    const second = await rawBind(r, 'rl-2')
    expect(second).toMatchObject({ status: 'error', reason: RELAY_ACK_REASONS.rateLimited, closed: true })
    const worker = createTcpRelayWorker({ relay: r.address, workerId: 'rl-3', handleTask: ok })
    await expect(worker.start()).rejects.toMatchObject({ code: 'IICP-E039', status: 429 })
  })

  it('requires a ticket on a strict relay, verifies it and accepts each one once', async () => {
    const key = await generateSigningKeyPair()
    const r = await relay({ allowUnsignedBinds: false, nodeId: 'relay-1', directoryKeyHex: key.publicKeyHex })
    expect((await rawBind(r, 'tk-1')).reason).toBe(RELAY_ACK_REASONS.ticketRequired)
    const other = await generateSigningKeyPair()
    const forged = await rawBind(r, 'tk-1', await ticketFor(other, 'tk-1'))
    expect(forged.reason).toMatch(/^relay bind ticket invalid/)
    expect((await rawBind(r, 'tk-1', await ticketFor(key, 'someone-else'))).reason).toMatch(/^relay bind ticket invalid/)
    expect((await rawBind(r, 'tk-1', await ticketFor(key, 'tk-1', 'relay-2'))).reason).toMatch(/^relay bind ticket invalid/)

    const ticket = await ticketFor(key, 'tk-1', 'relay-1')
    const bound = await rawBind(r, 'tk-1', ticket)
    expect(bound.status).toBe('ok')
    const dropped = new Promise((resolve) => r.http.relay.once('unbound', resolve))
    bound.peer.close()
    await dropped
    expect(await rawBind(r, 'tk-1', ticket)).toMatchObject({ status: 'error', reason: RELAY_ACK_REASONS.ticketReplayed, closed: true })

    const worker = createTcpRelayWorker({ relay: r.address, workerId: 'tk-2', ticketProvider: () => ticketFor(key, 'tk-2', 'relay-1'), handleTask: ok })
    cleanups.push(() => worker.close())
    await worker.start()
    expect((await post(`${worker.relayEndpoint}/v1/task`, task('ticketed'))).json).toEqual({ ok: true })
    const unsigned = createTcpRelayWorker({ relay: r.address, workerId: 'tk-3', handleTask: ok })
    await expect(unsigned.start()).rejects.toMatchObject({ code: 'IICP-E040', status: 401 })
  })

  it('drops a connection that does not start with the magic, without answering', async () => {
    const r = await relay()
    const peer = await RawPeer.connect(r.acceptor.port)
    cleanups.push(() => peer.close())
    peer.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
    expect(await peer.next()).toBeUndefined()
  })

  it('refuses an oversized frame before a bind with CLOSE frame_too_large', async () => {
    const r = await relay()
    const peer = await RawPeer.connect(r.acceptor.port)
    cleanups.push(() => peer.close())
    const header = Buffer.from(encodeFrame(NativeMessageType.RELAY_BIND, new Uint8Array(0)))
    header.writeUInt32BE(1024 * 1024, 8)
    peer.write(header)
    expect(await peer.nextMessage()).toMatchObject({ kind: 'close', reason: 'frame_too_large' })
    expect(await peer.next()).toBeUndefined()
  })

  it('refuses anything but INIT or RELAY_BIND before a bind', async () => {
    const r = await relay()
    const peer = await RawPeer.connect(r.acceptor.port)
    cleanups.push(() => peer.close())
    peer.write(encodeNativeMessage({ kind: 'call', payload: new Uint8Array([0x7b, 0x7d]), callId: 'x' }))
    expect(await peer.nextMessage()).toMatchObject({ kind: 'close', reason: 'protocol_error' })
    expect(r.http.relay.sessions.size).toBe(0)
  })

  it('closes a connection that never binds', async () => {
    const r = await relay({}, { bindTimeoutMs: 20 })
    const peer = await RawPeer.connect(r.acceptor.port)
    cleanups.push(() => peer.close())
    peer.write(INIT)
    const received: unknown[] = []
    for (let m = await peer.nextMessage(); m !== undefined; m = await peer.nextMessage()) received.push(m)
    // The loop ends only when the relay hangs up. On a loaded machine the 20 ms bind deadline can pass before the
    // INIT is read, so the ACK is optional; nothing else may arrive.
    expect(received).toEqual(received.length === 0 ? [] : [{ kind: 'ack', protocolVersion: 1 }])
  })

  it('refuses a malformed worker id in RELAY_BIND', async () => {
    const r = await relay()
    const res = await rawBind(r, 'bad id/../x')
    expect(res).toMatchObject({ status: 'error', closed: true })
    expect(res.reason).toMatch(/^invalid RELAY_BIND/)
  })

  // Many real round trips: about a second on an idle machine, so the 20 s default is short on a heavily loaded machine.
  it('survives arbitrary bytes and arbitrary frames from bound and unbound peers, and still binds the next worker', { timeout: 120_000 }, async () => {
    const r = await relay({ bindRateLimit: { max: 1_000, windowMs: 60_000 } })
    let n = 0
    const frameArb = fc.record({ type: fc.integer({ min: 0, max: 255 }), flags: fc.integer({ min: 0, max: 3 }), payload: fc.uint8Array({ maxLength: 200 }) })
    await fc.assert(fc.asyncProperty(fc.boolean(), fc.uint8Array({ maxLength: 300 }), fc.array(frameArb, { maxLength: 4 }), async (bindFirst, junk, frames) => {
      const peer = await RawPeer.connect(r.acceptor.port)
      try {
        if (bindFirst) {
          peer.write(encodeNativeMessage({ kind: 'relayBind', workerId: `fuzz-${n++}`, intent: '', models: [] }))
          expect(await peer.nextMessage()).toMatchObject({ kind: 'relayAck', status: 'ok' })
        }
        for (const f of frames) peer.write(encodeFrame(f.type, f.payload, { flags: f.flags }))
        peer.write(junk)
        // A PING round trip (or the relay closing) shows the input was handled, whatever it was.
        peer.write(encodeNativeMessage({ kind: 'ping', echo: new Uint8Array([1]) }))
        for (let f = await peer.next(); f !== undefined && f.type !== 0x0a; f = await peer.next()) {
          // CLOSE, RELAY_ACK for a fuzzed bind, or PONG: all fine; anything else ends the loop at EOF.
        }
      } finally {
        peer.close()
      }
    }), { numRuns: 40 })
    const worker = createTcpRelayWorker({ relay: r.address, workerId: 'after-fuzz', handleTask: ok })
    cleanups.push(() => worker.close())
    await worker.start()
    expect((await post(`${worker.relayEndpoint}/v1/task`, task('still up'))).json).toEqual({ ok: true })
  })
})
