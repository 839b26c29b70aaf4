/**
 * What this proves: the single-port front listener, which accepts HTTP connections on node:http's behalf,
 * sets up each connection as node:http's own listener would (Nagle off), so a small reply is never held in
 * the kernel waiting for the previous segment's ACK; and keep-alive HTTP through it still answers in order.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions } from '../src/index.js'
import { call, chatTask } from './support/http.js'

const nodes: IicpNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})

describe('the single-port front listener', () => {
  it('turns Nagle off on the connections it accepts, as node:http does on its own', async () => {
    const node = new IicpNode({ directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, backend: echo() } as NodeOptions)
    nodes.push(node)
    await node.serve()
    const front = (node as unknown as { front: { server: Server & { noDelay?: boolean } } | undefined }).front
    expect(front).toBeDefined()
    const plainHttp = createServer() as Server & { noDelay?: boolean }
    expect(plainHttp.noDelay).toBe(true)
    expect(front?.server.noDelay).toBe(plainHttp.noDelay)
    for (let i = 0; i < 3; i++) {
      const task = chatTask()
      const res = await call(`${node.url}/v1/task`, { body: task })
      expect(res.status).toBe(200)
      expect(res.json).toMatchObject({ task_id: task.task_id, status: 'success' })
    }
  })
})
