/**
 * What this proves, over real HTTP on 127.0.0.1: a long-poll worker bound to a relay of this package posts every
 * result over one pipelined keep-alive connection (sixteen tasks in flight, one result socket, every consumer
 * answered with its own result); a result post whose connection drops under it is posted again on a fresh
 * connection, so the consumer still gets its answer instead of the relay's timeout. (A reference relay, which offers
 * no raw results, keeps getting plain posts: worker-reference-relay.test.ts.)
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createRelayWorker, startRelayServer } from '@iicp/relay'
import type { RelayTaskHandler, RelayWorker, StartedRelayServer } from '@iicp/relay'
import { post, task } from './consumer.js'

const echo: RelayTaskHandler = async (body) => {
  const t = JSON.parse(body.toString('utf8')) as { task_id: string; payload: { messages: Array<{ content: string }> } }
  return { status: 200, headers: { 'content-type': 'application/json' }, body: { task_id: t.task_id, echo: t.payload.messages[0]?.content } }
}

let relay: StartedRelayServer | undefined
let worker: RelayWorker | undefined
afterEach(async () => {
  await worker?.close()
  await relay?.close()
  worker = undefined
  relay = undefined
})

/**
 * A relay whose HTTP server reports each result post's socket to `onResult`; returning true there drops the
 * connection instead of letting the relay see the post.
 */
async function observedRelay(onResult: (socket: Socket) => boolean): Promise<{ relay: StartedRelayServer; worker: RelayWorker }> {
  relay = await startRelayServer({ allowUnsignedBinds: true })
  const listeners = relay.server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  relay.server.removeAllListeners('request')
  relay.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/v1/relay/result' && onResult(req.socket)) {
      req.socket.destroy()
      return
    }
    for (const l of listeners) l(req, res)
  })
  worker = createRelayWorker({ relayUrl: relay.url, workerId: 'lp-worker', transport: 'http', handleTask: echo })
  await worker.start()
  return { relay, worker }
}

describe('long-poll result posts', () => {
  it('travel over one pipelined connection with sixteen tasks in flight, each consumer getting its own answer', async () => {
    const sockets = new Set<Socket>()
    const { worker: w } = await observedRelay((socket) => {
      sockets.add(socket)
      return false
    })
    const tasks = Array.from({ length: 16 }, (_, i) => task(`task ${i}`))
    const answers = await Promise.all(tasks.map((t) => post(`${w.relayEndpoint}/v1/task`, t)))
    expect(answers.map((a) => a.status)).toEqual(tasks.map(() => 200))
    expect(answers.map((a) => a.json)).toEqual(tasks.map((t, i) => ({ task_id: t.task_id, echo: `task ${i}` })))
    expect(sockets.size).toBe(1)
  })

  it('are posted again on a fresh connection when the first one drops under the post', async () => {
    const sockets = new Set<Socket>()
    let dropped = 0
    const { worker: w } = await observedRelay((socket) => {
      sockets.add(socket)
      return dropped++ === 0
    })
    const t = task('retried')
    const answer = await post(`${w.relayEndpoint}/v1/task`, t)
    expect(answer.status).toBe(200)
    expect(answer.json).toEqual({ task_id: t.task_id, echo: 'retried' })
    expect(dropped).toBe(2)
    expect(sockets.size).toBe(2)
  })
})
