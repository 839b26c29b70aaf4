// Proves the native TCP relay end to end on loopback (official-sdks.md §5.1–§5.3, IICP-DIR §7): a consumer's HTTP
// POST to the relay reaches a worker that only dialled out to the accept port, the worker node's status, headers
// and body come back unchanged, calls are multiplexed by call id, a worker leaving fails its calls with 502, and a
// worker that closes is no longer routable.
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { IicpError } from '@iicp/protocol'
import { createTcpRelayWorker, parseRelayAddress } from '@iicp/relay'
import type { RelaySessionEvent, RelayTaskHandler, TcpRelayWorker } from '@iicp/relay'
import { get, post, task } from './consumer.js'
import { startTcpRelay } from './tcp-harness.js'
import type { TcpRelay } from './tcp-harness.js'

const echo: RelayTaskHandler = async (body, headers) => {
  const t = JSON.parse(body.toString('utf8')) as { task_id: string; payload: { messages: Array<{ content: string }> } }
  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-seen-traceparent': headers.traceparent ?? 'none' },
    body: { task_id: t.task_id, status: 'success', result: { echo: t.payload.messages[0]?.content } },
  }
}

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)()
})

async function relayAndWorker(handleTask: RelayTaskHandler = echo, workerId = 'tcp-worker-1'): Promise<{ relay: TcpRelay; worker: TcpRelayWorker }> {
  const relay = await startTcpRelay()
  cleanups.push(() => relay.close())
  const worker = createTcpRelayWorker({ relay: relay.address, workerId, intent: 'urn:iicp:intent:llm:chat:v1', models: ['echo-1'], handleTask })
  cleanups.push(() => worker.close())
  await worker.start()
  return { relay, worker }
}

describe('TCP relay, consumer → relay → worker', () => {
  it('delivers a consumer task to the worker and returns its answer unchanged', async () => {
    const { relay, worker } = await relayAndWorker()
    expect(worker.state).toBe('bound')
    expect(worker.transport).toBe('tcp')
    expect(worker.relayUrl).toBe(relay.http.url)
    expect(worker.relayEndpoint).toBe(`${relay.http.url}/v1/relay-for/tcp-worker-1`)
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const t = task('hello over tcp')
    const res = await post(`${worker.relayEndpoint}/v1/task`, t, { traceparent: tp })
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('application/json')
    expect(res.headers['x-seen-traceparent']).toBe(tp)
    expect(res.json).toEqual({ task_id: t.task_id, status: 'success', result: { echo: 'hello over tcp' } })
  })

  it('reports the TCP session on the relay-for health route', async () => {
    const { worker } = await relayAndWorker()
    const res = await get(`${worker.relayEndpoint}/iicp/health`)
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ status: 'ok', node_id: 'tcp-worker-1', via_relay: true, models: ['echo-1'], transport: 'tcp' })
  })

  it('passes a non-200 answer and its headers through to the consumer', async () => {
    const { worker } = await relayAndWorker(async () => ({
      status: 429,
      headers: { 'content-type': 'application/json', 'retry-after': '3' },
      body: { error: { code: 'capacity_exceeded', message: 'busy' } },
    }))
    const res = await post(`${worker.relayEndpoint}/v1/task`, task('x'))
    expect(res.status).toBe(429)
    expect(res.headers['retry-after']).toBe('3')
    expect(res.json).toEqual({ error: { code: 'capacity_exceeded', message: 'busy' } })
  })

  it('turns a throwing handler into a JSON error with its status, never a stack', async () => {
    const { worker } = await relayAndWorker(async () => {
      throw new IicpError('validation_error', 'bad task')
    })
    const res = await post(`${worker.relayEndpoint}/v1/task`, task('x'))
    expect(res.status).toBe(422)
    expect(res.json).toMatchObject({ error: { code: 'validation_error', message: 'bad task' } })
    expect(res.text).not.toMatch(/at .*\.ts/)
  })

  it('multiplexes concurrent calls on one session by call id', async () => {
    const releases: Array<() => void> = []
    const { worker } = await relayAndWorker(async (body) => {
      const t = JSON.parse(body.toString('utf8')) as { task_id: string }
      // Answer in reverse order of arrival so a mix-up of call ids would show.
      await new Promise<void>((resolve) => releases.push(resolve))
      return { status: 200, body: { task_id: t.task_id } }
    })
    const tasks = Array.from({ length: 5 }, (_, i) => task(`m${i}`))
    const answers = Promise.all(tasks.map((t) => post(`${worker.relayEndpoint}/v1/task`, t)))
    while (releases.length < tasks.length) await new Promise((r) => setImmediate(r))
    expect(worker.inFlight).toBe(5)
    for (const release of releases.reverse()) release()
    const res = await answers
    expect(res.map((r) => (r.json as { task_id: string }).task_id)).toEqual(tasks.map((t) => t.task_id))
  })

  it('fails a call with 502 IICP-E031 when the worker goes away with it in flight', async () => {
    let started!: () => void
    const running = new Promise<void>((r) => (started = r))
    const { worker } = await relayAndWorker(async (_b, _h, signal) => {
      started()
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()))
      return { status: 200, body: {} }
    })
    const answer = post(`${worker.relayEndpoint}/v1/task`, task('x'))
    await running
    await worker.close()
    const res = await answer
    expect(res.status).toBe(502)
    expect(res.json).toMatchObject({ error: { code: 'IICP-E031' } })
  })

  it('answers 404 IICP-E030 once the worker has closed its session', async () => {
    const { relay, worker } = await relayAndWorker()
    const unbound = new Promise<RelaySessionEvent>((r) => relay.http.relay.once('unbound', r))
    const endpoint = worker.relayEndpoint as string
    await worker.close()
    expect(await unbound).toEqual({ workerId: 'tcp-worker-1', transport: 'tcp', reason: 'worker_close' })
    const res = await post(`${endpoint}/v1/task`, task('x'))
    expect(res.status).toBe(404)
    expect(res.json).toMatchObject({ error: { code: 'IICP-E030' } })
    expect(relay.acceptor.boundCount).toBe(0)
  })

  it('answers 504 task_timeout when the worker does not answer in time', async () => {
    const relay = await startTcpRelay({ taskTimeoutMs: 50 })
    cleanups.push(() => relay.close())
    const worker = createTcpRelayWorker({
      relay: relay.address, workerId: 'slow-1',
      handleTask: (_b, _h, signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve({ status: 200, body: {} }))),
    })
    cleanups.push(() => worker.close())
    await worker.start()
    const res = await post(`${worker.relayEndpoint}/v1/task`, task('x'))
    expect(res.status).toBe(504)
    expect(res.json).toMatchObject({ error: { code: 'task_timeout' } })
  })

  it('rebinds after the relay drops the session and serves again', async () => {
    const relay = await startTcpRelay()
    cleanups.push(() => relay.close())
    const worker = createTcpRelayWorker({ relay: relay.address, workerId: 'rebind-1', reconnectBaseMs: 5, handleTask: echo })
    cleanups.push(() => worker.close())
    const bounds: string[] = []
    // The worker's own fields already describe the session when `bound` fires (the node re-registers from them).
    worker.on('bound', (e) => bounds.push(`${worker.transport ?? 'none'} ${e.relayEndpoint}`))
    const unbound = new Promise<{ reason: string }>((r) => worker.once('unbound', r))
    await worker.start()
    const session = relay.http.relay.sessions.get('rebind-1')
    expect(session?.link.transport).toBe('tcp')
    relay.http.relay.dropSession(session as NonNullable<typeof session>, 'test')
    expect((await unbound).reason).toBe('socket_closed')
    await new Promise<void>((r) => worker.once('bound', () => r()))
    expect(bounds).toEqual([`tcp ${relay.http.url}/v1/relay-for/rebind-1`, `tcp ${relay.http.url}/v1/relay-for/rebind-1`])
    const t = task('again')
    const res = await post(`${worker.relayEndpoint}/v1/task`, t)
    expect(res.json).toEqual({ task_id: t.task_id, status: 'success', result: { echo: 'again' } })
  })

  it('closes idempotently and leaves nothing listening', async () => {
    const { relay, worker } = await relayAndWorker()
    await Promise.all([worker.close(), worker.close()])
    expect(worker.state).toBe('closed')
    await Promise.all([relay.acceptor.close(), relay.acceptor.close()])
    expect(relay.http.relay.sessions.size).toBe(0)
    await expect(createTcpRelayWorker({ relay: relay.address, workerId: 'late', reconnectBaseMs: 1, maxReconnectAttempts: 0, handleTask: echo }).start())
      .rejects.toMatchObject({ code: 'connection_failed' })
  })

  it('refuses bad options with invalid_config', () => {
    expect(() => createTcpRelayWorker({ relay: 'not a host', workerId: 'w', handleTask: echo })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
    expect(() => createTcpRelayWorker({ relay: 'h:70000', workerId: 'w', handleTask: echo })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
    expect(() => createTcpRelayWorker({ relay: 'h:1', workerId: 'bad id', handleTask: echo })).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })

  it('reads relay addresses as IICP_RELAY_WORKER_ENDPOINT gives them', () => {
    expect(parseRelayAddress('relay.example.com:9485')).toEqual({ host: 'relay.example.com', port: 9485 })
    expect(parseRelayAddress('relay.example.com')).toEqual({ host: 'relay.example.com', port: 9485 })
    expect(parseRelayAddress('[2001:db8::1]:9600')).toEqual({ host: '2001:db8::1', port: 9600 })
    expect(parseRelayAddress('iicp://10.0.0.2:9486')).toEqual({ host: '10.0.0.2', port: 9486 })
    expect(() => parseRelayAddress('http://relay/x')).toThrow(expect.objectContaining({ code: 'invalid_config' }))
  })

  it('serves a worker whose connection another listener accepted and handed over with the bytes it read', async () => {
    const relay = await startTcpRelay()
    cleanups.push(() => relay.close())
    // A stand-in for a single-port node: it reads the first bytes itself, then hands the socket to the relay.
    const front = createServer((socket) => {
      socket.once('data', (first: Buffer) => {
        socket.pause()
        relay.acceptor.adopt(socket, first)
        socket.resume()
      })
    })
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r))
    cleanups.push(() => new Promise<void>((r) => front.close(() => r())))
    const worker = createTcpRelayWorker({ relay: `127.0.0.1:${(front.address() as AddressInfo).port}`, workerId: 'adopted-1', handleTask: echo })
    cleanups.push(() => worker.close())
    await worker.start()
    const t = task('via the shared port')
    const res = await post(`${relay.http.url}/v1/relay-for/adopted-1/v1/task`, t)
    expect(res.json).toEqual({ task_id: t.task_id, status: 'success', result: { echo: 'via the shared port' } })
  })
})
