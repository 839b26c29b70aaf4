// Proves streamed results through the TCP relay (official-sdks.md §6.4): a consumer asking for text/event-stream
// gets each chunk as it is produced (the next chunk is made only after the consumer saw the previous one), a
// worker that cannot stream still answers as one final event, a failing handler or a vanishing worker ends the
// stream with a final `failed` event, and a consumer that stops reading makes the relay give up with
// `relay_backpressure_exceeded` after a bounded number of buffered events instead of growing memory.
import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { IicpError } from '@iicp/protocol'
import { createTcpRelayWorker } from '@iicp/relay'
import type { RelayStreamHandler, RelayTaskHandler, TcpRelayWorker } from '@iicp/relay'
import { post, task } from './consumer.js'
import { startTcpRelay } from './tcp-harness.js'
import type { TcpRelay } from './tcp-harness.js'

interface SseEvent {
  event: string
  data: { task_id: string; sequence: number; event: string; status: string; is_final: boolean; result?: unknown; error?: { code: string; message: string }; tokens_used?: number }
}

function parseSse(block: string): SseEvent {
  const event = /^event: (.*)$/m.exec(block)?.[1] ?? ''
  const data = /^data: (.*)$/m.exec(block)?.[1] ?? '{}'
  return { event, data: JSON.parse(data) as SseEvent['data'] }
}

/** Open a stream and yield its events as they arrive. */
async function* openStream(url: string, body: unknown): AsyncGenerator<SseEvent, { status: number; contentType: string | undefined }> {
  const res = await request(url, {
    method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify(body),
  })
  let buffered = ''
  for await (const chunk of res.body) {
    buffered += (chunk as Buffer).toString('utf8')
    let end: number
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      yield parseSse(buffered.slice(0, end))
      buffered = buffered.slice(end + 2)
    }
  }
  const ct = res.headers['content-type']
  return { status: res.statusCode, contentType: typeof ct === 'string' ? ct : undefined }
}

const buffered: RelayTaskHandler = async (body) => ({ status: 200, body: { task_id: JSON.parse(body.toString()).task_id, status: 'success', result: { whole: true } } })

const cleanups: Array<() => Promise<unknown> | void> = []
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)()
})

async function setup(handleStream: RelayStreamHandler | undefined, acceptor: { maxBufferedStreamEvents?: number } = {}): Promise<{ relay: TcpRelay; worker: TcpRelayWorker }> {
  const relay = await startTcpRelay({}, acceptor)
  cleanups.push(() => relay.close())
  const worker = createTcpRelayWorker({
    relay: relay.address, workerId: 'stream-1', handleTask: buffered, ...(handleStream ? { handleStream } : {}),
  })
  cleanups.push(() => worker.close())
  await worker.start()
  return { relay, worker }
}

describe('streaming through the TCP relay', () => {
  it('delivers a stream chunk by chunk: each chunk is produced only after the consumer saw the previous one', async () => {
    const seenByConsumer: string[] = []
    let consumerSaw: () => void = () => undefined
    const { worker } = await setup(async function* () {
      for (const delta of ['echo:', ' stream', ' me']) {
        yield { delta }
        // Hold the next chunk until the consumer has the previous one: nothing can be batched up.
        await new Promise<void>((resolve) => (consumerSaw = resolve))
        expect(seenByConsumer.at(-1)).toBe(delta)
      }
      return { content: 'echo: stream me' }
    })
    const t = task('stream me')
    const events: SseEvent[] = []
    for await (const ev of openStream(`${worker.relayEndpoint}/v1/task`, t)) {
      events.push(ev)
      const r = ev.data.result as { delta?: string } | undefined
      if (r?.delta !== undefined) seenByConsumer.push(r.delta)
      consumerSaw()
    }
    expect(events.map((e) => [e.event, e.data.sequence, e.data.is_final])).toEqual([
      ['partial', 0, false], ['partial', 1, false], ['partial', 2, false], ['completed', 3, true],
    ])
    expect(events.every((e) => e.data.task_id === t.task_id)).toBe(true)
    expect(events.at(-1)?.data).toMatchObject({ status: 'success', result: { content: 'echo: stream me' } })
  })

  it('answers with one final event when the worker cannot stream', async () => {
    const { worker } = await setup(undefined)
    const t = task('no stream')
    const events: SseEvent[] = []
    const stream = openStream(`${worker.relayEndpoint}/v1/task`, t)
    let step = await stream.next()
    while (!step.done) {
      events.push(step.value)
      step = await stream.next()
    }
    expect(step.value).toEqual({ status: 200, contentType: 'text/event-stream' })
    expect(events).toEqual([{
      event: 'completed',
      data: { task_id: t.task_id, sequence: 0, event: 'completed', status: 'success', is_final: true, result: { task_id: t.task_id, status: 'success', result: { whole: true } } },
    }])
  })

  it('ends the stream with a failed event carrying the handler error code', async () => {
    const { worker } = await setup(async function* () {
      yield { delta: 'a' }
      throw new IicpError('capacity_exceeded', 'backend went away')
    })
    const events: SseEvent[] = []
    for await (const ev of openStream(`${worker.relayEndpoint}/v1/task`, task('x'))) events.push(ev)
    expect(events.map((e) => e.event)).toEqual(['partial', 'failed'])
    expect(events[1]?.data).toMatchObject({ status: 'error', is_final: true, error: { code: 'capacity_exceeded', message: 'backend went away' } })
  })

  it('ends the stream with IICP-E031 when the worker goes away mid-stream', async () => {
    let close: () => Promise<void> = async () => undefined
    const { worker } = await setup(async function* (_b, _h, signal) {
      yield { delta: 'first' }
      void close()
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()))
    })
    close = () => worker.close()
    const events: SseEvent[] = []
    for await (const ev of openStream(`${worker.relayEndpoint}/v1/task`, task('x'))) events.push(ev)
    expect(events.map((e) => e.event)).toEqual(['partial', 'failed'])
    expect(events[1]?.data).toMatchObject({ sequence: 1, is_final: true, error: { code: 'IICP-E031' } })
  })

  it('gives up with relay_backpressure_exceeded when the consumer stops reading, holding only a bounded buffer', async () => {
    const chunk = 'x'.repeat(256 * 1024)
    let finished!: () => void
    const allProduced = new Promise<void>((resolve) => (finished = resolve))
    const { relay, worker } = await setup(async function* () {
      for (let i = 0; i < 96; i++) yield { i, chunk }
      finished()
      return { done: true }
    }, { maxBufferedStreamEvents: 4 })
    const url = new URL(`${worker.relayEndpoint}/v1/task`)
    const body = JSON.stringify(task('flood'))
    const socket = connect({ host: url.hostname, port: Number(url.port) })
    cleanups.push(() => {
      socket.destroy()
    })
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    socket.write(`POST ${url.pathname} HTTP/1.0\r\nhost: ${url.host}\r\naccept: text/event-stream\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
    // A consumer that does not read: the kernel buffers fill, then the relay's bounded queue, then it gives up.
    socket.pause()
    await allProduced
    // A buffered call on the same session is answered after every stream frame before it was read by the relay.
    expect((await post(`${worker.relayEndpoint}/v1/task`, task('after'))).status).toBe(200)
    const chunks: Buffer[] = []
    socket.on('data', (d: Buffer) => chunks.push(d))
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()))
    socket.resume()
    await ended
    const text = Buffer.concat(chunks).toString('utf8')
    const blocks = text.slice(text.indexOf('\r\n\r\n') + 4).split('\n\n').filter((b) => b.includes('data: '))
    const last = parseSse(blocks.at(-1) as string)
    expect(last.event).toBe('failed')
    expect(last.data).toMatchObject({ status: 'error', is_final: true, error: { code: 'relay_backpressure_exceeded' } })
    // Fewer events reached the consumer than the worker produced: the rest were dropped, not queued.
    expect(blocks.length).toBeLessThan(96)
    expect(last.data.sequence).toBe(blocks.length - 1)
    // The session itself is unharmed and serves the next call.
    expect(relay.http.relay.sessions.alive('stream-1', Date.now())).toBeDefined()
  })
})
