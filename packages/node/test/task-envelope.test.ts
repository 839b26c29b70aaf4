/**
 * What this proves: the success envelope the node writes as JSON by hand (wire.md §2.3) is, byte for byte,
 * what JSON.stringify gives for the envelope object — same keys, same order, same escaping — for any JSON
 * result a handler returns (fast-check), for results that do not serialize, with and without tokens,
 * `generated_by_ai` and a model; and that every reply over real HTTP carries the exact byte length of its body.
 */
import { afterEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { IicpError } from '@iicp/protocol'
import { IicpNode } from '../src/index.js'
import type { InnerResult, NodeOptions, TaskHandler } from '../src/index.js'
import { CHAT, call, chatTask } from './support/http.js'

const nodes: IicpNode[] = []
function node(handler: TaskHandler, opts: Partial<NodeOptions> = {}): IicpNode {
  const n = new IicpNode({
    directoryUrl: null, persistState: false, host: '127.0.0.1', port: 0, cx: false, recentTaskIds: 0,
    capabilities: [{ intent: CHAT, models: ['m1'] }], handler, ...opts,
  } as NodeOptions)
  nodes.push(n)
  return n
}
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})

/** The envelope JSON.stringify would write for this answer, with the reply's own latency and tokens. */
function stringified(n: IicpNode, taskId: string, result: unknown, body: string, modelUsed: string | null, generatedByAi: boolean): string {
  const metrics = (JSON.parse(body) as { metrics: Record<string, number> }).metrics
  const envelope: Record<string, unknown> = { task_id: taskId, status: 'success', result, metrics, model_used: modelUsed, error: null, node_id: n.nodeId }
  if (generatedByAi) envelope.generated_by_ai = true
  return JSON.stringify(envelope)
}

/** A result the node passes through untouched: not an envelope to unwrap, not the legacy error shape. */
function passesThrough(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return true
  return !Object.hasOwn(v, 'result') && !Object.hasOwn(v, 'error_code')
}

describe('the success envelope written as JSON', () => {
  it('is byte for byte JSON.stringify of the envelope object for any JSON result', async () => {
    let current: unknown = null
    const n = node(() => current as InnerResult)
    const task = chatTask()
    await fc.assert(fc.asyncProperty(fc.jsonValue().filter(passesThrough), async (value) => {
      current = value
      const reply = await n.handleTask(task)
      expect(reply.status).toBe(200)
      // JSON.parse(JSON.stringify(v)) is what a handler's value looks like once it has crossed the wire (-0 becomes 0).
      expect(reply.body).toBe(stringified(n, task.task_id as string, value, reply.body, 'm1', true))
    }), { numRuns: 300 })
  })

  it('writes the model the result names, the tokens it used, and no generated_by_ai when that is turned off', async () => {
    const result = { model: 'm1-large', text: 'caf\u00e9 \u2028 "quoted" \\ \u0000', usage: { total_tokens: 12 } }
    const n = node(() => result, { generatedByAi: false })
    const task = chatTask()
    const reply = await n.handleTask(task)
    expect(reply.body).toBe(stringified(n, task.task_id as string, result, reply.body, 'm1-large', false))
    expect((JSON.parse(reply.body) as { metrics: { tokens_used: number } }).metrics.tokens_used).toBe(12)
    expect(reply.body).not.toContain('generated_by_ai')
  })

  it('leaves out the result key, as JSON.stringify does, when the handler returns something that does not serialize', async () => {
    const fn = (): void => undefined
    const n = node(() => fn as unknown as InnerResult)
    const task = chatTask()
    const reply = await n.handleTask(task)
    expect(reply.status).toBe(200)
    expect(reply.body).toBe(stringified(n, task.task_id as string, fn, reply.body, 'm1', true))
    expect(JSON.parse(reply.body)).not.toHaveProperty('result')
  })

  it('names the node id the node has now, when registration changed it after the first task', async () => {
    const n = node(() => 'ok')
    const first = await n.handleTask(chatTask())
    expect(JSON.parse(first.body)).toMatchObject({ node_id: n.nodeId })
    const identity = (n as unknown as { identity: { nodeId: string } }).identity
    identity.nodeId = '0b4f2f8e-3c55-4b5e-9a51-5a0b6c7d8e9f'
    const second = await n.handleTask(chatTask())
    expect(JSON.parse(second.body)).toMatchObject({ node_id: '0b4f2f8e-3c55-4b5e-9a51-5a0b6c7d8e9f' })
  })
})

describe('reply framing over real HTTP', () => {
  it('sends the exact byte length of every body: a success with multi-byte text, an error, and one with Retry-After', async () => {
    let mode: 'ok' | 'fail' | 'busy' = 'ok'
    const n = node(() => {
      if (mode === 'fail') throw new IicpError('validation_error', 'no \u00fcmlauts here')
      if (mode === 'busy') throw new IicpError('rate_limited', 'slow down', { retryAfterMs: 2500 })
      return { text: 'h\u00e9llo \u{1F600}' }
    })
    await n.serve()
    for (const m of ['ok', 'fail', 'busy'] as const) {
      mode = m
      const res = await call(`${n.url}/v1/task`, { body: chatTask() })
      expect(res.headers['content-length']).toBe(String(Buffer.byteLength(res.text)))
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(res.headers['access-control-allow-origin']).toBe('*')
      if (m === 'ok') expect(res.status).toBe(200)
      else expect(res.json).toMatchObject({ error: { code: m === 'fail' ? 'validation_error' : 'rate_limited' } })
      if (m === 'busy') expect(res.headers['retry-after']).toBe('3')
      else expect(res.headers['retry-after']).toBeUndefined()
    }
  })
})
