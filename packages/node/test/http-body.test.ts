/**
 * What this proves: the node's body reader over a real socket — a client that hangs up mid-body gets no answer,
 * never reaches the handler, raises no error in the node's process, and the node goes on serving; a body that
 * arrives in several packets is put together before the handler sees it.
 */
import { connect } from 'node:net'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { IicpNode } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { CHAT, call, chatTask } from './support/http.js'

const nodes: IicpNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})

async function start(handled: unknown[]): Promise<IicpNode> {
  const node = new IicpNode({
    directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false,
    capabilities: [{ intent: CHAT, models: ['m1'] }],
    handler: (task) => {
      handled.push(task.payload)
      return { text: 'ok' }
    },
  } as NodeOptions)
  nodes.push(node)
  await node.serve()
  return node
}

describe('reading a task body', () => {
  it('gives a client that hangs up mid-body no answer and no handler run, and keeps serving', async () => {
    const handled: unknown[] = []
    const node = await start(handled)
    const body = JSON.stringify(chatTask())
    const socket = connect({ port: node.port as number, host: '127.0.0.1' })
    await once(socket, 'connect')
    const received: Buffer[] = []
    socket.on('data', (c: Buffer) => received.push(c))
    socket.write(`POST /v1/task HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 20)}`)
    // Another task is served meanwhile: the half-sent one holds nothing up.
    const probe = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(probe.status).toBe(200)
    socket.destroy()
    await once(socket, 'close')
    const after = await call(`${node.url}/v1/task`, { body: chatTask() })
    expect(after.status).toBe(200)
    expect(received).toHaveLength(0)
    expect(handled).toHaveLength(2)
  })

  it('puts together a body that arrives in several packets', async () => {
    const handled: unknown[] = []
    const node = await start(handled)
    const task = chatTask()
    const body = JSON.stringify(task)
    const socket = connect({ port: node.port as number, host: '127.0.0.1', noDelay: true })
    await once(socket, 'connect')
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (c: string) => { text += c })
    socket.write(`POST /v1/task HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`)
    for (let i = 0; i < body.length; i += 16) {
      socket.write(body.slice(i, i + 16))
      // Yield to the loop so the pieces leave as separate writes.
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    await once(socket, 'close')
    expect(text.startsWith('HTTP/1.1 200')).toBe(true)
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ task_id: task.task_id, status: 'success' })
    expect(handled).toEqual([task.payload])
  })
})
