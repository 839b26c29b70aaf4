/**
 * submit() reads the common success answer without zod (task-response.ts) and must still accept and return exactly
 * what the protocol's TaskResponseSchema does: over real HTTP to a real node, every envelope drawn from a grid of
 * valid and invalid field values succeeds iff the schema accepts it as a success, and the result, model and metrics
 * the caller gets equal the schema's output. Aliased statuses, extension fields and off-schema values keep working.
 */
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TaskResponseSchema, isIicpError } from '@iicp/protocol'
import type { IicpError } from '@iicp/protocol'
import { IicpClient } from '../src/index.js'
import type { TaskResult } from '../src/index.js'
import { startTestNode } from './support/test-node.js'
import type { TestNode } from './support/test-node.js'

const CHAT = 'urn:iicp:intent:llm:chat:v1'
let node: TestNode
let client: IicpClient
beforeAll(async () => {
  node = await startTestNode()
  client = new IicpClient({ allowPrivateEndpoints: true, allowPlaintext: true, maxAttempts: 1, sleep: async () => {} })
})
afterAll(async () => {
  await client.close()
  await node.close()
})

/** Send one task whose node answers `envelope` (with the task's own id unless the envelope names one). */
async function answer(envelope: Record<string, unknown>): Promise<{ ok: true; r: TaskResult } | { ok: false; code: string }> {
  const taskId = randomUUID()
  node.push({ kind: 'status', status: 200, body: { task_id: taskId, ...envelope } })
  try {
    // A node id per task: the off-schema answers count as node failures, and no breaker may open between runs.
    return { ok: true, r: await client.submit(CHAT, { messages: [] }, { node: node.summary({ node_id: `n-${taskId}` }), taskId }) }
  } catch (err) {
    expect(isIicpError(err)).toBe(true)
    // With one attempt a retryable failure ends as no_available_node; the attempt carries the node's own code.
    const attempts = ((err as IicpError).extra?.attempts ?? []) as { code: string }[]
    return { ok: false, code: attempts[0]?.code ?? (err as IicpError).code }
  }
}

describe('reading a success answer', () => {
  it('returns the result, model and metrics of a plain success envelope', async () => {
    const a = await answer({ status: 'success', result: { text: 'hi' }, error: null, metrics: { latency_ms: 1.5, tokens_used: 3 }, model_used: 'echo-1', generated_by_ai: true, node_id: 'n-1' })
    expect(a.ok).toBe(true)
    if (!a.ok) return
    expect(a.r.result).toEqual({ text: 'hi' })
    expect(a.r.modelUsed).toBe('echo-1')
    expect(a.r.metrics).toEqual({ latency_ms: 1.5, tokens_used: 3 })
  })

  it('still maps the completed and ok aliases to success, as the schema does', async () => {
    for (const status of ['completed', 'ok']) {
      const a = await answer({ status, result: 'done' })
      expect(a.ok && a.r.result).toBe('done')
    }
  })

  it('accepts extension fields the schema allows (billing, trace, unknown keys)', async () => {
    const a = await answer({ status: 'success', result: 1, billing: { credits: 2 }, trace: { span: 'x' }, x_vendor: [1] })
    expect(a.ok && a.r.result).toBe(1)
  })

  it('refuses off-schema fields as invalid_response', async () => {
    const bad: Record<string, unknown>[] = [
      { metrics: { latency_ms: -1 } },
      { metrics: { tokens_used: 1.5 } },
      { metrics: { tokens_used: 2 ** 60 } },
      { metrics: [] },
      { model_used: 7 },
      { generated_by_ai: 'yes' },
      { node_id: 5 },
      { task_id: 5 },
    ]
    for (const fields of bad) {
      const a = await answer({ status: 'success', result: 'x', ...fields })
      expect(a).toEqual({ ok: false, code: 'invalid_response' })
    }
  })
})

// A valid envelope (optional keys left out at random), then often exactly one field set to a value the schema
// refuses, so each refusal is met beside otherwise valid fields. Every value is a JSON-safe constant.
const valid = fc.record({
  status: fc.constantFrom('success', 'success', 'success', 'completed', 'ok', 'error', 'timeout'),
  result: fc.constantFrom('hi', 42, null, { text: 'hi' }, [1, 2]),
  error: fc.constantFrom(null, { code: 'backend_error', message: 'x' }, 'oops'),
  error_code: fc.constantFrom('task_timeout', null),
  metrics: fc.constantFrom(null, {}, { latency_ms: 0 }, { latency_ms: 1.5, tokens_used: 3 }, { tokens_used: 2 ** 53 - 1 }, { latency_ms: 1, extra: true }),
  model_used: fc.constantFrom('echo-1', null),
  generated_by_ai: fc.constantFrom(true, false),
  node_id: fc.constant('n-1'),
}, { requiredKeys: ['status'] })
// Extension fields (which the schema passes through) now and then; without them the envelope takes the fast path.
const extension = fc.option(fc.constantFrom<Record<string, unknown>>({ billing: { credits: 1 } }, { trace: { a: 1 } }, { x_vendor: 'x' }), { freq: 4 })
const refused = fc.constantFrom<[string, unknown]>(
  ['metrics', []], ['metrics', 'm'], ['metrics', { latency_ms: -1 }], ['metrics', { latency_ms: 'fast' }], ['metrics', { tokens_used: 1.5 }],
  ['metrics', { tokens_used: -2 }], ['metrics', { tokens_used: 2 ** 53 }], ['metrics', { tokens_used: '3' }], ['model_used', 7],
  ['generated_by_ai', 'yes'], ['node_id', 5], ['billing', null], ['task_id', 5], ['status', 'weird'],
)
const envelopes = fc.tuple(valid, extension, fc.option(refused, { freq: 2 }))
  .map(([v, ext, bad]): Record<string, unknown> => ({ ...v, ...ext, ...(bad ? { [bad[0]]: bad[1] } : {}) }))

describe('the fast path agrees with TaskResponseSchema', () => {
  // Many real round trips: about a second on an idle machine, so the 20 s default is short on a heavily loaded machine.
  it('succeeds exactly when the schema accepts a success, and returns the schema\'s fields', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(envelopes, async (envelope) => {
        const a = await answer(envelope)
        const parsed = TaskResponseSchema.safeParse(JSON.parse(JSON.stringify({ task_id: randomUUID(), ...envelope })))
        if (!parsed.success) {
          expect(a).toEqual({ ok: false, code: 'invalid_response' })
          return
        }
        // A success without a result that carries an error code is that node error (reference-implementations §5.3).
        const d = parsed.data as Record<string, unknown> & typeof parsed.data
        const nested = typeof d.error === 'object' && d.error !== null ? (d.error as { code?: unknown }).code : undefined
        const hidden = d.status === 'success' && (d.result === undefined || d.result === null) ? (d.error_code ?? nested ?? undefined) : undefined
        if (hidden !== undefined) {
          expect(a).toEqual({ ok: false, code: hidden })
          return
        }
        expect(a.ok).toBe(parsed.data.status === 'success')
        if (!a.ok) return
        expect(a.r.result).toEqual(parsed.data.result)
        expect(a.r.modelUsed).toBe(parsed.data.model_used ?? undefined)
        expect(a.r.metrics).toEqual(parsed.data.metrics ?? undefined)
      }),
      { numRuns: 200 },
    )
  })
})
