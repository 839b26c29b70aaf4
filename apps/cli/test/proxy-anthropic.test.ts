/**
 * `iicp proxy`'s Anthropic-compatible `POST /v1/messages` with the official `@anthropic-ai/sdk` client pointed at
 * the proxy: a buffered message, the streamed event sequence read by `messages.create({stream: true})` and by the
 * SDK's `messages.stream()` helper, the translation of system prompts, content blocks and limits into the IICP chat
 * payload (checked at the node), and errors in Anthropic's `{"type":"error"}` shape that the SDK raises by class.
 * A real directory, real nodes and the proxy all run on 127.0.0.1 in this process; nothing is mocked.
 */
import Anthropic from '@anthropic-ai/sdk'
import fc from 'fast-check'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import { startProxy } from '../src/proxy/server.js'
import type { RunningProxy } from '../src/proxy/server.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'

function anthropic(proxy: RunningProxy): Anthropic {
  // maxRetries 0: the SDK would otherwise retry 5xx answers and hide what the proxy answered first.
  return new Anthropic({ baseURL: proxy.url, apiKey: 'unused-by-iicp', maxRetries: 0 })
}

async function apiError(promise: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  try {
    await promise
  } catch (err) {
    if (err instanceof Anthropic.APIError) return err
    throw err
  }
  throw new Error('expected the Anthropic client to throw an APIError')
}

describe('the Anthropic-compatible proxy in front of an echo node and a recording node', () => {
  let dir: RunningDirectory
  let echoNode: IicpNode
  let recorder: IicpNode
  let proxy: RunningProxy
  const payloads: unknown[] = []

  beforeAll(async () => {
    dir = await startDirectory({ port: 0 })
    echoNode = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo({ models: ['echo-1'] }), host: '127.0.0.1', port: 0, persistState: false })
    recorder = new IicpNode({
      directoryUrl: dir.apiUrl, host: '127.0.0.1', port: 0, persistState: false,
      capabilities: [{ intent: CHAT, models: ['claude-local'] }],
      handler: async (task) => {
        payloads.push(task.payload)
        return {
          model: 'claude-local',
          choices: [{ index: 0, message: { role: 'assistant', content: 'cut short' }, finish_reason: 'length' }],
          usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 },
        }
      },
    })
    await Promise.all([echoNode.serve(), recorder.serve()])
    proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0 })
  })
  afterAll(async () => {
    await proxy.close()
    await Promise.all([echoNode.close(), recorder.close()])
    await dir.close()
  })

  it('answers messages.create with one text block from the node and names the route in headers', async () => {
    const { data, response } = await anthropic(proxy).messages
      .create({ model: 'echo-1', max_tokens: 64, messages: [{ role: 'user', content: 'hi from claude' }] })
      .withResponse()
    expect(data.type).toBe('message')
    expect(data.role).toBe('assistant')
    expect(data.id).toMatch(/^msg_/)
    expect(data.model).toBe('echo-1')
    expect(data.content).toEqual([{ type: 'text', text: 'echo: hi from claude' }])
    expect(data.stop_reason).toBe('end_turn')
    expect(data.stop_sequence).toBeNull()
    expect(data.usage).toEqual({ input_tokens: 3, output_tokens: 4 })
    expect(response.headers.get('x-iicp-node-id')).toBe(echoNode.nodeId)
    const traceId = response.headers.get('x-iicp-trace-id')
    expect(traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(response.headers.get('x-iicp-attempts')).toBe('1')
    expect(response.headers.get('request-id')).toBe(`req_${traceId}`)
  })

  it("streams Anthropic's event sequence that messages.create({stream: true}) reads event by event", async () => {
    const stream = await anthropic(proxy).messages.create({ model: 'echo-1', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'stream me' }] })
    const types: string[] = []
    let text = ''
    for await (const ev of stream) {
      types.push(ev.type)
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text
      if (ev.type === 'message_delta') expect(ev.delta.stop_reason).toBe('end_turn')
    }
    expect(types).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
    expect(text).toBe('echo: stream me')
  })

  it("sends the event names on the wire, ping included, as Anthropic's API does", async () => {
    const res = await request(`${proxy.url}/v1/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'echo-1', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'wire' }] }),
    })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(res.headers['x-iicp-node-id']).toBe(echoNode.nodeId)
    const events = (await res.body.text()).split('\n\n').filter((e) => e.length > 0).map((e) => {
      const [name, data] = e.split('\n')
      return { name: name?.replace('event: ', ''), type: (JSON.parse(data?.replace('data: ', '') ?? '') as { type: string }).type }
    })
    expect(events.map((e) => e.name)).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
    expect(events.every((e) => e.name === e.type)).toBe(true)
  })

  it("assembles the stream into the final message with the SDK's messages.stream() helper", async () => {
    const final = await anthropic(proxy).messages.stream({ model: 'claude-local', max_tokens: 2, messages: [{ role: 'user', content: 'long story' }] }).finalMessage()
    expect(final.content).toEqual([{ type: 'text', text: 'cut short' }])
    expect(final.stop_reason).toBe('max_tokens')
    expect(final.usage).toMatchObject({ input_tokens: 11, output_tokens: 2 })
  })

  it('hands the node an OpenAI chat payload: system first, text blocks joined, images as image parts, limits kept', async () => {
    payloads.length = 0
    const res = await anthropic(proxy).messages.create({
      model: 'claude-local', max_tokens: 50,
      system: [{ type: 'text', text: 'be brief' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'text', text: 'second' }] },
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0K' } }] },
      ],
    })
    expect(res.stop_reason).toBe('max_tokens')
    expect(payloads).toEqual([{
      model: 'claude-local', max_tokens: 50,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'first\nsecond' },
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0K' } }] },
      ],
    }])
  })

  it('lists the mesh models with the SDK\'s models.list() and retrieves one, on the path OpenAI clients share', async () => {
    const ids: string[] = []
    for await (const m of anthropic(proxy).models.list()) ids.push(m.id)
    expect(ids).toEqual(['claude-local', 'echo-1', 'auto'])
    const one = await anthropic(proxy).models.retrieve('echo-1')
    expect(one).toMatchObject({ type: 'model', id: 'echo-1', display_name: 'echo-1', created_at: '1970-01-01T00:00:00.000Z' })
  })

  it('names itself iicp-proxy in the Server header, as the official proxies do', async () => {
    const { response } = await anthropic(proxy).messages.create({ model: 'echo-1', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }).withResponse()
    expect(response.headers.get('server')).toBe('iicp-proxy')
    const failed = await request(`${proxy.url}/v1/messages`)
    expect(failed.headers.server).toBe('iicp-proxy')
    await failed.body.dump()
  })

  it('raises a model no node serves as NotFoundError with the IICP code as errorCode', async () => {
    const err = await apiError(anthropic(proxy).messages.create({ model: 'claude-opus-4', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }))
    expect(err).toBeInstanceOf(Anthropic.NotFoundError)
    expect(err.status).toBe(404)
    expect(err.type).toBe('not_found_error')
    expect(err.errorCode).toBe('model_not_found')
    expect(err.error).toEqual({
      type: 'error',
      error: { type: 'not_found_error', message: "The model 'claude-opus-4' does not exist or no IICP node serves it", details: { error_code: 'model_not_found' } },
    })
  })

  it('raises the same NotFoundError before any event when the stream was asked for', async () => {
    const err = await apiError(anthropic(proxy).messages.create({ model: 'claude-opus-4', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'x' }] }))
    expect(err).toBeInstanceOf(Anthropic.NotFoundError)
  })

  it('refuses tools and stop sequences with a BadRequestError instead of ignoring them', async () => {
    const tools = await apiError(anthropic(proxy).messages.create({
      model: 'echo-1', max_tokens: 8, messages: [{ role: 'user', content: 'x' }],
      tools: [{ name: 'f', input_schema: { type: 'object', properties: {} } }],
    }))
    expect(tools).toBeInstanceOf(Anthropic.BadRequestError)
    expect(tools.type).toBe('invalid_request_error')
    expect(tools.errorCode).toBe('unsupported_parameter')
    const stops = await apiError(anthropic(proxy).messages.create({ model: 'echo-1', max_tokens: 8, stop_sequences: ['END'], messages: [{ role: 'user', content: 'x' }] }))
    expect(stops).toBeInstanceOf(Anthropic.BadRequestError)
  })

  it("answers malformed requests on /v1/messages in Anthropic's error shape", async () => {
    const post = (body: string) => request(`${proxy.url}/v1/messages`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
    const badJson = await post('{nope')
    expect(badJson.statusCode).toBe(400)
    expect(badJson.headers['x-iicp-error-code']).toBe('invalid_json')
    expect(await badJson.body.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'The request body is not valid JSON', details: { error_code: 'invalid_json' } } })

    const noMax = await post(JSON.stringify({ model: 'echo-1', messages: [{ role: 'user', content: 'x' }] }))
    expect(noMax.statusCode).toBe(400)
    expect(((await noMax.body.json()) as { error: { message: string } }).error.message).toBe('max_tokens: Field required')

    const systemRole = await post(JSON.stringify({ model: 'echo-1', max_tokens: 8, messages: [{ role: 'system', content: 'x' }] }))
    expect(systemRole.statusCode).toBe(400)
    expect(((await systemRole.body.json()) as { error: { message: string } }).error.message).toBe("messages.0.role: must be 'user' or 'assistant'")

    const hot = await post(JSON.stringify({ model: 'echo-1', max_tokens: 8, temperature: 1.5, messages: [{ role: 'user', content: 'x' }] }))
    expect(hot.statusCode).toBe(400)

    const wrongMethod = await request(`${proxy.url}/v1/messages`)
    expect(wrongMethod.statusCode).toBe(405)
    expect(await wrongMethod.body.json()).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'Method GET not allowed on /v1/messages; use POST', details: { error_code: 'method_not_allowed' } } })
  })
})

describe('the Anthropic-compatible proxy under malformed input', () => {
  // Many real round trips: about a second on an idle machine, so the 20 s default is short on a heavily loaded machine.
  it('answers any JSON body with a success or a 4xx in Anthropic\'s error shape, never a 5xx or HTML', { timeout: 120_000 }, async () => {
    const dir = await startDirectory({ port: 0 })
    const node = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo({ models: ['echo-1'] }), host: '127.0.0.1', port: 0, persistState: false })
    await node.serve()
    const proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0 })
    const text = fc.oneof(fc.string(), fc.constant('hi'))
    const block = fc.oneof(
      fc.record({ type: fc.constantFrom('text', 'image', 'tool_use', 'document'), text: fc.anything(), source: fc.anything() }, { requiredKeys: ['type'] }),
      fc.anything(),
    )
    const message = fc.record({ role: fc.constantFrom('user', 'assistant', 'system', 'tool', 7), content: fc.oneof(text, fc.array(block, { maxLength: 3 }), fc.anything()) }, { requiredKeys: [] })
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record({
        model: fc.constantFrom('echo-1', 'auto', '', 'nope', 3),
        max_tokens: fc.oneof(fc.integer({ min: -2, max: 100 }), fc.double(), fc.string()),
        messages: fc.oneof(fc.array(message, { maxLength: 3 }), fc.anything()),
        system: fc.oneof(text, fc.array(block, { maxLength: 2 }), fc.anything()),
        temperature: fc.oneof(fc.double(), fc.anything()),
        stop_sequences: fc.anything(),
        tools: fc.anything(),
      }, { requiredKeys: [] }),
    )
    try {
      await fc.assert(fc.asyncProperty(body, async (b) => {
        const res = await request(`${proxy.url}/v1/messages`, { method: 'POST', body: JSON.stringify(b) ?? 'null', headers: { 'content-type': 'application/json' } })
        const raw = await res.body.text()
        if (res.statusCode === 200) return
        expect(res.statusCode).toBeGreaterThanOrEqual(400)
        expect(res.statusCode).toBeLessThan(500)
        expect(res.headers['content-type']).toBe('application/json')
        const parsed = JSON.parse(raw) as { type: unknown; error: { type: unknown; message: unknown } }
        expect(parsed.type).toBe('error')
        expect(typeof parsed.error.type).toBe('string')
        expect(typeof parsed.error.message).toBe('string')
      }), { numRuns: 150 })
    } finally {
      await proxy.close()
      await node.close()
      await dir.close()
    }
  })
})

describe('the Anthropic-compatible proxy when the mesh cannot serve', () => {
  it('answers on an empty mesh with a 503 overloaded_error the SDK raises as InternalServerError', async () => {
    const dir = await startDirectory({ port: 0 })
    const proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0 })
    try {
      const err = await apiError(anthropic(proxy).messages.create({ model: 'echo-1', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'anyone?' }] }))
      expect(err).toBeInstanceOf(Anthropic.InternalServerError)
      expect(err.status).toBe(503)
      expect(err.type).toBe('overloaded_error')
      expect(err.errorCode).toBe('no_available_node')
    } finally {
      await proxy.close()
      await dir.close()
    }
  })
})
