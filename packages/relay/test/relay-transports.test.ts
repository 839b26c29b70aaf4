// Proves, for each worker transport (WebSocket and HTTP long-poll), that a consumer's POST to the relay's
// path-scoped endpoint reaches a worker that has no listening port, that the worker node's answer (status,
// headers, body) comes back unchanged, that calls are multiplexed by call id, and that unbinding ends the route.
import { afterEach, describe, expect, it } from 'vitest'
import { IicpError } from '@iicp/protocol'
import { createRelayWorker, startRelayServer } from '@iicp/relay'
import type { RelaySessionEvent, RelayTaskHandler, RelayWorker, StartedRelayServer } from '@iicp/relay'
import { get, post, task } from './consumer.js'

const echo: RelayTaskHandler = async (body, headers) => {
  const t = JSON.parse(body.toString('utf8')) as { task_id: string; payload: { messages: Array<{ content: string }> } }
  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-seen-traceparent': headers.traceparent ?? 'none' },
    body: { task_id: t.task_id, status: 'success', result: { echo: t.payload.messages[0]?.content } },
  }
}

for (const transport of ['ws', 'http'] as const) {
  describe(`relay over ${transport === 'ws' ? 'WebSocket' : 'HTTP long-poll'}`, () => {
    let relay: StartedRelayServer | undefined
    let worker: RelayWorker | undefined

    afterEach(async () => {
      await worker?.close()
      await relay?.close()
      worker = undefined
      relay = undefined
    })

    async function setup(handleTask: RelayTaskHandler = echo): Promise<{ relay: StartedRelayServer; worker: RelayWorker }> {
      relay = await startRelayServer({ allowUnsignedBinds: true })
      worker = createRelayWorker({
        relayUrl: relay.url, workerId: 'worker-1', intent: 'urn:iicp:intent:llm:chat:v1', models: ['echo-1'], transport, handleTask,
      })
      await worker.start()
      return { relay, worker }
    }

    it('delivers a consumer task to the worker and returns its answer unchanged', async () => {
      const { worker: w } = await setup()
      expect(w.state).toBe('bound')
      expect(w.transport).toBe(transport)
      const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
      const t = task('hello via relay')
      const res = await post(`${w.relayEndpoint}/v1/task`, t, { traceparent: tp })
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toBe('application/json')
      expect(res.headers['x-seen-traceparent']).toBe(tp)
      expect(res.headers['access-control-allow-origin']).toBe('*')
      expect(res.json).toEqual({ task_id: t.task_id, status: 'success', result: { echo: 'hello via relay' } })
    })

    it('registers the path-scoped endpoint under the relay URL', async () => {
      const { relay: r, worker: w } = await setup()
      expect(w.relayEndpoint).toBe(`${r.url}/v1/relay-for/worker-1`)
      expect(w.relayUrl).toBe(r.url)
    })

    it('passes a non-200 answer and its headers through to the consumer', async () => {
      await setup(async () => ({
        status: 429,
        headers: { 'content-type': 'application/json', 'retry-after': '2' },
        body: { error: { code: 'capacity_exceeded', message: 'Node at capacity', retry_after_ms: 2000 } },
      }))
      const res = await post(`${worker?.relayEndpoint}/v1/task`, task('busy?'))
      expect(res.status).toBe(429)
      expect(res.headers['retry-after']).toBe('2')
      expect(res.json).toEqual({ error: { code: 'capacity_exceeded', message: 'Node at capacity', retry_after_ms: 2000 } })
    })

    it('turns a throwing handler into a JSON error with the code and status, never a stack', async () => {
      await setup(async () => {
        throw new IicpError('unknown_intent', 'Intent not served by this node')
      })
      const res = await post(`${worker?.relayEndpoint}/v1/task`, task('x'))
      expect(res.status).toBe(422)
      expect(res.json).toEqual({ error: { code: 'unknown_intent', message: 'Intent not served by this node' } })
    })

    it('hides the message of a handler error that is not an IicpError', async () => {
      await setup(async () => {
        throw new Error('secret path /home/op/key.pem')
      })
      const res = await post(`${worker?.relayEndpoint}/v1/task`, task('x'))
      expect(res.status).toBe(500)
      expect(res.json).toEqual({ error: { code: 'server_error', message: 'An internal error occurred' } })
      expect(res.text).not.toContain('secret')
    })

    it('keeps sixteen concurrent tasks apart by call id', async () => {
      await setup(async (body) => {
        const t = JSON.parse(body.toString('utf8')) as { task_id: string }
        // Answer out of order so a mix-up by arrival order would show.
        await new Promise((r) => setImmediate(r))
        return { status: 200, body: { task_id: t.task_id, status: 'success' } }
      })
      const ids = Array.from({ length: 16 }, () => crypto.randomUUID())
      const answers = await Promise.all(ids.map((id) => post(`${worker?.relayEndpoint}/v1/task`, task('n', id))))
      expect(answers.map((a) => a.status)).toEqual(ids.map(() => 200))
      expect(answers.map((a) => (a.json as { task_id: string }).task_id)).toEqual(ids)
    })

    it('answers relay-for health for the bound worker', async () => {
      const { worker: w } = await setup()
      const res = await get(`${w.relayEndpoint}/iicp/health`)
      expect(res.status).toBe(200)
      expect(res.json).toEqual({ status: 'ok', node_id: 'worker-1', via_relay: true, models: ['echo-1'], transport })
    })

    it('ends the route when the worker unbinds, after which consumers get 404 IICP-E030', async () => {
      const { relay: r, worker: w } = await setup()
      const unbound = new Promise<RelaySessionEvent>((resolve) => r.relay.once('unbound', resolve))
      await w.close()
      const event = await unbound
      expect(event).toMatchObject({ workerId: 'worker-1', transport })
      expect(r.relay.sessions.size).toBe(0)
      const res = await post(`${w.relayEndpoint}/v1/task`, task('anyone?'))
      expect(res.status).toBe(404)
      expect(res.json).toEqual({ error: { code: 'IICP-E030', message: 'no alive relay session for this worker' } })
    })
  })
}
