/**
 * What this proves: NativeClient speaks the Python SDK's native wire byte for byte. A replay server on a real loopback
 * port checks every frame our client sends against the frames IicpTcpClient sent in the captured sessions
 * (fixtures/interop/native-python-sdk-0.7.107.json) and answers with the node's captured frames; the client reads
 * them into the same values. A peer that goes silent is detected at the PONG deadline (timers driven by hand),
 * every pending call then fails with an IicpError, endpoints are checked before anything is dialled, and iicpsec://
 * verifies the node's certificate.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer as createTlsServer } from 'node:tls'
import type { AddressInfo, Server, Socket } from 'node:net'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { FrameDecoder, encodeJsonBytes, isIicpError, readResponseResult } from '@iicp/protocol'
import type { NativeResponse, NativeStreamEvent } from '@iicp/protocol'
import { IicpClient, NativeClient, clientOptionsFromEnv, parseNativeEndpoint } from '../src/index.js'
import type { NativeTimers } from '../src/index.js'

interface CapturedFrame { readonly dir: string; readonly header_hex: string; readonly payload_hex: string }
const capture = JSON.parse(readFileSync(new URL('../../../fixtures/interop/native-python-sdk-0.7.107.json', import.meta.url), 'utf8')) as {
  captures: {
    native_direct_session: { frames: CapturedFrame[] }
    native_streaming: { streaming_server_session: { frames: CapturedFrame[] }; stream_call_against_serve_node: { frames: CapturedFrame[] } }
  }
}
const bytesOf = (f: CapturedFrame): Buffer => Buffer.from(f.header_hex + f.payload_hex, 'hex')

/**
 * A server that plays the node's side of a capture: for each client frame it expects the captured bytes exactly, then
 * writes the node frames that followed it. `skip` drops captured exchanges our client does not make.
 */
function replayServer(frames: CapturedFrame[]): Promise<{ server: Server; port: number; mismatches: string[]; received: string[] }> {
  const mismatches: string[] = []
  const received: string[] = []
  const server = createServer((socket: Socket) => {
    const decoder = new FrameDecoder()
    let i = 0
    const flushNode = (): void => {
      while (i < frames.length && (frames[i] as CapturedFrame).dir !== 'client->node' && (frames[i] as CapturedFrame).dir !== 'client->server') {
        socket.write(bytesOf(frames[i] as CapturedFrame))
        i++
      }
    }
    socket.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk).frames) {
        const got = Buffer.concat([Buffer.from([0x49, 0x49, 0x43, 0x50, f.version, f.type, f.flags, f.reserved]), Buffer.alloc(4), Buffer.from(f.payload)])
        got.writeUInt32BE(f.payload.length, 8)
        received.push(got.toString('hex'))
        const want = frames[i]
        if (want === undefined || got.toString('hex') !== want.header_hex + want.payload_hex) mismatches.push(`frame ${i}: got ${got.toString('hex')}`)
        i++
        flushNode()
      }
    })
    socket.on('error', () => undefined)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, mismatches, received })))
}

/** A ceiling for state that follows real socket I/O, not a timing claim: generous for a loaded machine. */
const EVENTUALLY = { timeout: 15_000 }
const servers: Server[] = []
const clients: NativeClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy()
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
})

async function open(port: number, extra: Partial<Parameters<typeof NativeClient.connect>[0]> = {}): Promise<NativeClient> {
  const c = await NativeClient.connect({ endpoint: `iicp://127.0.0.1:${port}`, allowPrivateEndpoints: true, keepaliveIntervalMs: 0, ...extra })
  clients.push(c)
  return c
}

describe('replaying the Python SDK direct session (capture b)', () => {
  it('sends the captured INIT, PINGs, DISCOVER and CALL bytes and reads the node answers', async () => {
    // The CALL without a call id (frames 10-11) is left out: this client always names its calls.
    const frames = capture.captures.native_direct_session.frames.slice(0, 4)
    const replay = await replayServer(frames)
    servers.push(replay.server)
    const c = await open(replay.port)
    expect(c.nodeId).toBe('cap-node-1')
    expect(Buffer.from((await c.ping(Buffer.from('iicp-ping-1'))) ?? [])).toEqual(Buffer.from('iicp-ping-1'))
    c.destroy()
    expect(replay.mismatches).toEqual([])
  })

  it('matches the captured DISCOVER and CALL frames byte for byte and decodes the CBOR result', async () => {
    const all = capture.captures.native_direct_session.frames
    // INIT/ACK, then DISCOVER/reply and CALL/RESPONSE (the PINGs are covered above; PING {} has no echo to match).
    const frames = [all[0], all[1], all[6], all[7], all[8], all[9]] as CapturedFrame[]
    const replay = await replayServer(frames)
    servers.push(replay.server)
    const c = await open(replay.port)
    expect(await c.discover('urn:iicp:intent:llm:chat:v1', { sessionId: 'discover-1' })).toEqual([])
    const r = await c.call({
      sessionId: 'sess-native-1', intent: 'urn:iicp:intent:llm:chat:v1', callId: 'call-native-1',
      payload: Buffer.from('{"messages": [{"role": "user", "content": "hello native"}]}'),
    })
    const value = readResponseResult(r, 'direct')
    expect(value.ok && value.value).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: 'echo: hello native' } }] })
    expect(replay.mismatches).toEqual([])
  })
})

describe('replaying negotiated streaming (capture c)', () => {
  it('streams three partial events then success, then a buffered CALL and a 422 error on the same connection', async () => {
    const frames = capture.captures.native_streaming.streaming_server_session.frames.slice(0, 11)
    const replay = await replayServer(frames)
    servers.push(replay.server)
    const c = await open(replay.port)
    const seen: NativeStreamEvent[] = []
    const final = await c.stream({
      sessionId: 'sess-stream-1', intent: 'urn:iicp:intent:llm:chat:v1', callId: 'call-stream-1', idempotencyKey: 'idem-stream-1',
      taskId: 'task-stream-1', payload: Buffer.from('{"messages": [{"role": "user", "content": "stream me"}]}'),
    }, (e) => seen.push(e))
    expect(seen.map((e) => e.result)).toEqual([{ delta: 'echo:' }, { delta: ' stream' }, { delta: ' me' }])
    expect(final).toMatchObject({ kind: 'streamEvent', status: 'success', result: { content: 'echo: stream me' }, tokensUsed: 3 })
    const buffered = await c.call({ sessionId: 'sess-stream-1', intent: 'urn:iicp:intent:llm:chat:v1', callId: 'call-buffered-1', payload: Buffer.from('{"messages": [{"role": "user", "content": "buffered"}]}') })
    expect(readResponseResult(buffered, 'direct')).toMatchObject({ ok: true, value: { choices: [{ message: { content: 'echo: buffered' } }] } })
    const failed = await c.call({ sessionId: 'sess-stream-1', intent: 'urn:iicp:intent:llm:chat:v1', callId: 'call-error-1', payload: Buffer.from('{"messages": [{"role": "user", "content": "fail"}]}') })
    expect(failed).toMatchObject({ errorCode: 422, errorMessage: "echo refuses 'fail'" })
    expect(replay.mismatches).toEqual([])
  })

  it('accepts a buffered RESPONSE to a streaming CALL from a node without streaming (the Python serve node)', async () => {
    const frames = capture.captures.native_streaming.stream_call_against_serve_node.frames.slice(0, 4)
    const replay = await replayServer(frames)
    servers.push(replay.server)
    const c = await open(replay.port)
    const final = await c.stream({
      sessionId: 'sess-stream-node', intent: 'urn:iicp:intent:llm:chat:v1', callId: 'call-stream-node-1', taskId: 'task-stream-node-1',
      payload: Buffer.from('{"messages": [{"role": "user", "content": "stream me"}]}'),
    }, () => undefined)
    expect(final.kind).toBe('response')
    expect(readResponseResult(final as NativeResponse, 'direct')).toMatchObject({ ok: true, value: { choices: [{ message: { content: 'echo: stream me' } }] } })
    expect(replay.mismatches).toEqual([])
  })
})

class HandTimers implements NativeTimers {
  readonly due: Array<{ fn: () => void; ms: number; live: boolean }> = []
  setTimeout(fn: () => void, ms: number): unknown {
    const t = { fn, ms, live: true }
    this.due.push(t)
    return t
  }
  clearTimeout(handle: unknown): void {
    (handle as { live: boolean }).live = false
  }
  /** Fire the oldest live timer; returns its delay. */
  fire(): number {
    const t = this.due.find((x) => x.live)
    if (!t) throw new Error('no timer armed')
    t.live = false
    t.fn()
    return t.ms
  }
}

describe('keepalive and half-open detection', () => {
  it('fails a pending call when the peer stays silent past the PONG deadline, and sends the PING first', async () => {
    const pings: Buffer[] = []
    const silent = createServer((socket) => {
      // Answer INIT, then read everything and never answer again: a half-open path.
      socket.once('data', () => {
        socket.write(Buffer.from('494943500102000000000003a10101', 'hex'))
        socket.on('data', (d: Buffer) => pings.push(d))
      })
      socket.on('error', () => undefined)
    })
    servers.push(silent)
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const timers = new HandTimers()
    const c = await open((silent.address() as AddressInfo).port, { keepaliveIntervalMs: 30_000, pongTimeoutMs: 5_000, timers })
    const pending = c.call({ intent: 'urn:iicp:intent:llm:chat:v1', payload: encodeJsonBytes({ messages: [] }) })
    await expect.poll(() => pings.length, EVENTUALLY).toBeGreaterThan(0)
    expect(timers.fire()).toBe(30_000)
    await expect.poll(() => Buffer.concat(pings).includes(Buffer.from([0x49, 0x49, 0x43, 0x50, 0x01, 0x09])), EVENTUALLY).toBe(true)
    expect(timers.fire()).toBe(5_000)
    const err = await pending.catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('connection_failed')
    expect((err as Error).message).toContain('PONG deadline')
    expect(c.open).toBe(false)
    await c.closed
  })

  it('keeps a connection whose peer answers the keepalive PING', async () => {
    const echoing = createServer((socket) => {
      const decoder = new FrameDecoder()
      socket.on('data', (d: Buffer) => {
        for (const f of decoder.push(d).frames) {
          if (f.type === 1) socket.write(Buffer.from('494943500102000000000003a10101', 'hex'))
          if (f.type === 9) {
            const pong = Buffer.concat([Buffer.from([0x49, 0x49, 0x43, 0x50, 1, 0x0a, 0, 0]), Buffer.alloc(4), Buffer.from(f.payload)])
            pong.writeUInt32BE(f.payload.length, 8)
            socket.write(pong)
          }
        }
      })
      socket.on('error', () => undefined)
    })
    servers.push(echoing)
    await new Promise<void>((resolve) => echoing.listen(0, '127.0.0.1', resolve))
    const timers = new HandTimers()
    const c = await open((echoing.address() as AddressInfo).port, { keepaliveIntervalMs: 30_000, pongTimeoutMs: 5_000, timers })
    timers.fire()
    // The PONG clears the deadline and re-arms the keepalive: the next live timer is the 30 s one.
    await expect.poll(() => timers.due.filter((t) => t.live).map((t) => t.ms), EVENTUALLY).toEqual([30_000])
    expect(c.open).toBe(true)
  })
})

describe('endpoints', () => {
  it('parses iicp:// and iicpsec:// endpoints and refuses other schemes, paths and credentials', () => {
    expect(parseNativeEndpoint('iicp://node.example.com:9484')).toEqual({ tls: false, host: 'node.example.com', port: 9484 })
    expect(parseNativeEndpoint('iicpsec://[2001:db8::1]:443')).toEqual({ tls: true, host: '2001:db8::1', port: 443 })
    expect(parseNativeEndpoint('http://node.example.com:9484')).toBeUndefined()
    expect(parseNativeEndpoint('iicp://node.example.com:9484/v1/relay-for/x')).toBeUndefined()
    expect(parseNativeEndpoint('iicp://u:p@node.example.com:9484')).toBeUndefined()
  })

  it('takes the transport from IICP_TRANSPORT and refuses an unknown one with invalid_config', () => {
    expect(clientOptionsFromEnv({ IICP_TRANSPORT: 'Auto' }).transport).toBe('auto')
    const err = (() => { try { return new IicpClient({ transport: 'carrier-pigeon' as 'auto' }) } catch (e) { return e } })()
    expect(isIicpError(err) && err.code).toBe('invalid_config')
  })

  it('refuses to dial a loopback native endpoint without allowPrivateEndpoints', async () => {
    const err = await NativeClient.connect({ endpoint: 'iicp://127.0.0.1:9' }).catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('IICP-POLICY-ROUTING')
  })

  it('fails with connection_failed when nothing listens', async () => {
    const probe = createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise((resolve) => probe.close(resolve))
    const err = await NativeClient.connect({ endpoint: `iicp://127.0.0.1:${port}`, allowPrivateEndpoints: true }).catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('connection_failed')
  })
})

describe('iicpsec:// (TLS)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iicp-native-tls-'))
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  const haveCert = made.status === 0
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it.skipIf(!haveCert)('handshakes over TLS with a trusted certificate and refuses an untrusted one (skipped when openssl is missing)', async () => {
    const cert = readFileSync(join(dir, 'cert.pem'))
    const server = createTlsServer({ cert, key: readFileSync(join(dir, 'key.pem')) }, (socket) => {
      socket.once('data', () => socket.write(Buffer.from('49494350010200000000000da2010102687473742d6e6f6465', 'hex')))
      socket.on('error', () => undefined)
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const c = await open(port, { endpoint: `iicpsec://127.0.0.1:${port}`, ca: cert })
    expect(c.nodeId).toBe('tst-node')
    const err = await NativeClient.connect({ endpoint: `iicpsec://127.0.0.1:${port}`, allowPrivateEndpoints: true }).catch((e: unknown) => e)
    expect(isIicpError(err) && err.code).toBe('connection_failed')
  })
})
