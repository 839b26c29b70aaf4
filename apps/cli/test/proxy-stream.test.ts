/**
 * Streaming in `iicp proxy`, read by each ecosystem's official client: `stream: true` on /v1/chat/completions as
 * OpenAI chunk events read with `for await (const chunk of stream)`, first from a buffered echo node, then from a
 * node whose handler streams over the native transport, gated so that chunk n+1 cannot exist before the client
 * saw chunk n (openai, ollama and @anthropic-ai/sdk alike); a node failing midway and a caller hanging up midway.
 * The three stream renderers also run behind the proxy's own reply writer on a loopback server with a gated
 * source, to pin their in-band error shapes. Nothing is mocked; no timing is asserted.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Anthropic from '@anthropic-ai/sdk'
import { Ollama } from 'ollama'
import OpenAI from 'openai'
import { request } from 'undici'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import { IicpError } from '@iicp/protocol'
import { anthropicEvents } from '../src/proxy/anthropic.js'
import type { ChatCompletionChunk } from '../src/proxy/mesh-chat.js'
import { ollamaLines } from '../src/proxy/ollama.js'
import { SSE_CONTENT_TYPE, openAiEvents } from '../src/proxy/routes.js'
import { startProxy, writeReply } from '../src/proxy/server.js'
import type { ProxyRequestLog, RunningProxy } from '../src/proxy/server.js'

function chunk(content: string | undefined, finish: string | null = null): ChatCompletionChunk {
  return {
    id: 'chatcmpl-t1', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gated-1',
    choices: [{ index: 0, delta: content === undefined ? {} : { role: 'assistant', content }, finish_reason: finish }],
    ...(finish !== null ? { usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 } } : {}),
  }
}

/** A chunk source that yields chunk n+1 only once the test permits it, and can fail instead of yielding. */
class GatedSource {
  produced = 0
  #allowed = 1
  #wake: (() => void) | undefined
  constructor(private readonly chunks: readonly ChatCompletionChunk[], private readonly failAt = -1) {}

  permit(): void {
    this.#allowed++
    this.#wake?.()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ChatCompletionChunk> {
    for (let i = 0; i < this.chunks.length; i++) {
      while (this.produced >= this.#allowed) await new Promise<void>((resolve) => (this.#wake = resolve))
      if (i === this.failAt) throw new IicpError('backend_error', 'The node failed mid-stream')
      this.produced++
      const next = this.chunks[i]
      if (next !== undefined) yield next
    }
  }
}

/** A loopback server answering every request with one stream rendered from the current source. */
class StreamServer {
  source: GatedSource = new GatedSource([])
  render: (chunks: AsyncIterable<ChatCompletionChunk>) => AsyncIterable<string> = openAiEvents
  contentType = SSE_CONTENT_TYPE
  readonly server: Server = createServer((req, res) => {
    req.resume()
    void writeReply(res, { status: 200, stream: this.render(this.source), contentType: this.contentType, headers: { 'x-iicp-node-id': 'gated-node' } })
  })
  url = ''
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }
  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

describe('stream: true on /v1/chat/completions through a real mesh', () => {
  let dir: RunningDirectory
  let node: IicpNode
  let proxy: RunningProxy

  beforeAll(async () => {
    dir = await startDirectory({ port: 0 })
    node = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo({ models: ['echo-1'] }), host: '127.0.0.1', port: 0, persistState: false })
    await node.serve()
    proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0 })
  })
  afterAll(async () => {
    await proxy.close()
    await node.close()
    await dir.close()
  })

  it('yields OpenAI chunks to the openai package chunk by chunk: the answer, then the finish with usage', async () => {
    const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'unused-by-iicp', maxRetries: 0 })
    const { data: stream, response } = await openai.chat.completions
      .create({ model: 'echo-1', stream: true, messages: [{ role: 'user', content: 'stream me please' }] })
      .withResponse()
    expect(response.headers.get('x-iicp-node-id')).toBe(node.nodeId)
    expect(response.headers.get('x-iicp-attempts')).toBe('1')
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = []
    for await (const c of stream) chunks.push(c)
    expect(chunks.map((c) => [c.object, c.model, c.choices[0]?.delta, c.choices[0]?.finish_reason])).toEqual([
      ['chat.completion.chunk', 'echo-1', { role: 'assistant', content: 'echo: stream me please' }, null],
      ['chat.completion.chunk', 'echo-1', {}, 'stop'],
    ])
    expect(chunks[1]?.usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 })
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1)
  })

  it('sends text/event-stream with one data event per chunk and a final [DONE]', async () => {
    const res = await request(`${proxy.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'auto', stream: true, messages: [{ role: 'user', content: 'wire' }] }),
    })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(res.headers['cache-control']).toBe('no-cache')
    expect(res.headers['x-iicp-trace-id']).toMatch(/^[0-9a-f]{32}$/)
    const events = (await res.body.text()).split('\n\n')
    expect(events.at(-1)).toBe('')
    expect(events.at(-2)).toBe('data: [DONE]')
    expect(events.slice(0, -2).every((e) => e.startsWith('data: {'))).toBe(true)
    expect(events).toHaveLength(4)
  })

  it('answers a stream request for a model no node serves with a plain 404 before any event', async () => {
    const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'unused-by-iicp', maxRetries: 0 })
    await expect(openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] }))
      .rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })
})

/** A one-shot latch the test opens. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void
  const wait = new Promise<void>((resolve) => (open = resolve))
  return { wait, open }
}

/** A one-shot latch that carries a value. */
function outcome<T = boolean>(): { wait: Promise<T>; settle: (value: T) => void } {
  let settle!: (value: T) => void
  const wait = new Promise<T>((resolve) => (settle = resolve))
  return { wait, settle }
}

describe('stream: true through a node that streams over its native transport', () => {
  let dir: RunningDirectory
  let node: IicpNode
  let proxy: RunningProxy
  let gates: ReturnType<typeof gate>[] = []
  /** Settles with whether the handler's signal was aborted when the handler of the current test's stream ended. */
  let handlerEnded = outcome()
  const logs: ProxyRequestLog[] = []

  beforeAll(async () => {
    dir = await startDirectory({ port: 0 })
    node = new IicpNode({
      // Streams are plaintext (IICP-CX seals whole results), so this node offers no CX key and the proxy allows plaintext.
      directoryUrl: dir.apiUrl, host: '127.0.0.1', port: 0, persistState: false, cx: false,
      capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['stream-1'] }],
      // Yields word i, then waits for the test to open gate i: chunk i+1 cannot exist before the caller saw chunk i.
      // A cancelled task ends the wait through the handler's signal, as a backend call given ctx.signal would.
      handler: async function* (task, ctx) {
        const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }))
        // Taken now: a task left over from an earlier test reports to that test's latch, never to this one's.
        const ended = handlerEnded
        try {
          const fail = JSON.stringify(task.payload).includes('fail midway')
          for (const [i, word] of ['Hel', 'lo, ', 'world'].entries()) {
            yield { delta: word }
            await Promise.race([gates[i]?.wait, aborted])
            if (ctx.signal.aborted) return
            if (fail && i === 1) throw new IicpError('validation_error', 'refused mid-stream')
          }
        } finally {
          ended.settle(ctx.signal.aborted)
        }
      },
    })
    await node.serve()
    proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true }, port: 0, onRequest: (e) => logs.push(e) })
  })
  beforeEach(() => {
    gates = [gate(), gate(), gate()]
    handlerEnded = outcome()
    logs.length = 0
  })
  afterEach(() => {
    for (const g of gates) g.open()
  })
  afterAll(async () => {
    await proxy.close()
    await node.close()
    await dir.close()
  })

  it('hands the openai package each chunk as the node produces it, and names the node on the last chunk', async () => {
    const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'unused-by-iicp', maxRetries: 0 })
    const { data: stream, response } = await openai.chat.completions
      .create({ model: 'stream-1', stream: true, messages: [{ role: 'user', content: 'stream it' }] })
      .withResponse()
    expect(response.headers.get('x-iicp-trace-id')).toMatch(/^[0-9a-f]{32}$/)
    const texts: string[] = []
    let last: OpenAI.Chat.Completions.ChatCompletionChunk | undefined
    for await (const c of stream) {
      const text = c.choices[0]?.delta.content
      if (text) {
        texts.push(text)
        gates[texts.length - 1]?.open()
      }
      last = c
    }
    expect(texts).toEqual(['Hel', 'lo, ', 'world'])
    expect(last?.choices[0]?.finish_reason).toBe('stop')
    expect((last as unknown as { iicp?: { node_id?: string } }).iicp?.node_id).toBe(node.nodeId)
    expect(logs.map((l) => [l.status, l.nodeId])).toEqual([[200, node.nodeId]])
  })

  it('hands the ollama client each NDJSON part as the node produces it', async () => {
    const ollama = new Ollama({ host: proxy.url })
    const texts: string[] = []
    for await (const part of await ollama.chat({ model: 'stream-1', stream: true, messages: [{ role: 'user', content: 'stream it' }] })) {
      if (part.done) break
      texts.push(part.message.content)
      gates[texts.length - 1]?.open()
    }
    expect(texts).toEqual(['Hel', 'lo, ', 'world'])
  })

  it('hands @anthropic-ai/sdk each text delta as the node produces it', async () => {
    const client = new Anthropic({ baseURL: proxy.url, apiKey: 'unused-by-iicp', maxRetries: 0 })
    const texts: string[] = []
    const stream = await client.messages.create({ model: 'stream-1', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'stream it' }] })
    for await (const ev of stream) {
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') {
        texts.push(ev.delta.text)
        gates[texts.length - 1]?.open()
      }
    }
    expect(texts).toEqual(['Hel', 'lo, ', 'world'])
  })

  it('ends the stream with an in-band error the openai package raises when the node fails midway', async () => {
    const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'unused-by-iicp', maxRetries: 0 })
    const stream = await openai.chat.completions.create({ model: 'stream-1', stream: true, messages: [{ role: 'user', content: 'fail midway' }] })
    const texts: string[] = []
    const reading = (async () => {
      for await (const c of stream) {
        const text = c.choices[0]?.delta.content
        if (text) {
          texts.push(text)
          gates[texts.length - 1]?.open()
        }
      }
    })()
    await expect(reading).rejects.toMatchObject({ constructor: OpenAI.APIError, code: 'validation_error' })
    expect(texts).toEqual(['Hel', 'lo, '])
  })

  it('lets go of the stream at once when the caller stops reading midway, logs 499, and keeps serving', async () => {
    const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'unused-by-iicp', maxRetries: 0 })
    const stream = await openai.chat.completions.create({ model: 'stream-1', stream: true, messages: [{ role: 'user', content: 'stream it' }] })
    for await (const c of stream) {
      if (c.choices[0]?.delta.content) break
    }
    // Gate 0 stays shut, so the node is still inside the task: only the proxy letting go ends this request.
    // A ceiling for the proxy to see the hang-up, not a timing claim (the default 1 s is short on a loaded machine).
    await vi.waitFor(() => expect(logs.map((l) => [l.status, l.code])).toEqual([[499, 'aborted']]), { timeout: 15_000 })
    for (const g of gates) g.open()
    const again = await openai.chat.completions.create({ model: 'stream-1', messages: [{ role: 'user', content: 'after' }] })
    expect(again.choices[0]?.message.content).toBe('Hello, world')
  })

  it("stops the node's handler when the caller hangs up: its signal aborts while every gate is still shut", async () => {
    const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'unused-by-iicp', maxRetries: 0 })
    const stream = await openai.chat.completions.create({ model: 'stream-1', stream: true, messages: [{ role: 'user', content: 'stream it' }] })
    for await (const c of stream) {
      if (c.choices[0]?.delta.content) break
    }
    // No gate is opened before this resolves: only the task's cancellation can end the handler.
    expect(await handlerEnded.wait).toBe(true)
  })
})

describe('a caller hanging up on a streamed chat', () => {
  it('cancels the mesh call at once instead of waiting for the node, and logs 499', async () => {
    const dir = await startDirectory({ port: 0 })
    let entered!: () => void
    const inHandler = new Promise<void>((resolve) => (entered = resolve))
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const node = new IicpNode({
      directoryUrl: dir.apiUrl, host: '127.0.0.1', port: 0, persistState: false,
      capabilities: [{ intent: 'urn:iicp:intent:llm:chat:v1', models: ['slow-1'] }],
      handler: async () => {
        entered()
        await released
        return { choices: [{ index: 0, message: { role: 'assistant', content: 'too late' }, finish_reason: 'stop' }] }
      },
    })
    await node.serve()
    let logged!: (entry: ProxyRequestLog) => void
    const log = new Promise<ProxyRequestLog>((resolve) => (logged = resolve))
    const proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0, onRequest: (e) => logged(e) })
    try {
      const caller = new AbortController()
      const openai = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'unused-by-iicp', maxRetries: 0 })
      const pending = openai.chat.completions.create({ model: 'slow-1', stream: true, messages: [{ role: 'user', content: 'hang up on me' }] }, { signal: caller.signal })
      await inHandler
      caller.abort()
      await expect(pending).rejects.toBeInstanceOf(OpenAI.APIUserAbortError)
      // The node is still holding the task: only a cancelled mesh call lets the proxy finish the request now.
      const { latencyMs: _l, ...entry } = await log
      expect(entry).toEqual({ method: 'POST', path: '/v1/chat/completions', status: 499, nodeId: undefined, code: 'aborted' })
    } finally {
      release()
      await proxy.close()
      await node.close()
      await dir.close()
    }
  })
})

describe('the stream renderers behind the proxy reply writer, read by the official clients', () => {
  const srv = new StreamServer()
  const parts = [chunk('Hel'), chunk('lo, '), chunk('world'), chunk(undefined, 'stop')]

  beforeAll(() => srv.start())
  afterAll(() => srv.close())
  afterEach(() => {
    srv.render = openAiEvents
    srv.contentType = SSE_CONTENT_TYPE
  })

  it('delivers each OpenAI chunk to the openai package before the next chunk is produced', async () => {
    srv.source = new GatedSource(parts)
    const openai = new OpenAI({ baseURL: srv.url, apiKey: 'x', maxRetries: 0 })
    const stream = await openai.chat.completions.create({ model: 'gated-1', stream: true, messages: [{ role: 'user', content: 'x' }] })
    const seen: (string | null | undefined)[] = []
    for await (const c of stream) {
      seen.push(c.choices[0]?.delta.content ?? c.choices[0]?.finish_reason)
      expect(srv.source.produced).toBe(seen.length)
      srv.source.permit()
    }
    expect(seen).toEqual(['Hel', 'lo, ', 'world', 'stop'])
  })

  it('raises a failure after the first OpenAI chunk as an APIError carrying the IICP code', async () => {
    srv.source = new GatedSource(parts, 2)
    const openai = new OpenAI({ baseURL: srv.url, apiKey: 'x', maxRetries: 0 })
    const stream = await openai.chat.completions.create({ model: 'gated-1', stream: true, messages: [{ role: 'user', content: 'x' }] })
    const seen: string[] = []
    const failure = (async () => {
      for await (const c of stream) {
        seen.push(c.choices[0]?.delta.content ?? '')
        srv.source.permit()
      }
    })()
    await expect(failure).rejects.toMatchObject({ constructor: OpenAI.APIError, code: 'backend_error', message: 'The node failed mid-stream' })
    expect(seen).toEqual(['Hel', 'lo, '])
  })

  it('delivers Ollama NDJSON parts one by one to the ollama client, then the done part', async () => {
    srv.source = new GatedSource(parts)
    srv.render = (chunks) => ollamaLines(chunks, () => Date.UTC(2026, 0, 1), process.hrtime.bigint())
    srv.contentType = 'application/x-ndjson'
    const ollama = new Ollama({ host: srv.url })
    const seen: [string, boolean][] = []
    for await (const part of await ollama.chat({ model: 'gated-1', stream: true, messages: [{ role: 'user', content: 'x' }] })) {
      seen.push([part.message.content, part.done])
      if (!part.done) expect(srv.source.produced).toBe(seen.length)
      srv.source.permit()
    }
    expect(seen).toEqual([['Hel', false], ['lo, ', false], ['world', false], ['', true]])
  })

  it('ends an Ollama stream that fails midway with an error line the ollama client throws', async () => {
    srv.source = new GatedSource(parts, 1)
    srv.render = (chunks) => ollamaLines(chunks, Date.now, process.hrtime.bigint())
    srv.contentType = 'application/x-ndjson'
    const ollama = new Ollama({ host: srv.url })
    const seen: string[] = []
    const failure = (async () => {
      for await (const part of await ollama.chat({ model: 'gated-1', stream: true, messages: [{ role: 'user', content: 'x' }] })) {
        seen.push(part.message.content)
        srv.source.permit()
      }
    })()
    await expect(failure).rejects.toThrow('The node failed mid-stream')
    expect(seen).toEqual(['Hel'])
  })

  it('delivers Anthropic text deltas one by one to @anthropic-ai/sdk inside the full event sequence', async () => {
    srv.source = new GatedSource(parts)
    srv.render = anthropicEvents
    const client = new Anthropic({ baseURL: srv.url, apiKey: 'x', maxRetries: 0 })
    const stream = await client.messages.create({ model: 'gated-1', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'x' }] })
    const types: string[] = []
    const texts: string[] = []
    for await (const ev of stream) {
      types.push(ev.type)
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') {
        texts.push(ev.delta.text)
        expect(srv.source.produced).toBe(texts.length)
        srv.source.permit()
      }
      if (ev.type === 'message_delta') expect(ev.usage.output_tokens).toBe(3)
    }
    expect(texts).toEqual(['Hel', 'lo, ', 'world'])
    expect(types).toEqual([
      'message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_delta',
      'content_block_stop', 'message_delta', 'message_stop',
    ])
  })

  it('ends an Anthropic stream that fails midway with an error event the SDK raises as APIError', async () => {
    srv.source = new GatedSource(parts, 2)
    srv.render = anthropicEvents
    const client = new Anthropic({ baseURL: srv.url, apiKey: 'x', maxRetries: 0 })
    const stream = await client.messages.create({ model: 'gated-1', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'x' }] })
    const texts: string[] = []
    const failure = (async () => {
      for await (const ev of stream) {
        if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') {
          texts.push(ev.delta.text)
          srv.source.permit()
        }
      }
    })()
    await expect(failure).rejects.toMatchObject({ constructor: Anthropic.APIError, type: 'api_error', errorCode: 'backend_error' })
    expect(texts).toEqual(['Hel', 'lo, '])
  })
})
