// Proves byte compatibility with the reference Python SDK's TCP relay session (fixtures/interop
// native-python-sdk-0.7.107.json, capture a), in both roles:
// - our relay, driven with the captured worker frames, answers with the captured relay frames byte for byte (ACK,
//   RELAY_ACK ok with the HTTP port, PONG, the refused rebind and its close), pushes CALLs identical to the captured
//   ones but for the fresh call id, and gives consumers the reference relay's merged replies;
// - our worker, against a replay of the captured relay side, sends the captured INIT, ticketed RELAY_BIND and PING
//   byte for byte, registers the endpoint the reference worker would, and answers CALLs with the same call id and JSON.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo, Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeCbor } from '@iicp/protocol'
import { createTcpRelayWorker } from '@iicp/relay'
import type { TcpRelayBoundEvent } from '@iicp/relay'
import { post } from './consumer.js'
import { RawPeer, frameHex, startTcpRelay } from './tcp-harness.js'

interface CapturedFrame {
  i: number
  dir: string
  header: { type_name: string }
  header_hex: string
  payload_hex: string
  payload: Record<string, unknown>
}
interface ConsumerExchange {
  request_json: Record<string, unknown>
  status: number
  response_json: Record<string, unknown>
}
interface Capture {
  throwaway_keys: { directory_ed25519_public_key_hex: string; bind_ticket: { token: string; claims: { iat: number } } }
  captures: {
    tcp_relay_session: {
      session: { frames: CapturedFrame[] }
      refused_second_bind: { frames: CapturedFrame[] }
      consumer_http: ConsumerExchange[]
    }
  }
}

const capture = JSON.parse(
  readFileSync(new URL('../../../fixtures/interop/native-python-sdk-0.7.107.json', import.meta.url), 'utf8'),
) as Capture
const session = capture.captures.tcp_relay_session.session.frames
const refused = capture.captures.tcp_relay_session.refused_second_bind.frames
const consumers = capture.captures.tcp_relay_session.consumer_http
const ticket = capture.throwaway_keys.bind_ticket

function frame(f: CapturedFrame): string {
  return f.header_hex + f.payload_hex
}
function hexOf(f: { header: string; payload: string }): string {
  return f.header + f.payload
}
function byName(frames: CapturedFrame[], dir: string, name: string, nth = 0): CapturedFrame {
  const found = frames.filter((f) => f.dir === dir && f.header.type_name === name)[nth]
  if (!found) throw new Error(`no ${dir} ${name} #${nth} in the capture`)
  return found
}
/** Key 5 of a captured CALL/RESPONSE: the JSON bytes. */
function keyFive(f: CapturedFrame): Buffer {
  return Buffer.from((f.payload['5'] as { hex: string }).hex, 'hex')
}
function callIdOf(f: CapturedFrame): string {
  return f.payload['15'] as string
}
/** A captured frame with its call id swapped; both are 36-character UUIDs, so lengths and headers stay. */
function withCallId(f: CapturedFrame, callId: string): string {
  const from = Buffer.from(callIdOf(f)).toString('hex')
  const to = Buffer.from(callId).toString('hex')
  expect(to.length).toBe(from.length)
  return frame(f).replace(from, to)
}

const cleanups: Array<() => Promise<unknown> | void> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)()
})

describe('our relay serves the reference Python worker (captured worker frames in, captured relay frames out)', () => {
  async function relayAt9620() {
    // The ticket is from the capture: verify it with the capture's directory key at the capture's clock.
    const r = await startTcpRelay(
      { directoryKeyHex: capture.throwaway_keys.directory_ed25519_public_key_hex, now: () => (ticket.claims.iat + 5) * 1000 },
      { relayHttpPort: 9620 },
    )
    cleanups.push(() => r.close())
    return r
  }

  it('answers INIT, the ticketed RELAY_BIND and PING byte for byte', async () => {
    const r = await relayAt9620()
    const worker = await RawPeer.connect(r.acceptor.port)
    cleanups.push(() => worker.close())
    for (const [ask, answer] of [['INIT', 'ACK'], ['RELAY_BIND', 'RELAY_ACK'], ['PING', 'PONG']] as const) {
      worker.write(frame(byName(session, 'worker->relay', ask)))
      const got = await worker.next()
      expect(got && hexOf(frameHex(got))).toBe(frame(byName(session, 'relay->worker', answer)))
    }
    expect(r.http.relay.sessions.get('cap-worker-1')?.link.transport).toBe('tcp')
  })

  it('pushes the captured CALLs and gives the consumer the reference merged replies', async () => {
    const r = await relayAt9620()
    const worker = await RawPeer.connect(r.acceptor.port)
    cleanups.push(() => worker.close())
    worker.write(frame(byName(session, 'worker->relay', 'INIT')))
    worker.write(frame(byName(session, 'worker->relay', 'RELAY_BIND')))
    await worker.next()
    await worker.next()
    // CALL #1 is the SDK client's CX-encrypted chat, CALL #2 a raw plaintext POST (consumer_http[0] and [1]).
    for (const n of [0, 1]) {
      const capturedCall = byName(session, 'relay->worker', 'CALL', n)
      const capturedResponse = byName(session, 'worker->relay', 'RESPONSE', n)
      // The consumer sends the very bytes the reference relay forwarded (Python json.dumps style).
      const answer = post(`${r.http.url}/v1/relay-for/cap-worker-1/v1/task`, keyFive(capturedCall).toString('utf8'))
      const call = await worker.next()
      if (!call) throw new Error('relay closed the session')
      const decoded = decodeCbor(call.payload)
      const callId = decoded.ok && decoded.value instanceof Map ? decoded.value.get(15) : undefined
      expect(callId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(hexOf(frameHex(call))).toBe(withCallId(capturedCall, callId as string))
      worker.write(withCallId(capturedResponse, callId as string))
      const res = await answer
      expect(res.status).toBe(consumers[n]?.status)
      expect(res.json).toEqual(consumers[n]?.response_json)
    }
  })

  it('refuses the unsigned rebind of an alive worker with the captured RELAY_ACK, then closes', async () => {
    const r = await relayAt9620()
    const first = await RawPeer.connect(r.acceptor.port)
    cleanups.push(() => first.close())
    first.write(frame(byName(session, 'worker->relay', 'INIT')))
    first.write(frame(byName(session, 'worker->relay', 'RELAY_BIND')))
    await first.next()
    await first.next()
    const second = await RawPeer.connect(r.acceptor.port)
    cleanups.push(() => second.close())
    second.write(frame(byName(refused, 'worker->relay', 'INIT')))
    const ack = await second.next()
    expect(ack && hexOf(frameHex(ack))).toBe(frame(byName(refused, 'relay->worker', 'ACK')))
    second.write(frame(byName(refused, 'worker->relay', 'RELAY_BIND')))
    const nack = await second.next()
    expect(nack && hexOf(frameHex(nack))).toBe(frame(byName(refused, 'relay->worker', 'RELAY_ACK')))
    expect(await second.next()).toBeUndefined()
    expect(r.acceptor.boundCount).toBe(1)
  })
})

describe('our worker binds to the reference Python relay (a replay of the captured relay side)', () => {
  /** A fake relay that checks each worker frame against the capture and answers with the captured relay frame. */
  async function replayRelay(onPeer: (peer: RawPeer) => Promise<void>): Promise<{ port: number; done: Promise<void> }> {
    let finish!: (err?: unknown) => void
    const done = new Promise<void>((resolve, reject) => (finish = (err) => (err ? reject(err as Error) : resolve())))
    const server: Server = createServer((socket) => {
      const peer = RawPeer.of(socket)
      cleanups.push(() => peer.close())
      onPeer(peer).then(() => finish(), finish)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
    return { port: (server.address() as AddressInfo).port, done }
  }

  it('sends the captured INIT, ticketed RELAY_BIND and PING and answers the captured CALLs', async () => {
    const seen: Array<{ body: string; contentType: string | undefined }> = []
    const handlerReturns = [0, 1].map((n) => JSON.parse(keyFive(byName(session, 'worker->relay', 'RESPONSE', n)).toString('utf8')) as object)
    const relay = await replayRelay(async (peer) => {
      const init = await peer.next()
      expect(init && hexOf(frameHex(init))).toBe(frame(byName(session, 'worker->relay', 'INIT')))
      peer.write(frame(byName(session, 'relay->worker', 'ACK')))
      const bind = await peer.next()
      expect(bind && hexOf(frameHex(bind))).toBe(frame(byName(session, 'worker->relay', 'RELAY_BIND')))
      peer.write(frame(byName(session, 'relay->worker', 'RELAY_ACK')))
      const ping = await peer.next()
      expect(ping && hexOf(frameHex(ping))).toBe(frame(byName(session, 'worker->relay', 'PING')))
      peer.write(frame(byName(session, 'relay->worker', 'PONG')))
      for (const n of [0, 1]) {
        const call = byName(session, 'relay->worker', 'CALL', n)
        peer.write(frame(call))
        let response = await peer.next()
        while (response?.type === 0x09) response = await peer.next() // keepalive PINGs may interleave
        if (!response) throw new Error('worker closed the session')
        expect(response.type).toBe(0x06)
        const decoded = decodeCbor(response.payload)
        if (!decoded.ok || !(decoded.value instanceof Map)) throw new Error('RESPONSE is not a CBOR map')
        const map = decoded.value as Map<number, unknown>
        expect(map.get(15)).toBe(callIdOf(call))
        // The reference relay reads keys 15 and 5 only; 23 and 100 are this SDK's additions it ignores.
        expect([...map.keys()].sort((a, b) => a - b)).toEqual([5, 15, 23, 100])
        expect(map.get(5)).toBeInstanceOf(Uint8Array)
        const json: unknown = JSON.parse(Buffer.from(map.get(5) as Uint8Array).toString('utf8'))
        expect(json).toEqual(JSON.parse(keyFive(byName(session, 'worker->relay', 'RESPONSE', n)).toString('utf8')))
      }
    })
    const worker = createTcpRelayWorker({
      relay: `127.0.0.1:${relay.port}`, workerId: 'cap-worker-1', intent: 'urn:iicp:intent:llm:chat:v1', models: ['worker-echo-1'],
      ticketProvider: async () => ticket.token, pingIntervalMs: 10,
      handleTask: async (body, headers) => {
        seen.push({ body: body.toString('utf8'), contentType: headers['content-type'] })
        return { status: 200, body: handlerReturns[seen.length - 1] ?? {} }
      },
    })
    cleanups.push(() => worker.close())
    const bound = new Promise<TcpRelayBoundEvent>((r) => worker.once('bound', r))
    await worker.start()
    // Host from the configured relay address, port from RELAY_ACK key 4, as the reference worker registers it.
    expect(await bound).toEqual({
      transport: 'tcp', relayEndpoint: 'http://127.0.0.1:9620/v1/relay-for/cap-worker-1', relayUrl: 'http://127.0.0.1:9620', relayHttpPort: 9620,
      relayHost: '127.0.0.1', relayAcceptPort: relay.port,
    })
    await relay.done
    expect(seen.map((s) => s.body)).toEqual([0, 1].map((n) => keyFive(byName(session, 'relay->worker', 'CALL', n)).toString('utf8')))
    expect(seen.every((s) => s.contentType === 'application/json')).toBe(true)
  })

  it('reads the captured refusal as IICP-E038 and does not stay bound', async () => {
    const relay = await replayRelay(async (peer) => {
      await peer.next()
      peer.write(frame(byName(refused, 'relay->worker', 'ACK')))
      const bind = await peer.next()
      // The second SDK worker bound unsigned: no key 4.
      expect(bind && hexOf(frameHex(bind))).toBe(frame(byName(refused, 'worker->relay', 'RELAY_BIND')))
      peer.write(frame(byName(refused, 'relay->worker', 'RELAY_ACK')))
      peer.socket.end()
    })
    const worker = createTcpRelayWorker({
      relay: `127.0.0.1:${relay.port}`, workerId: 'cap-worker-1', intent: 'urn:iicp:intent:llm:chat:v1', models: ['worker-echo-1'],
      handleTask: async () => ({ status: 200, body: {} }),
    })
    await expect(worker.start()).rejects.toMatchObject({ code: 'IICP-E038', status: 409 })
    await relay.done
    expect(worker.state).toBe('closed')
  })
})
