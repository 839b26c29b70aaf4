/**
 * What this proves, over real HTTP on 127.0.0.1: a long-poll worker bound to a relay of this package posts the
 * results that finish while no pull is leaving (slow handlers) over one pipelined keep-alive connection (sixteen
 * tasks finishing one a turn, one result socket, every consumer answered with its own result); a result post whose
 * connection drops under it is posted again on a fresh connection, so the consumer still gets its answer instead of
 * the relay's timeout. (Results that finish in time ride on the next pull: long-poll-frames.test.ts. A reference
 * relay, which offers no raw results, keeps getting plain posts: worker-reference-relay.test.ts.)
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createRelayWorker, startRelayServer } from '@iicp/relay'
import type { RelayTaskHandler, RelayWorker, StartedRelayServer } from '@iicp/relay'
import { post, task } from './consumer.js'

/**
 * An echo handler that answers only when released. `settled()` resolves once `count` calls run and the pulls that
 * brought them have gone out again (empty), so released answers have no pull to ride on and are posted.
 */
function heldEcho(count: number, pulls: () => number): { handle: RelayTaskHandler; settled: () => Promise<Array<() => void>> } {
  const releases: Array<() => void> = []
  let pullsAtLast = 0
  let allRunning: () => void = () => undefined
  const running = new Promise<void>((r) => (allRunning = r))
  const handle: RelayTaskHandler = (body) => new Promise((resolve) => {
    const t = JSON.parse(body.toString('utf8')) as { task_id: string; payload: { messages: Array<{ content: string }> } }
    releases.push(() => resolve({ status: 200, headers: { 'content-type': 'application/json' }, body: { task_id: t.task_id, echo: t.payload.messages[0]?.content } }))
    if (releases.length === count) {
      pullsAtLast = pulls()
      allRunning()
    }
  })
  const settled = async (): Promise<Array<() => void>> => {
    await running
    await expect.poll(pulls, { timeout: 15_000 }).toBeGreaterThan(pullsAtLast)
    return releases
  }
  return { handle, settled }
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
 * connection instead of letting the relay see the post. The worker runs `heldEcho(count)`.
 */
async function observedRelay(count: number, onResult: (socket: Socket) => boolean): Promise<{ worker: RelayWorker; settled: () => Promise<Array<() => void>> }> {
  relay = await startRelayServer({ allowUnsignedBinds: true })
  let pulls = 0
  const listeners = relay.server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  relay.server.removeAllListeners('request')
  relay.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/v1/relay/pull') === true) pulls++
    if (req.url === '/v1/relay/result' && onResult(req.socket)) {
      req.socket.destroy()
      return
    }
    for (const l of listeners) l(req, res)
  })
  const held = heldEcho(count, () => pulls)
  worker = createRelayWorker({ relayUrl: relay.url, workerId: 'lp-worker', transport: 'http', handleTask: held.handle })
  await worker.start()
  return { worker, settled: held.settled }
}

describe('long-poll result posts', () => {
  it('travel over one pipelined connection with sixteen tasks in flight, each consumer getting its own answer', async () => {
    const sockets = new Set<Socket>()
    let posts = 0
    const { worker: w, settled } = await observedRelay(16, (socket) => {
      sockets.add(socket)
      posts++
      return false
    })
    const tasks = Array.from({ length: 16 }, (_, i) => task(`task ${i}`))
    const pending = Promise.all(tasks.map((t) => post(`${w.relayEndpoint}/v1/task`, t)))
    // One answer a turn: each is posted on its own.
    for (const release of await settled()) {
      release()
      await new Promise((r) => setImmediate(r))
    }
    const answers = await pending
    expect(answers.map((a) => a.status)).toEqual(tasks.map(() => 200))
    expect(answers.map((a) => a.json)).toEqual(tasks.map((t, i) => ({ task_id: t.task_id, echo: `task ${i}` })))
    expect(posts).toBeGreaterThan(1)
    expect(sockets.size).toBe(1)
  })

  it('are posted again on a fresh connection when the first one drops under the post', async () => {
    const sockets = new Set<Socket>()
    let dropped = 0
    const { worker: w, settled } = await observedRelay(1, (socket) => {
      sockets.add(socket)
      return dropped++ === 0
    })
    const t = task('retried')
    const pending = post(`${w.relayEndpoint}/v1/task`, t)
    for (const release of await settled()) release()
    const answer = await pending
    expect(answer.status).toBe(200)
    expect(answer.json).toEqual({ task_id: t.task_id, echo: 'retried' })
    expect(dropped).toBe(2)
    expect(sockets.size).toBe(2)
  })
})
