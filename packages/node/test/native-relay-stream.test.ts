/**
 * What this proves: a node behind a relay streams too. A worker node (no listening port) bound to a relay node's
 * native TCP accept port answers a streamed task with lifecycle frames from its async-iterable handler
 * (node.streamTask as the worker's handleStream), and a consumer reading the relay's server-sent events receives each
 * chunk before the handler produces the next, then the completed event with the assembled result. The same holds for
 * IicpClient.chatStream() routed to that worker: OpenAI chunks arrive one by one through the relay.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { request } from 'undici'
import { IicpClient } from '@iicp/client'
import { IicpNode, echo } from '../src/index.js'
import type { NodeOptions, RelayBoundEvent } from '../src/index.js'
import { directory } from './support/directory.js'
import { ManualTimers } from './support/manual-timers.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function node(opts: Partial<NodeOptions>): IicpNode {
  const n = new IicpNode({ host: '127.0.0.1', port: 0, persistState: false, cx: false, timers: new ManualTimers(), ...opts } as NodeOptions)
  cleanup.push(() => n.close())
  return n
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void
  const wait = new Promise<void>((resolve) => { open = resolve })
  return { wait, open }
}

describe('streaming through a native TCP relay', () => {
  it('delivers a worker handler chunk by chunk to a consumer reading server-sent events from the relay', async () => {
    const d = await directory()
    cleanup.push(() => d.close())
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: 0, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const gates = [gate(), gate(), gate()]
    const worker = node({
      directoryUrl: d.apiUrl, listen: false, relay: { transport: 'tcp' },
      capabilities: [{ intent: CHAT, models: ['worker-model'] }],
      handler: async function* () {
        for (const [i, word] of ['one', ' two', ' three'].entries()) {
          yield { delta: word }
          await gates[i]?.wait
        }
      },
    })
    const bound = new Promise<RelayBoundEvent>((resolve) => worker.once('relay_bound', resolve))
    await worker.serve()
    const e = await bound
    expect(e.transport).toBe('tcp')

    const res = await request(`${e.endpoint}/v1/task`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ task_id: randomUUID(), intent: CHAT, payload: { messages: [{ role: 'user', content: 'count' }] } }),
    })
    expect(res.statusCode).toBe(200)
    expect(String(res.headers['content-type'])).toMatch(/^text\/event-stream/)
    const events: Array<{ event: string; data: Record<string, unknown> }> = []
    let buffer = ''
    let opened = 0
    for await (const chunk of res.body) {
      buffer += (chunk as Buffer).toString('utf8')
      let cut
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut)
        buffer = buffer.slice(cut + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message'
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (data === undefined) continue
        events.push({ event, data: JSON.parse(data) as Record<string, unknown> })
        // The next chunk exists only after this one arrived: chunk-by-chunk delivery, not a buffered replay.
        if (event === 'partial') gates[opened++]?.open()
      }
    }
    expect(events.map((x) => x.event)).toEqual(['partial', 'partial', 'partial', 'completed'])
    expect(events.slice(0, 3).map((x) => x.data.result)).toEqual([{ delta: 'one' }, { delta: ' two' }, { delta: ' three' }])
    expect(events[3]?.data).toMatchObject({ is_final: true, result: { object: 'chat.completion', choices: [{ message: { content: 'one two three' } }] } })
  })

  it('gives chatStream() the chunks one by one when the route goes through the relay', async () => {
    const d = await directory()
    cleanup.push(() => d.close())
    const relay = node({ directoryUrl: d.apiUrl, relayCapable: true, relayAcceptPort: 0, backend: echo({ models: ['relay-model'] }) })
    await relay.serve()
    const gates = [gate(), gate()]
    const worker = node({
      directoryUrl: d.apiUrl, listen: false, relay: { transport: 'tcp' },
      capabilities: [{ intent: CHAT, models: ['worker-model'] }],
      handler: async function* () {
        for (const [i, word] of ['relayed', ' words'].entries()) {
          yield { delta: word }
          await gates[i]?.wait
        }
      },
    })
    const bound = new Promise<RelayBoundEvent>((resolve) => worker.once('relay_bound', resolve))
    await worker.serve()
    await bound
    const client = new IicpClient({ directoryUrl: d.apiUrl, allowPrivateEndpoints: true, allowPlaintext: true, routeDiscovery: 'legacy', routeCacheMs: 0 })
    cleanup.push(() => client.close())
    const got: string[] = []
    let last
    for await (const chunk of client.chatStream([{ role: 'user', content: 'go' }], { model: 'worker-model' })) {
      const content = chunk.choices[0]?.delta.content
      if (content !== undefined) {
        got.push(content)
        gates[got.length - 1]?.open()
      }
      last = chunk
    }
    expect(got).toEqual(['relayed', ' words'])
    expect(last).toMatchObject({ choices: [{ finish_reason: 'stop' }], iicp: { node_id: worker.nodeId, route: 'relay', transport: 'http' } })
  })
})
