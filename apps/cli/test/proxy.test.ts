/**
 * `iicp proxy` with the official `openai` package as the client (streaming off unless a case says so):
 * a chat routed through a real directory and echo node, the model list from discover, and OpenAI-shaped
 * errors for an unknown model, an empty mesh, an unreachable directory and malformed HTTP. Everything runs
 * on 127.0.0.1 in this process; nothing is mocked.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import OpenAI from 'openai'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDirectory } from '@iicp/directory'
import type { RunningDirectory } from '@iicp/directory'
import { IicpNode, echo } from '@iicp/node'
import { startProxy } from '../src/proxy/server.js'
import type { ProxyRequestLog, RunningProxy } from '../src/proxy/server.js'
import { closedPort } from './run-cli.js'

function openai(proxy: RunningProxy): OpenAI {
  // maxRetries 0: the SDK would otherwise retry the 5xx cases and hide what the proxy answered first.
  return new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'unused-by-iicp', maxRetries: 0 })
}

async function apiError(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await promise
  } catch (err) {
    if (err instanceof OpenAI.APIError) return err
    throw err
  }
  throw new Error('expected the OpenAI client to throw an APIError')
}

describe('the proxy in front of a mesh with one echo node', () => {
  let dir: RunningDirectory
  let node: IicpNode
  let proxy: RunningProxy
  const logs: ProxyRequestLog[] = []

  beforeAll(async () => {
    dir = await startDirectory({ port: 0 })
    node = new IicpNode({ directoryUrl: dir.apiUrl, backend: echo({ models: ['echo-1'] }), host: '127.0.0.1', port: 0, persistState: false })
    await node.serve()
    proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0, onRequest: (e) => logs.push(e) })
  })
  afterAll(async () => {
    await proxy.close()
    await node.close()
    await dir.close()
  })

  it('answers chat.completions.create through the node and names the node and trace in headers', async () => {
    const { data, response } = await openai(proxy).chat.completions
      .create({ model: 'echo-1', messages: [{ role: 'user', content: 'hi from openai' }] })
      .withResponse()
    expect(data.object).toBe('chat.completion')
    expect(data.model).toBe('echo-1')
    expect(data.choices[0]?.message.content).toBe('echo: hi from openai')
    expect(data.choices[0]?.finish_reason).toBe('stop')
    expect(response.headers.get('x-iicp-node-id')).toBe(node.nodeId)
    expect(response.headers.get('x-iicp-trace-id')).toMatch(/^[0-9a-f]{32}$/)
    expect(response.headers.get('x-iicp-attempts')).toBe('1')
  })

  it('reports each answered request to onRequest without bodies', async () => {
    logs.length = 0
    await openai(proxy).chat.completions.create({ model: 'echo-1', messages: [{ role: 'user', content: 'secret prompt text' }] })
    await apiError(openai(proxy).chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }))
    expect(logs.map(({ latencyMs: _l, ...rest }) => rest)).toEqual([
      { method: 'POST', path: '/v1/chat/completions', status: 200, nodeId: node.nodeId, code: undefined },
      { method: 'POST', path: '/v1/chat/completions', status: 404, nodeId: undefined, code: 'model_not_found' },
    ])
    expect(JSON.stringify(logs)).not.toContain('secret prompt')
  })

  it('routes model "auto" to any chat node', async () => {
    const res = await openai(proxy).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'any' }] })
    expect(res.choices[0]?.message.content).toBe('echo: any')
  })

  it('lists the mesh models with models.list()', async () => {
    const ids: string[] = []
    for await (const m of openai(proxy).models.list()) ids.push(m.id)
    expect(ids).toEqual(['echo-1', 'auto'])
    const one = await openai(proxy).models.retrieve('echo-1')
    expect(one).toMatchObject({ id: 'echo-1', object: 'model', owned_by: 'iicp' })
  })

  it('answers a model no node serves with a 404 model_not_found the SDK raises as NotFoundError', async () => {
    const err = await apiError(openai(proxy).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }))
    expect(err).toBeInstanceOf(OpenAI.NotFoundError)
    expect(err.status).toBe(404)
    expect(err.code).toBe('model_not_found')
    expect(err.type).toBe('invalid_request_error')
    expect(err.param).toBe('model')
    expect(err.message).toContain("The model 'gpt-4o' does not exist")
  })

  it('rejects empty messages with a 400 naming the parameter', async () => {
    const err = await apiError(openai(proxy).chat.completions.create({ model: 'echo-1', messages: [] }))
    expect(err).toBeInstanceOf(OpenAI.BadRequestError)
    expect(err.param).toBe('messages')
    expect(err.type).toBe('invalid_request_error')
  })

  it('streams when asked: the whole reply as one delta, then the finish, then [DONE]', async () => {
    const stream = await openai(proxy).chat.completions.create({ model: 'echo-1', stream: true, messages: [{ role: 'user', content: 'stream me' }] })
    let text = ''
    const finishes: (string | null)[] = []
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ''
      finishes.push(chunk.choices[0]?.finish_reason ?? null)
    }
    expect(text).toBe('echo: stream me')
    expect(finishes).toEqual([null, 'stop'])
  })

  it('answers malformed HTTP with OpenAI-shaped JSON errors, never HTML', async () => {
    const badJson = await request(`${proxy.url}/v1/chat/completions`, { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } })
    expect(badJson.statusCode).toBe(400)
    expect(badJson.headers['content-type']).toBe('application/json')
    expect(await badJson.body.json()).toEqual({ error: { message: 'The request body is not valid JSON', type: 'invalid_request_error', param: null, code: 'invalid_json' } })

    const unknown = await request(`${proxy.url}/v1/embeddings/nothing`)
    expect(unknown.statusCode).toBe(404)
    expect(await unknown.body.json()).toEqual({ error: { message: 'Unknown request URL: GET /v1/embeddings/nothing', type: 'invalid_request_error', param: null, code: 'unknown_url' } })

    const wrongMethod = await request(`${proxy.url}/v1/chat/completions`)
    expect(wrongMethod.statusCode).toBe(405)
    expect(((await wrongMethod.body.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed')
  })
})

describe('the proxy when the mesh cannot serve', () => {
  it('answers with a 503 no_available_node when the directory lists no nodes', async () => {
    const dir = await startDirectory({ port: 0 })
    const proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0 })
    try {
      const err = await apiError(openai(proxy).chat.completions.create({ model: 'echo-1', messages: [{ role: 'user', content: 'anyone?' }] }))
      expect(err).toBeInstanceOf(OpenAI.InternalServerError)
      expect(err.status).toBe(503)
      expect(err.code).toBe('no_available_node')
      expect(err.type).toBe('server_error')
      expect(err.message).toContain('No IICP node serves chat')
      const models = await openai(proxy).models.list()
      expect(models.data).toEqual([])
    } finally {
      await proxy.close()
      await dir.close()
    }
  })

  it('answers with a 502 directory_unreachable when the directory is down', async () => {
    const port = await closedPort()
    const proxy = await startProxy({ client: { directoryUrl: `http://127.0.0.1:${port}/api`, allowPrivateEndpoints: true }, port: 0 })
    try {
      const err = await apiError(openai(proxy).chat.completions.create({ model: 'echo-1', messages: [{ role: 'user', content: 'hello?' }] }))
      expect(err.status).toBe(502)
      expect(err.code).toBe('directory_unreachable')
      expect(err.error).toEqual({ message: `Cannot reach the IICP directory at http://127.0.0.1:${port}/api`, type: 'server_error', param: null, code: 'directory_unreachable' })
    } finally {
      await proxy.close()
    }
  })

  it('answers with a 502 directory_invalid when --directory is some other web server', async () => {
    const web = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' })
      res.end('<html>404</html>')
    })
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(web.address() as AddressInfo).port}/api`
    const proxy = await startProxy({ client: { directoryUrl: url, allowPrivateEndpoints: true }, port: 0 })
    try {
      const err = await apiError(openai(proxy).chat.completions.create({ model: 'echo-1', messages: [{ role: 'user', content: 'hi' }] }))
      expect(err.status).toBe(502)
      expect(err.error).toEqual({ message: `${url} did not answer like an IICP directory`, type: 'server_error', param: null, code: 'directory_invalid' })
    } finally {
      await proxy.close()
      await new Promise<void>((resolve) => web.close(() => resolve()))
    }
  })

  it('refuses bad options with invalid_config before listening', async () => {
    await expect(startProxy({ client: {}, port: 70000 })).rejects.toMatchObject({ code: 'invalid_config', message: 'proxy option port must be an integer from 0 to 65535' })
    await expect(startProxy({ client: { timeoutMs: 0 }, port: 0 })).rejects.toMatchObject({ code: 'invalid_config' })
  })

  it('closes idempotently and frees its port', async () => {
    const proxy = await startProxy({ client: { directoryUrl: 'http://127.0.0.1:9/api', allowPrivateEndpoints: true }, port: 0 })
    await Promise.all([proxy.close(), proxy.close()])
    await proxy.close()
    const again = await startProxy({ client: { directoryUrl: 'http://127.0.0.1:9/api', allowPrivateEndpoints: true }, port: proxy.port })
    expect(again.port).toBe(proxy.port)
    await again.close()
  })

  it('lets an in-flight chat finish when closed, then refuses new connections', async () => {
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
        return { choices: [{ index: 0, message: { role: 'assistant', content: 'finished late' }, finish_reason: 'stop' }] }
      },
    })
    await node.serve()
    const proxy = await startProxy({ client: { directoryUrl: dir.apiUrl, allowPrivateEndpoints: true }, port: 0 })
    try {
      const pending = openai(proxy).chat.completions.create({ model: 'slow-1', messages: [{ role: 'user', content: 'take your time' }] })
      await inHandler
      const closing = proxy.close()
      release()
      const res = await pending
      expect(res.choices[0]?.message.content).toBe('finished late')
      await closing
      await expect(request(`${proxy.url}/v1/models`)).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    } finally {
      release()
      await proxy.close()
      await node.close()
      await dir.close()
    }
  })
})
