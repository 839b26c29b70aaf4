/**
 * What this proves: a node serves native IICP frames and HTTP on one real TCP port. The listener routes by the
 * first four bytes even when they arrive split across packets; the session does INIT/ACK, PING/PONG, DISCOVER and
 * CALL/RESPONSE through the same task pipeline as HTTP (auth, limits, error codes), streams a handler's chunks one
 * by one as lifecycle events while HTTP callers get them assembled, closes on codec errors and idleness, advertises
 * `transport_endpoint` at registration, and leaves no session behind on close.
 */
import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { IicpError, encodeJsonBytes, readResponseResult } from '@iicp/protocol'
import type { NativeMessage, NativeResponse, NativeStreamEvent } from '@iicp/protocol'
import { IicpNode, echo, nodeOptionsFromEnv } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { directory, nodeRecord } from './support/directory.js'
import { CHAT, call, chatTask } from './support/http.js'
import { nativePeer } from './support/native-peer.js'
import type { NativePeer } from './support/native-peer.js'

/** A ceiling for state that follows real socket I/O, not a timing claim: generous for a loaded machine. */
const EVENTUALLY = { timeout: 15_000 }
const nodes: IicpNode[] = []
const peers: NativePeer[] = []
async function start(opts: Partial<NodeOptions> = {}): Promise<IicpNode> {
  const node = new IicpNode({ directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, backend: echo(), ...opts } as NodeOptions)
  nodes.push(node)
  await node.serve()
  return node
}
async function peer(node: IicpNode, greet = true): Promise<NativePeer> {
  const p = await nativePeer(node.port as number)
  peers.push(p)
  if (greet) {
    p.send({ kind: 'init', protocolVersion: 1 })
    expect(await p.next()).toEqual({ kind: 'ack', protocolVersion: 1, nodeId: node.nodeId })
  }
  return p
}
afterEach(async () => {
  for (const p of peers.splice(0)) p.close()
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})

const messages = (content: string) => ({ messages: [{ role: 'user', content }] })
function resultOf(m: NativeMessage): unknown {
  expect(m.kind).toBe('response')
  const r = readResponseResult(m as NativeResponse, 'direct')
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void
  const wait = new Promise<void>((resolve) => { open = resolve })
  return { wait, open }
}

describe('one port, two protocols', () => {
  it('answers INIT with ACK carrying the node id, echoes PING, and still serves HTTP on the same port', async () => {
    const node = await start()
    const p = await peer(node)
    p.send({ kind: 'ping', echo: new TextEncoder().encode('hello') })
    expect(await p.next()).toEqual({ kind: 'pong', echo: new TextEncoder().encode('hello') })
    p.send({ kind: 'ping' })
    expect(await p.next()).toEqual({ kind: 'pong' })
    const health = await call(`${node.url}/iicp/health`)
    expect(health.status).toBe(200)
    expect((health.json as { node_id: string }).node_id).toBe(node.nodeId)
  })

  it('routes a 4-byte magic split across two TCP packets to the native session', async () => {
    const node = await start()
    const socket = connect({ port: node.port as number, host: '127.0.0.1', noDelay: true })
    await new Promise((resolve) => socket.once('connect', resolve))
    const init = new Uint8Array([0x49, 0x49, 0x43, 0x50, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xa1, 0x01, 0x01])
    const got = new Promise<Buffer>((resolve) => socket.once('data', resolve))
    socket.write(init.subarray(0, 2))
    // A pause so the two halves leave as separate segments (not a timing assertion).
    await new Promise((resolve) => setTimeout(resolve, 50))
    socket.write(init.subarray(2))
    const reply = await got
    socket.destroy()
    expect(reply.subarray(0, 6)).toEqual(Buffer.from([0x49, 0x49, 0x43, 0x50, 0x01, 0x02]))
  })

  it('routes an HTTP request whose first segment is shorter than four bytes to HTTP', async () => {
    const node = await start()
    const socket = connect({ port: node.port as number, host: '127.0.0.1', noDelay: true })
    await new Promise((resolve) => socket.once('connect', resolve))
    let text = ''
    socket.on('data', (d: Buffer) => { text += d.toString('latin1') })
    const closed = new Promise((resolve) => socket.once('close', resolve))
    socket.write('GE')
    await new Promise((resolve) => setTimeout(resolve, 50))
    socket.write('T /iicp/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    await closed
    expect(text).toMatch(/^HTTP\/1\.1 200 OK/)
    expect(text).toContain(`"node_id":"${node.nodeId}"`)
  })

  it('hands a connection that stays undecided past the sniff timeout to HTTP, which answers it in JSON', async () => {
    const node = await start({ native: { sniffTimeoutMs: 20 } })
    const socket = connect({ port: node.port as number, host: '127.0.0.1', noDelay: true })
    await new Promise((resolve) => socket.once('connect', resolve))
    let text = ''
    socket.on('data', (d: Buffer) => { text += d.toString('latin1') })
    const closed = new Promise((resolve) => socket.once('close', resolve))
    socket.write('I')
    await new Promise((resolve) => setTimeout(resolve, 100))
    socket.write('\r\n\r\n')
    await closed
    expect(text).toMatch(/^HTTP\/1\.1 400/)
    expect(text).toContain('"error":{"code":"validation_error"')
  })
})

describe('native CALL through the task pipeline', () => {
  it('answers a CALL with the handler result as CBOR bytes in key 5, echoing session and call ids', async () => {
    const node = await start({ backend: undefined, handler: (task) => ({ echo: (task.payload as { messages: Array<{ content: string }> }).messages[0]?.content ?? '' }) })
    const p = await peer(node)
    p.send({ kind: 'call', sessionId: 's-1', intent: CHAT, payload: encodeJsonBytes(messages('hi there')), callId: 'c-1' })
    const m = await p.next()
    expect(m).toMatchObject({ kind: 'response', sessionId: 's-1', callId: 'c-1' })
    expect(resultOf(m)).toEqual({ echo: 'hi there' })
  })

  it('answers several CALLs on one session as they finish, not in arrival order', async () => {
    const slow = gate()
    const node = await start({
      backend: undefined,
      handler: async (task) => {
        const text = (task.payload as { messages: Array<{ content: string }> }).messages[0]?.content
        if (text === 'slow') await slow.wait
        return { text }
      },
    })
    const p = await peer(node)
    p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('slow')), callId: 'a' })
    p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('fast')), callId: 'b' })
    expect(await p.next()).toMatchObject({ kind: 'response', callId: 'b' })
    slow.open()
    expect(await p.next()).toMatchObject({ kind: 'response', callId: 'a' })
  })

  it('maps pipeline errors to error responses with the HTTP status in key 100, the message in 101 and the code in key 6', async () => {
    const node = await start()
    const p = await peer(node)
    p.send({ kind: 'call', sessionId: 's', intent: 'urn:iicp:intent:code:review:v1', payload: encodeJsonBytes({ x: 1 }), callId: 'u' })
    expect(await p.next()).toMatchObject({ kind: 'response', callId: 'u', errorCode: 422, error: { code: 'unknown_intent' } })
    p.send({ kind: 'call', sessionId: 's', payload: encodeJsonBytes({ x: 1 }), callId: 'no-intent' })
    expect(await p.next()).toMatchObject({ kind: 'response', callId: 'no-intent', errorCode: 422, error: { code: 'validation_error' } })
  })

  it('refuses a CALL over the node limit with 429 capacity_exceeded, as HTTP does', async () => {
    const hold = gate()
    const node = await start({ maxConcurrent: 1, backend: undefined, handler: async () => { await hold.wait; return { ok: true } } })
    const p = await peer(node)
    p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('one')), callId: '1' })
    await expect.poll(() => node.activeJobs, EVENTUALLY).toBe(1)
    p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('two')), callId: '2' })
    const refused = await p.next()
    expect(refused).toMatchObject({ kind: 'response', callId: '2', errorCode: 429, error: { code: 'capacity_exceeded' } })
    hold.open()
    expect(await p.next()).toMatchObject({ kind: 'response', callId: '1' })
  })

  it('needs the node token (CALL key 11) when auth is token, and never echoes it', async () => {
    const dir = await directory()
    try {
      const node = await start({ directoryUrl: dir.apiUrl, auth: 'token', deregisterOnClose: false })
      await expect.poll(() => node.isRegistered, EVENTUALLY).toBe(true)
      const token = (node as unknown as { identity: { nodeToken: string } }).identity.nodeToken
      const p = await peer(node)
      p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('x')), callId: 'no-token' })
      const refused = await p.next()
      expect(refused).toMatchObject({ errorCode: 401, error: { code: 'unauthorized' } })
      expect(JSON.stringify(refused)).not.toContain(token)
      p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('x')), callId: 'ok', authToken: token })
      const ok = await p.next()
      expect(ok).toMatchObject({ kind: 'response', callId: 'ok' })
      expect((ok as NativeResponse).errorCode).toBeUndefined()
      await node.close()
    } finally {
      await dir.close()
    }
  })

  it('answers DISCOVER with this node when it serves the intent, and an empty list otherwise', async () => {
    const node = await start()
    const p = await peer(node)
    p.send({ kind: 'discover', sessionId: 'd', intent: CHAT })
    const m = await p.next()
    expect(m).toMatchObject({ kind: 'discoverResponse', sessionId: 'd', intent: CHAT })
    expect((m as { nodes: unknown[] }).nodes).toEqual([expect.objectContaining({ node_id: node.nodeId, intents: [CHAT] })])
    p.send({ kind: 'discover', sessionId: 'd2', intent: 'urn:iicp:intent:code:review:v1' })
    expect(await p.next()).toEqual({ kind: 'discoverResponse', sessionId: 'd2', intent: 'urn:iicp:intent:code:review:v1', nodes: [] })
  })
})

describe('negotiated streaming (official-sdks.md §6.4)', () => {
  it('delivers each chunk as a partial event before the handler produces the next, then one success event', async () => {
    const gates = [gate(), gate(), gate()]
    const node = await start({
      backend: undefined,
      handler: async function* () {
        for (const [i, word] of ['alpha', ' beta', ' gamma'].entries()) {
          yield { delta: word }
          await gates[i]?.wait
        }
      },
    })
    const p = await peer(node)
    p.send({ kind: 'call', sessionId: 'ss', intent: CHAT, payload: encodeJsonBytes(messages('go')), callId: 'cs', taskId: 'task-s' })
    const seen: NativeStreamEvent[] = []
    for (let i = 0; i < 3; i++) {
      const e = (await p.next()) as NativeStreamEvent
      seen.push(e)
      expect(e).toMatchObject({ kind: 'streamEvent', status: 'partial', sessionId: 'ss', callId: 'cs', lifecycle: { taskId: 'task-s', sequence: i, event: 'partial', isFinal: false } })
      gates[i]?.open()
    }
    const last = (await p.next()) as NativeStreamEvent
    expect(seen.map((e) => e.result)).toEqual([{ delta: 'alpha' }, { delta: ' beta' }, { delta: ' gamma' }])
    expect(last).toMatchObject({ status: 'success', isFinal: true, lifecycle: { sequence: 3, event: 'completed', isFinal: true } })
    expect(last.result).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant', content: 'alpha beta gamma' } }] })
  })

  it('gives HTTP callers of a streaming handler the chunks assembled into one chat.completion', async () => {
    const node = await start({ backend: undefined, handler: async function* () { yield 'one'; yield { delta: ' two' }; yield { choices: [{ delta: { content: ' three' } }] } } })
    const res = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ status: 'success', result: { object: 'chat.completion', choices: [{ message: { content: 'one two three' } }] } })
  })

  it('uses the generator return value as the final result when it gives one', async () => {
    const node = await start({ backend: undefined, handler: async function* () { yield { delta: 'x' }; return { content: 'final', usage: { total_tokens: 3 } } } })
    const p = await peer(node)
    p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('go')), callId: 'c', taskId: 't' })
    expect(await p.next()).toMatchObject({ status: 'partial', result: { delta: 'x' } })
    expect(await p.next()).toMatchObject({ status: 'success', result: { content: 'final', usage: { total_tokens: 3 } }, tokensUsed: 3 })
  })

  it('ends a stream that fails mid-way with one error event carrying the code, and answers a buffered CALL with the assembled result', async () => {
    const node = await start({
      backend: undefined,
      handler: async function* (task) {
        yield { delta: 'partial' }
        if ((task.payload as { messages: Array<{ content: string }> }).messages[0]?.content === 'fail') throw new IicpError('validation_error', 'refused mid-stream', { status: 422 })
      },
    })
    const p = await peer(node)
    p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('fail')), callId: 'c', taskId: 't' })
    expect(await p.next()).toMatchObject({ status: 'partial' })
    expect(await p.next()).toMatchObject({ status: 'error', isFinal: true, error: { code: 'validation_error', message: 'refused mid-stream' }, lifecycle: { sequence: 1, event: 'failed' } })
    p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('ok')), callId: 'b' })
    expect(resultOf(await p.next())).toMatchObject({ choices: [{ message: { content: 'partial' } }] })
  })

  it('ends a stream that outlives its deadline with a timeout event and aborts the handler signal', async () => {
    let finalized = false
    const node = await start({
      backend: undefined,
      handler: async function* (_task, ctx) {
        try {
          yield { delta: 'first' }
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
        } finally {
          finalized = true
        }
      },
    })
    const p = await peer(node)
    p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('go')), callId: 'c', taskId: 't', timeout: 1 })
    expect(await p.next()).toMatchObject({ status: 'partial' })
    expect(await p.next()).toMatchObject({ status: 'timeout', isFinal: true, error: { code: 'task_timeout' }, lifecycle: { event: 'timed_out' } })
    await expect.poll(() => finalized, EVENTUALLY).toBe(true)
    expect(node.activeJobs).toBe(0)
  })

  it('ends a stream whose chunk cannot be encoded with one error event, and cancels the handler', async () => {
    let aborted = false
    const node = await start({
      backend: undefined,
      handler: async function* (_task, ctx) {
        ctx.signal.addEventListener('abort', () => { aborted = true })
        yield { delta: 'fine' }
        yield { bad: Symbol('not encodable') } as unknown as { delta: string }
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      },
    })
    const p = await peer(node)
    p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('go')), callId: 'c', taskId: 't' })
    expect(await p.next()).toMatchObject({ status: 'partial', result: { delta: 'fine' } })
    expect(await p.next()).toMatchObject({ status: 'error', isFinal: true, error: { code: 'backend_error' }, lifecycle: { sequence: 1, event: 'failed', isFinal: true } })
    await expect.poll(() => aborted, EVENTUALLY).toBe(true)
    await expect.poll(() => node.activeJobs, EVENTUALLY).toBe(0)
  })

  it('streams to a relay worker through node.streamTask: chunks, then the inner result', async () => {
    const node = await start({ backend: undefined, handler: async function* () { yield { delta: 'a' }; yield { delta: 'b' } } })
    const it = node.streamTask(JSON.stringify(chatTask()), {})
    const chunks: unknown[] = []
    let step = await it.next()
    while (step.done !== true) {
      chunks.push(step.value)
      step = await it.next()
    }
    expect(chunks).toEqual([{ delta: 'a' }, { delta: 'b' }])
    expect(step.value).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: 'ab' } }] })
  })
})

describe('relay-shaped CALLs (node.nativeCall)', () => {
  it('runs a CALL whose key 5 is the whole HTTP task body and answers with the JSON envelope, as a relay expects', async () => {
    const node = await start()
    const body = chatTask()
    const out = []
    for await (const m of node.nativeCall({ kind: 'call', callId: 'relay-1', payload: encodeJsonBytes(body) })) out.push(m)
    expect(out).toHaveLength(1)
    const r = out[0] as NativeResponse
    expect(r).toMatchObject({ kind: 'response', callId: 'relay-1' })
    expect(r.sessionId).toBeUndefined()
    const json = readResponseResult(r, 'relay')
    expect(json.ok && json.value).toMatchObject({ task_id: body.task_id, status: 'success', node_id: node.nodeId })
  })

  it('answers a refused relay-shaped CALL with the HTTP status, message and JSON error body', async () => {
    const node = await start()
    const out = []
    for await (const m of node.nativeCall({ kind: 'call', callId: 'relay-2', payload: encodeJsonBytes({ task_id: 'not-a-uuid', intent: CHAT, payload: {} }) })) out.push(m)
    const r = out[0] as NativeResponse
    expect(r).toMatchObject({ callId: 'relay-2', errorCode: 422 })
    const json = readResponseResult(r, 'relay')
    expect(json.ok && json.value).toMatchObject({ error: { code: 'validation_error' } })
  })
})

describe('session hygiene', () => {
  it('sends CLOSE with the codec reason and drops the connection on a bad frame version', async () => {
    const node = await start()
    const p = await peer(node)
    p.send(new Uint8Array([0x49, 0x49, 0x43, 0x50, 0x07, 0x09, 0, 0, 0, 0, 0, 1, 0xa0]))
    const close = await p.next()
    expect(close).toMatchObject({ kind: 'close', reason: 'version_mismatch' })
    await p.ended
  })

  it('closes a session that sends CALL before INIT with protocol_error', async () => {
    const node = await start()
    const p = await peer(node, false)
    p.send({ kind: 'call', sessionId: 's', intent: CHAT, payload: encodeJsonBytes(messages('x')) })
    expect(await p.next()).toMatchObject({ kind: 'close', reason: 'protocol_error' })
    await p.ended
  })

  it('closes an idle session with CLOSE timeout', async () => {
    const node = await start({ native: { idleTimeoutMs: 30 } })
    const p = await peer(node)
    expect(await p.next()).toMatchObject({ kind: 'close', reason: 'timeout' })
    await p.ended
  })

  it('answers the peer CLOSE by closing, and node.close() drops open sessions', async () => {
    const node = await start()
    const a = await peer(node)
    a.send({ kind: 'close' })
    await a.ended
    const b = await peer(node)
    await expect.poll(() => node.nativeSessions, EVENTUALLY).toBe(1)
    await node.close()
    await b.ended
    expect(node.nativeSessions).toBe(0)
  })

  it('does not serve native frames when native is false', async () => {
    const node = await start({ native: false })
    const p = await peer(node, false)
    p.send({ kind: 'init', protocolVersion: 1 })
    const f = await p.nextFrame().catch(() => undefined)
    // HTTP answers the binary preamble with a JSON 400 (not a frame) or just closes.
    if (f !== undefined) expect(Buffer.from([f.version]).toString('latin1')).not.toBe('\u0001')
    await p.ended
    expect(node.transportEndpoint).toBeUndefined()
  })
})

describe('transport_endpoint (official-sdks.md §6.2)', () => {
  it('registers iicp://host:port derived from the http endpoint, and nothing when native is off', async () => {
    const dir = await directory()
    try {
      const node = await start({ directoryUrl: dir.apiUrl })
      await expect.poll(() => node.isRegistered, EVENTUALLY).toBe(true)
      expect(node.transportEndpoint).toBe(`iicp://127.0.0.1:${node.port}`)
      const record = await nodeRecord(dir, node.nodeId)
      expect(JSON.stringify(record)).toContain(`iicp://127.0.0.1:${node.port}`)
      const quiet = await start({ directoryUrl: dir.apiUrl, native: { advertise: false } })
      await expect.poll(() => quiet.isRegistered, EVENTUALLY).toBe(true)
      expect(quiet.transportEndpoint).toBeUndefined()
      await Promise.all([node.close(), quiet.close()])
    } finally {
      await dir.close()
    }
  })

  it('reads IICP_NATIVE=0 from the environment as native: false', () => {
    expect(nodeOptionsFromEnv({ IICP_NATIVE: '0' }).native).toBe(false)
    expect(nodeOptionsFromEnv({}).native).toBeUndefined()
  })

  it('derives iicpsec:// for an https endpoint and nothing for a path-scoped one', async () => {
    const { transportEndpointFor } = await import('../src/native/native-server.js')
    expect(transportEndpointFor('https://node.example.com')).toBe('iicpsec://node.example.com:443')
    expect(transportEndpointFor('http://[2001:db8::1]:9484')).toBe('iicp://[2001:db8::1]:9484')
    expect(transportEndpointFor('http://relay.example.com:9484/v1/relay-for/w1')).toBeUndefined()
  })
})

