/**
 * `iicp proxy`'s Ollama-compatible endpoints with the official `ollama` npm client pointed at the proxy: chat
 * buffered and streamed (NDJSON), the model list from the directory, `name:latest` spellings, the translation of
 * options and images into the IICP chat payload (checked at the node), and errors in Ollama's `{"error"}` shape.
 * A real directory, real nodes and the proxy all run on 127.0.0.1 in this process; nothing is mocked.
 */
import { Ollama } from 'ollama'
import type { ChatResponse } from 'ollama'
import fc from 'fast-check'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import { IicpError } from '@iicp/protocol'
import { startProxy } from '../src/proxy/server.js'
import type { RunningProxy } from '../src/proxy/server.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'

async function responseError(promise: Promise<unknown>): Promise<{ error: string; status_code: number }> {
  try {
    await promise
  } catch (err) {
    if (err instanceof Error && err.name === 'ResponseError') return err as unknown as { error: string; status_code: number }
    throw err
  }
  throw new Error('expected the ollama client to throw a ResponseError')
}

describe('the Ollama-compatible proxy in front of an echo node and a recording node', () => {
  let dir: RunningDirectory
  let echoNode: IicpNode
  let recorder: IicpNode
  let proxy: RunningProxy
  let ollama: Ollama
  const payloads: unknown[] = []

  beforeAll(async () => {
    dir = await startDirectory({ port: 0 })
    echoNode = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo({ models: ['echo-1'] }), host: '127.0.0.1', port: 0, persistState: false })
    recorder = new IicpNode({
      directoryUrl: dir.apiUrl, host: '127.0.0.1', port: 0, persistState: false,
      capabilities: [{ intent: CHAT, models: ['llava:latest'] }],
      handler: async (task) => {
        payloads.push(task.payload)
        return {
          model: 'llava:latest',
          choices: [{ index: 0, message: { role: 'assistant', content: 'recorded' }, finish_reason: 'length' }],
          usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
        }
      },
    })
    await Promise.all([echoNode.serve(), recorder.serve()])
    proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0 })
    ollama = new Ollama({ host: proxy.url })
  })
  afterAll(async () => {
    await proxy.close()
    await Promise.all([echoNode.close(), recorder.close()])
    await dir.close()
  })

  it('answers ollama.chat without streaming as one done message from the node', async () => {
    const res = await ollama.chat({ model: 'echo-1', messages: [{ role: 'user', content: 'hi from ollama' }], stream: false })
    expect(res.model).toBe('echo-1')
    expect(res.message).toEqual({ role: 'assistant', content: 'echo: hi from ollama' })
    expect(res.done).toBe(true)
    expect(res.done_reason).toBe('stop')
    expect(res.prompt_eval_count).toBe(3)
    expect(res.eval_count).toBe(4)
    expect(Number.isNaN(Date.parse(String(res.created_at)))).toBe(false)
  })

  it('streams ollama.chat as NDJSON parts that end with a done part', async () => {
    const parts: ChatResponse[] = []
    for await (const part of await ollama.chat({ model: 'echo-1', messages: [{ role: 'user', content: 'stream me' }], stream: true })) parts.push(part)
    expect(parts.map((p) => p.message.content).join('')).toBe('echo: stream me')
    expect(parts.map((p) => p.done)).toEqual([false, true])
    expect(parts.at(-1)).toMatchObject({ model: 'echo-1', done_reason: 'stop', message: { role: 'assistant', content: '' }, eval_count: 3 })
  })

  it('streams NDJSON by default, as Ollama does, with the x-iicp route headers', async () => {
    const res = await request(`${proxy.url}/api/chat`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'echo-1', messages: [{ role: 'user', content: 'default' }] }),
    })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/x-ndjson')
    expect(res.headers['x-iicp-node-id']).toBe(echoNode.nodeId)
    expect(res.headers['x-iicp-trace-id']).toMatch(/^[0-9a-f]{32}$/)
    expect(res.headers['x-iicp-attempts']).toBe('1')
    const lines = (await res.body.text()).split('\n')
    expect(lines.at(-1)).toBe('')
    const parsed = lines.slice(0, -1).map((l) => JSON.parse(l) as { done: boolean; message: { content: string } })
    expect(parsed.map((p) => [p.done, p.message.content])).toEqual([[false, 'echo: default'], [true, '']])
  })

  it('lists the mesh models with ollama.list(), plus auto', async () => {
    const { models } = await ollama.list()
    expect(models.map((m) => m.name)).toEqual(['echo-1', 'llava:latest', 'auto'])
    expect(models[0]).toMatchObject({ name: 'echo-1', model: 'echo-1', size: 0, details: { format: '', families: [] } })
  })

  it('accepts both spellings of a model, with and without :latest', async () => {
    const bare = await ollama.chat({ model: 'llava', messages: [{ role: 'user', content: 'a' }], stream: false })
    expect(bare.message.content).toBe('recorded')
    const tagged = await ollama.chat({ model: 'echo-1:latest', messages: [{ role: 'user', content: 'b' }], stream: false })
    expect(tagged.message.content).toBe('echo: b')
  })

  it('hands the node an OpenAI chat payload: options become max_tokens and temperature, images become image parts', async () => {
    payloads.length = 0
    const png = 'iVBORw0KGgoAAAANSUhEUg=='
    const res = await ollama.chat({
      model: 'llava:latest', stream: false,
      options: { num_predict: 32, temperature: 0.25 },
      messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'what is this?', images: [png] }],
    })
    expect(res.done_reason).toBe('length')
    expect(res.prompt_eval_count).toBe(7)
    expect(payloads).toEqual([{
      model: 'llava:latest', max_tokens: 32, temperature: 0.25,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } }] },
      ],
    }])
  })

  it('reports the API version the client speaks', async () => {
    expect(await ollama.version()).toEqual({ version: '0.6.4' })
  })

  it('raises a model no node serves as a 404 ResponseError', async () => {
    const err = await responseError(ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'x' }], stream: false }))
    expect(err.status_code).toBe(404)
    expect(err.error).toBe("The model 'llama3.2' does not exist or no IICP node serves it")
  })

  it('raises the same 404 before streaming starts when the stream was asked for', async () => {
    const err = await responseError(ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'x' }], stream: true }))
    expect(err.status_code).toBe(404)
  })

  it('refuses tools and structured output with a 400 instead of ignoring them', async () => {
    const tools = await responseError(ollama.chat({
      model: 'echo-1', stream: false, messages: [{ role: 'user', content: 'x' }],
      tools: [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object', properties: {} } } }],
    }))
    expect(tools).toMatchObject({ status_code: 400, error: 'tools are not supported through the IICP proxy' })
    const format = await responseError(ollama.chat({ model: 'echo-1', stream: false, format: 'json', messages: [{ role: 'user', content: 'x' }] }))
    expect(format).toMatchObject({ status_code: 400, error: 'format is not supported through the IICP proxy' })
  })

  it("answers malformed requests on /api with Ollama's JSON error shape and the IICP code in a header", async () => {
    const badJson = await request(`${proxy.url}/api/chat`, { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } })
    expect(badJson.statusCode).toBe(400)
    expect(badJson.headers['content-type']).toBe('application/json')
    expect(badJson.headers['x-iicp-error-code']).toBe('invalid_json')
    expect(await badJson.body.json()).toEqual({ error: 'The request body is not valid JSON' })

    const noModel = await request(`${proxy.url}/api/chat`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) })
    expect(noModel.statusCode).toBe(400)
    expect(await noModel.body.json()).toEqual({ error: 'model is required' })

    const badRole = await request(`${proxy.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'echo-1', messages: [{ role: 'robot', content: 'x' }] }) })
    expect(badRole.statusCode).toBe(400)
    expect(await badRole.body.json()).toEqual({ error: 'messages[0] needs a role of system, user, assistant or tool' })

    const unknown = await request(`${proxy.url}/api/generate`, { method: 'POST', body: '{}' })
    expect(unknown.statusCode).toBe(404)
    expect(await unknown.body.json()).toEqual({ error: 'Unknown request URL: POST /api/generate' })

    const wrongMethod = await request(`${proxy.url}/api/tags`, { method: 'POST', body: '{}' })
    expect(wrongMethod.statusCode).toBe(405)
    expect(await wrongMethod.body.json()).toEqual({ error: 'Method POST not allowed on /api/tags; use GET' })
  })
})

describe('the Ollama-compatible proxy under malformed input', () => {
  // Many real round trips: about a second on an idle machine, so the 20 s default is short on a heavily loaded machine.
  it('answers any JSON body with a success or a 4xx in Ollama\'s error shape, never a 5xx or HTML', { timeout: 120_000 }, async () => {
    const dir = await startDirectory({ port: 0 })
    const node = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo({ models: ['echo-1'] }), host: '127.0.0.1', port: 0, persistState: false })
    await node.serve()
    const proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0 })
    const message = fc.record({
      role: fc.constantFrom('user', 'assistant', 'system', 'tool', 'robot', 1),
      content: fc.oneof(fc.string(), fc.anything()),
      images: fc.oneof(fc.array(fc.base64String(), { maxLength: 2 }), fc.anything()),
    }, { requiredKeys: [] })
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record({
        model: fc.constantFrom('echo-1', 'echo-1:latest', 'auto', '', 'nope', 3),
        messages: fc.oneof(fc.array(message, { maxLength: 3 }), fc.anything()),
        options: fc.oneof(fc.record({ num_predict: fc.oneof(fc.integer({ min: -3, max: 50 }), fc.anything()), temperature: fc.oneof(fc.double(), fc.anything()) }, { requiredKeys: [] }), fc.anything()),
        stream: fc.oneof(fc.boolean(), fc.anything()),
        format: fc.anything(),
        tools: fc.anything(),
      }, { requiredKeys: [] }),
    )
    try {
      await fc.assert(fc.asyncProperty(body, async (b) => {
        const res = await request(`${proxy.url}/api/chat`, { method: 'POST', body: JSON.stringify(b) ?? 'null', headers: { 'content-type': 'application/json' } })
        const raw = await res.body.text()
        if (res.statusCode === 200) return
        expect(res.statusCode).toBeGreaterThanOrEqual(400)
        expect(res.statusCode).toBeLessThan(500)
        expect(res.headers['content-type']).toBe('application/json')
        const parsed = JSON.parse(raw) as Record<string, unknown>
        expect(Object.keys(parsed)).toEqual(['error'])
        expect(typeof parsed.error).toBe('string')
      }), { numRuns: 150 })
    } finally {
      await proxy.close()
      await node.close()
      await dir.close()
    }
  })
})

describe('the Ollama-compatible proxy when the mesh cannot serve', () => {
  it('answers a chat on an empty mesh with a 503 and an empty model list', async () => {
    const dir = await startDirectory({ port: 0 })
    const proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0 })
    try {
      const ollama = new Ollama({ host: proxy.url })
      const err = await responseError(ollama.chat({ model: 'echo-1', messages: [{ role: 'user', content: 'anyone?' }], stream: true }))
      expect(err.status_code).toBe(503)
      expect(err.error).toContain('No IICP node serves chat')
      expect(await ollama.list()).toEqual({ models: [] })
    } finally {
      await proxy.close()
      await dir.close()
    }
  })

  /** A mesh whose one node refuses every input with validation_error; returns the proxy's raw answer to a chat. */
  async function refusedChat(stream: boolean): Promise<{ status: number; code: unknown; type: unknown; body: Record<string, unknown> }> {
    const dir = await startDirectory({ port: 0 })
    const node = new IicpNode({
      directoryUrl: dir.apiUrl, host: '127.0.0.1', port: 0, persistState: false,
      capabilities: [{ intent: CHAT, models: ['broken-1'] }],
      handler: async () => {
        throw new IicpError('validation_error', 'Input validation failed')
      },
    })
    await node.serve()
    const proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0 })
    try {
      const res = await request(`${proxy.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'broken-1', stream, messages: [{ role: 'user', content: 'secret words' }] }) })
      return { status: res.statusCode, code: res.headers['x-iicp-error-code'], type: res.headers['content-type'], body: (await res.body.json()) as Record<string, unknown> }
    } finally {
      await proxy.close()
      await node.close()
      await dir.close()
    }
  }

  it("answers a node that refuses the input with a 400 in Ollama's shape, without echoing the prompt", async () => {
    const res = await refusedChat(false)
    expect(res).toEqual({ status: 400, code: 'validation_error', type: 'application/json', body: { error: 'Input validation failed' } })
  })

  it("answers a streamed chat the node refuses in Ollama's shape before any part is sent", async () => {
    const res = await refusedChat(true)
    expect(res.type).toBe('application/json')
    expect(Object.keys(res.body)).toEqual(['error'])
    expect(JSON.stringify(res.body)).not.toContain('secret words')
  })

  it("passes a node's validation_error through a streamed chat as 400, without retrying it on other nodes", async () => {
    const res = await refusedChat(true)
    expect([res.status, res.code]).toEqual([400, 'validation_error'])
  })
})
