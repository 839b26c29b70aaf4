/**
 * What this proves, over real HTTP on loopback: the node reads a task body as JSON when its Content-Type says
 * JSON in any spelling (`application/json; charset=utf-8`, any case, extra parameters, a `+json` type) or when
 * the header is missing, and refuses any other media type or a non-UTF-8 charset with a JSON 415
 * `unsupported_media_type` before the handler runs. A client that half-closes its side right after the request
 * (FIN after the body) still gets its answer, both through the single-port front listener and on a plain HTTP
 * listener, and the connection is closed after that answer.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import type { Server } from 'node:http'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { IicpNode } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { isJsonMediaType } from '../src/http/server.js'
import { CHAT, call, chatTask } from './support/http.js'

const nodes: IicpNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})

async function start(handled: unknown[], extra: Partial<NodeOptions> = {}, gate?: Promise<void>): Promise<IicpNode> {
  const node = new IicpNode({
    directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false,
    capabilities: [{ intent: CHAT, models: ['m1'] }],
    handler: async (task) => {
      handled.push(task.payload)
      await gate
      return { text: 'ok' }
    },
    ...extra,
  } as NodeOptions)
  nodes.push(node)
  await node.serve()
  return node
}

/** A promise that settles once the node's side of an HTTP connection has read the client's FIN. */
function finRead(node: IicpNode): Promise<void> {
  const http = (node as unknown as { server: Server }).server
  return new Promise((resolve) => http.on('connection', (socket: Socket) => socket.once('end', () => resolve())))
}

/** Send one raw request, half-close right after it, and collect everything until the node closes. */
async function halfClosed(port: number, raw: string): Promise<string> {
  const socket = connect({ port, host: '127.0.0.1' })
  await once(socket, 'connect')
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (c: string) => { text += c })
  socket.end(raw)
  await once(socket, 'close')
  return text
}

describe('the task body media type', () => {
  it.each([
    'application/json',
    'application/json; charset=utf-8',
    'Application/JSON; Charset=UTF-8',
    'application/json;charset="utf-8"; profile=iicp',
    'application/json ; charset=UTF8',
    'application/vnd.iicp.task+json',
  ])('accepts %s', async (contentType) => {
    const handled: unknown[] = []
    const node = await start(handled)
    const task = chatTask()
    const res = await call(`${node.url}/v1/task`, { body: task, headers: { 'content-type': contentType } })
    expect(res.status).toBe(200)
    expect(res.json).toMatchObject({ task_id: task.task_id, status: 'success' })
    expect(handled).toEqual([task.payload])
  })

  it('accepts a body sent without any Content-Type, as the reference node does', async () => {
    const handled: unknown[] = []
    const node = await start(handled)
    const task = chatTask()
    const body = JSON.stringify(task)
    const text = await halfClosed(node.port as number,
      `POST /v1/task HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    expect(text.startsWith('HTTP/1.1 200 ')).toBe(true)
    expect(handled).toEqual([task.payload])
  })

  it.each([
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/jsonp',
    'application/json-patch',
    'text/json',
    'application/json; charset=iso-8859-1',
  ])('refuses %s with a JSON 415 unsupported_media_type and never runs the handler', async (contentType) => {
    const handled: unknown[] = []
    const node = await start(handled)
    const res = await call(`${node.url}/v1/task`, { body: chatTask(), headers: { 'content-type': contentType } })
    expect(res.status).toBe(415)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(res.json).toEqual({ error: { code: 'unsupported_media_type', message: 'Content-Type must be application/json (UTF-8)' } })
    expect(handled).toEqual([])
    // The refusal does not poison the node: a JSON task right after is served.
    expect((await call(`${node.url}/v1/task`, { body: chatTask() })).status).toBe(200)
  })

  it('decides by parsing the header, not by looking for a substring', () => {
    expect(isJsonMediaType(undefined)).toBe(true)
    expect(isJsonMediaType('')).toBe(true)
    expect(isJsonMediaType('application/json;charset=utf-8;x="a;b"')).toBe(true)
    expect(isJsonMediaType('text/plain; note=application/json')).toBe(false)
    expect(isJsonMediaType('application/+json')).toBe(false)
    expect(isJsonMediaType('; charset=utf-8')).toBe(false)
  })
})

describe('a client that half-closes after its request', () => {
  it.each([
    ['through the single-port front listener', {}],
    ['on a plain HTTP listener (native frames off)', { native: false }],
  ] as const)('still gets its answer %s, and the node then closes the connection', async (_where, extra) => {
    const handled: unknown[] = []
    let release: () => void = () => {}
    // The task only finishes after the node has read the FIN, so the answer must go out on a half-closed socket.
    const node = await start(handled, extra, new Promise<void>((resolve) => { release = resolve }))
    void finRead(node).then(release)
    const task = chatTask()
    const body = JSON.stringify(task)
    const text = await halfClosed(node.port as number,
      `POST /v1/task HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
    expect(text.startsWith('HTTP/1.1 200 ')).toBe(true)
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ task_id: task.task_id, status: 'success' })
    expect(handled).toEqual([task.payload])
  })
})
